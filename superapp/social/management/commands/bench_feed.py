"""Timeline benchmark (PostgreSQL + Redis).

1. Generate a social graph fast (bulk insert + COPY): N users, a power-law follower graph (each
   user follows ~F accounts drawn from a Zipf distribution, so a few accounts get 5k+ followers),
   mutual friendships, posts with mixed visibility.
2. Serve the app under gunicorn; measure ping (GET /healthz) and timeline reads (GET /api/v1/feed,
   warm Redis timelines, readers cycling through many users' tokens) with wrk in the same run; then
   the same reads with Redis switched off (database timeline) for comparison.
3. Time the fan-out of one post from an account with >= 5k followers (all of them with a cached
   timeline): the whole task, from loading the post to the last Redis write.

The generated rows are removed at the end (unless --keep). Last line: one JSON object.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime

import numpy as np
from django.conf import settings
from django.core.management import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from superapp import bench
from superapp.accounts.models import User
from superapp.social import timeline
from superapp.social.models import Post, PostKind, Visibility

PREFIX = "bench_feed_"
UNUSABLE = "!bench"  # noqa: S105 - an unusable password hash: bench users cannot log in
FANOUT_THRESHOLD = 8000  # the biggest account (~9k followers) is merged at read time; 5k-7k ones fan out


class Command(BaseCommand):
    help = "Benchmark timeline reads (ratio to ping, p99) and the fan-out of a 5k-follower post."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=10_000)
        parser.add_argument("--follows", type=int, default=20, help="Average accounts followed per user.")
        parser.add_argument("--posts", type=int, default=10, help="Average posts per user.")
        parser.add_argument("--readers", type=int, default=300, help="Distinct users whose timelines wrk reads.")
        parser.add_argument("--duration", type=int, default=12)
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--keep", action="store_true", help="Keep the generated graph afterwards.")
        parser.add_argument("--generate-only", action="store_true", help="Generate the graph, keep it, stop.")

    def handle(self, *args, users: int, follows: int, posts: int, readers: int, duration: int, connections: int,
               seed: int, keep: bool, generate_only: bool, **options):
        if not settings.USING_POSTGRES or not settings.REDIS_URL:
            raise CommandError("bench_feed needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")
        rng = np.random.default_rng(seed)
        self._cleanup()
        try:
            started = time.perf_counter()
            graph = self._generate(rng=rng, n_users=users, avg_follows=follows, avg_posts=posts)
            generate_s = time.perf_counter() - started
            self.stderr.write(f"generated {graph['users']} users, {graph['follows']} follows, "
                              f"{graph['friendships']} friendships, {graph['posts']} posts in {generate_s:.1f}s; "
                              f"top followers {graph['top_followers']}")
            if generate_only:
                keep = True
                return
            result = self._measure(rng=rng, user_ids=graph["user_ids"], readers=readers, duration=duration,
                                   connections=connections)
            result.update({"generate_s": round(generate_s, 2), "users": graph["users"], "follows": graph["follows"],
                           "posts": graph["posts"], "top_followers": graph["top_followers"][:5]})
        finally:
            if not keep:
                self._cleanup()
        bench.print_result(self.stdout, result)

    # --- generation -------------------------------------------------------------------------------------
    def _generate(self, *, rng, n_users: int, avg_follows: int, avg_posts: int) -> dict:
        now = timezone.now()
        with transaction.atomic():
            User.objects.bulk_create(
                [User(username=f"{PREFIX}{i:06d}", display_name=f"Bench {i}", password=UNUSABLE, is_imported=False)
                 for i in range(n_users)], batch_size=5000)
            user_ids = np.array(User.objects.filter(username__startswith=PREFIX).order_by("username")
                                .values_list("id", flat=True))
            self.stderr.write(f"  users: {len(user_ids)}")

            # Power law: accounts ranked in random order, drawn with p(rank r) ~ 1/r.
            ranked = rng.permutation(len(user_ids))
            weights = 1.0 / np.arange(1, len(user_ids) + 1)
            weights /= weights.sum()
            per_user = np.clip(rng.poisson(avg_follows, size=len(user_ids)), 1, None)
            draws = rng.choice(len(user_ids), size=int(per_user.sum()), p=weights)
            followers = np.repeat(np.arange(len(user_ids)), per_user)
            followees = ranked[draws]
            # Some follows are mutual friendships (both directions, both follow each other).
            friend_mask = rng.random(len(followers)) < 0.1
            pairs = np.concatenate([np.stack([followers, followees], axis=1),
                                    np.stack([followees[friend_mask], followers[friend_mask]], axis=1)])
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            pairs = np.unique(pairs, axis=0)
            friends = np.stack([followers[friend_mask], followees[friend_mask]], axis=1)
            friends = friends[friends[:, 0] != friends[:, 1]]
            friends = np.unique(np.concatenate([friends, friends[:, ::-1]]), axis=0)
            created = now.isoformat()
            with connection.cursor() as cursor:
                raw = cursor.cursor
                with raw.copy("COPY social_follow (follower_id, followee_id, created_at) FROM STDIN") as copy:
                    for a, b in pairs:
                        copy.write_row((int(user_ids[a]), int(user_ids[b]), created))
                with raw.copy("COPY social_friendship (user_id, friend_id, created_at) FROM STDIN") as copy:
                    for a, b in friends:
                        copy.write_row((int(user_ids[a]), int(user_ids[b]), created))
                self.stderr.write(f"  follows: {len(pairs)}, friendship rows: {len(friends)}")

                # Posts, oldest first so ids follow time; activity is skewed too.
                n_posts = rng.poisson(avg_posts, size=len(user_ids))
                authors = rng.permutation(np.repeat(user_ids, n_posts))
                visibility = rng.choice([Visibility.PUBLIC, Visibility.FRIENDS, Visibility.ONLY_ME], size=len(authors),
                                        p=[0.8, 0.15, 0.05])
                start = now.timestamp() - 30 * 86400
                step = 30 * 86400 / max(len(authors), 1)
                with raw.copy("COPY social_post (author_id, kind, text, photos, visibility, is_hidden, like_count, "
                              "comment_count, created_at, updated_at) FROM STDIN") as copy:
                    for i, (author, vis) in enumerate(zip(authors, visibility, strict=True)):
                        at = datetime.fromtimestamp(start + i * step, tz=UTC).isoformat()
                        copy.write_row((int(author), PostKind.POST, f"bench post {i}", "[]", str(vis), False, 0, 0,
                                        at, at))
                self.stderr.write(f"  posts: {len(authors)}")
                # Counters, as the services keep them.
                cursor.execute(
                    """
                    INSERT INTO social_socialstats (user_id, followers_count, following_count, friends_count,
                                                    posts_count)
                    SELECT u.id,
                           (SELECT count(*) FROM social_follow f WHERE f.followee_id = u.id),
                           (SELECT count(*) FROM social_follow f WHERE f.follower_id = u.id),
                           (SELECT count(*) FROM social_friendship f WHERE f.user_id = u.id),
                           (SELECT count(*) FROM social_post p WHERE p.author_id = u.id)
                    FROM accounts_user u WHERE u.username LIKE %s
                    """, [PREFIX + "%"])
                cursor.execute("ANALYZE social_follow; ANALYZE social_post; ANALYZE social_friendship; "
                               "ANALYZE social_socialstats; ANALYZE accounts_user")
        top = sorted(np.bincount(pairs[:, 1], minlength=len(user_ids)).tolist(), reverse=True)
        return {"user_ids": user_ids, "users": len(user_ids), "follows": len(pairs), "friendships": len(friends) // 2,
                "posts": len(authors), "top_followers": top[:10]}

    # --- measurement -------------------------------------------------------------------------------------
    def _measure(self, *, rng, user_ids, readers: int, duration: int, connections: int) -> dict:
        reader_ids = [int(i) for i in rng.choice(user_ids, size=min(readers, len(user_ids)), replace=False)]
        started = time.perf_counter()
        with self.settings_threshold():
            for n, user_id in enumerate(reader_ids, 1):
                timeline.timeline_rebuild(user_id=user_id)
                if n % 100 == 0:
                    self.stderr.write(f"  warmed {n}/{len(reader_ids)} timelines")
        self.stderr.write(f"  warm-up {time.perf_counter() - started:.1f}s")
        # Tokens of the real rows: the access token carries a claim derived from the stored password hash, which
        # the authentication checks (a token made from a bare `User(pk=...)` is refused with 401).
        readers = User.objects.in_bulk(reader_ids)
        tokens = [str(AccessToken.for_user(readers[user_id])) for user_id in reader_ids]
        lua = bench.wrk_script(paths=["/api/v1/feed?limit=20"], tokens=tokens)
        env = bench.server_env(SOCIAL_FANOUT_MAX_FOLLOWERS=str(FANOUT_THRESHOLD))
        with bench.gunicorn_server(env=env) as base_url:
            server = base_url.server_fields()
            ping = bench.wrk_run(f"{base_url}/healthz", duration_s=duration, connections=connections)
            self.stderr.write(f"  ping {ping}")
            with contextlib.suppress(bench.BenchError):  # warm-up only: its figures do not matter
                bench.wrk_run(f"{base_url}/api/v1/feed", duration_s=2, connections=connections, lua=lua)
            feed = bench.wrk_run(f"{base_url}/api/v1/feed", duration_s=duration, connections=connections, lua=lua)
            self.stderr.write(f"  feed (cache) {feed}")
        with bench.gunicorn_server(env=bench.server_env(REDIS_URL="", CELERY_TASK_ALWAYS_EAGER="1")) as base_url:
            feed_db = bench.wrk_run(f"{base_url}/api/v1/feed", duration_s=max(duration // 2, 5),
                                    connections=connections, lua=lua)
            self.stderr.write(f"  feed (database only) {feed_db}")
        fanout = self._fan_out(user_ids=user_ids)
        errors = feed.non_2xx + feed.socket_errors + ping.non_2xx + ping.socket_errors
        return {
            "feed_rps": feed.rps, "ping_rps": ping.rps, "ratio": round(feed.rps / ping.rps, 3) if ping.rps else 0.0,
            "p99_ms": feed.p99_ms, "fanout_5k_s": fanout["seconds"],
            "p50_ms": feed.p50_ms, "ping_p99_ms": ping.p99_ms, "errors": errors,
            "feed_db_rps": feed_db.rps, "feed_db_p99_ms": feed_db.p99_ms, "feed_db_errors": feed_db.non_2xx,
            "fanout_followers": fanout["followers"], "fanout_pushed": fanout["pushed"],
            "fanout_threshold": FANOUT_THRESHOLD, "readers": len(reader_ids), "connections": connections,
            **server,
        }

    def _fan_out(self, *, user_ids) -> dict:
        """One post from the account closest above 5k followers, every follower's timeline cached."""
        from superapp.social.models import Follow, SocialStats

        with self.settings_threshold():
            stats = (SocialStats.objects.filter(user_id__in=[int(i) for i in user_ids], followers_count__gte=5000,
                                                followers_count__lte=FANOUT_THRESHOLD)
                     .order_by("followers_count").first())
            if stats is None:
                raise CommandError("the generated graph has no account with 5k followers under the threshold")
            follower_ids = list(Follow.objects.filter(followee_id=stats.user_id).values_list("follower_id", flat=True))
            client = timeline.redis_client()
            pipe = client.pipeline(transaction=False)
            for follower_id in follower_ids:  # cached timelines (as for active readers)
                pipe.zadd(timeline.timeline_key(follower_id), {timeline.PLACEHOLDER: 0})
                pipe.expire(timeline.timeline_key(follower_id), 600)
            pipe.execute()
            post = Post.objects.create(author_id=stats.user_id, text="fan-out probe", visibility=Visibility.PUBLIC)
            started = time.perf_counter()
            pushed = timeline.timeline_fan_out(post_id=post.pk)
            seconds = time.perf_counter() - started
        self.stderr.write(f"  fan-out to {len(follower_ids)} followers: {pushed} timelines in {seconds:.3f}s")
        return {"seconds": round(seconds, 3), "followers": len(follower_ids), "pushed": pushed}

    def settings_threshold(self):
        from django.test import override_settings

        return override_settings(SOCIAL_FANOUT_MAX_FOLLOWERS=FANOUT_THRESHOLD)

    def _cleanup(self) -> None:
        ids = list(User.objects.filter(username__startswith=PREFIX).values_list("id", flat=True))
        if not ids:
            return
        client = timeline.redis_client()
        if client is not None:
            pipe = client.pipeline(transaction=False)
            for user_id in ids:
                key = timeline.timeline_key(user_id)
                pipe.delete(key, f"{key}:ready", f"{key}:v", f"{key}:page:20")
            pipe.execute()
        with transaction.atomic(), connection.cursor() as cursor:
            bench_users = "SELECT id FROM accounts_user WHERE username LIKE %s"
            like = [PREFIX + "%"]
            cursor.execute(f"DELETE FROM social_post WHERE author_id IN ({bench_users})", like)  # noqa: S608
            cursor.execute(f"DELETE FROM social_follow WHERE follower_id IN ({bench_users}) "  # noqa: S608
                           f"OR followee_id IN ({bench_users})", like * 2)
            cursor.execute(f"DELETE FROM social_friendship WHERE user_id IN ({bench_users})", like)  # noqa: S608
            cursor.execute(f"DELETE FROM social_socialstats WHERE user_id IN ({bench_users})", like)  # noqa: S608
            cursor.execute("DELETE FROM accounts_user WHERE username LIKE %s", like)
        self.stderr.write(f"  removed {len(ids)} bench users and their rows")
