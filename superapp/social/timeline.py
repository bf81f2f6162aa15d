"""The home timeline: hybrid fan-out.

Write: after a post commits, a Celery task adds its id to the cached timeline (a Redis sorted set,
score = member = post id, capped) of every follower who may see it. Authors with more followers than
`SOCIAL_FANOUT_MAX_FOLLOWERS` are skipped: their readers merge their recent posts at read time.

Read: the cached ids (plus the big accounts' posts in the same id range) are hydrated in ONE SQL query
that re-applies visibility, blocks, moderation and "do I still follow them", so a stale cache can
show fewer items but never a wrong one. Without Redis, with a cold cache, or past the cached range,
the same query runs on the database alone; both paths give the same page.

Cache protocol (why two keys): `tl:{uid}` exists while a timeline is cached or being built; fan-out
only writes to existing keys (a Lua script), so it never creates a partial timeline. `tl:{uid}:ready`
is set when a rebuild finished; readers use the cache only then. A rebuild first creates `tl:{uid}`
(so fan-outs from then on land), then reads the database: every post committed before that read is
in it, every later one is pushed, so nothing falls between the two.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from dataclasses import dataclass

import orjson
from django.db import connection
from django.db.models import Q, QuerySet

from superapp.accounts.models import User
from superapp.cache import redis_client as cache_redis_client
from superapp.db import postgresql_sql
from superapp.exceptions import ValidationFailed
from superapp.social import conf
from superapp.social.cards import post_cards
from superapp.social.models import Follow, Post, SocialStats, Visibility
from superapp.social.selectors import followee_ids_sq, friend_ids_sq, post_visible_q, posts_visible_to

logger = logging.getLogger(__name__)

PLACEHOLDER = "_"  # score 0: keeps the key alive while empty; never a post id (scores start at 1)

# Add one post id to each existing timeline in KEYS and trim it to the cap (the placeholder stays).
_PUSH_LUA = """
local pushed = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('ZADD', key, ARGV[1], ARGV[1])
    redis.call('ZREMRANGEBYRANK', key, 1, -(tonumber(ARGV[2]) + 1))
    redis.call('INCR', key .. ':v')
    redis.call('EXPIRE', key .. ':v', ARGV[3])
    pushed = pushed + 1
  end
end
return pushed
"""


def redis_client():
    """The timelines' Redis, or None on the embedded default (then everything reads the database)."""
    return cache_redis_client(conf.timeline_redis_url())


def timeline_key(user_id: int) -> str:
    return f"social:tl:{user_id}"


def _ready_key(user_id: int) -> str:
    return f"social:tl:{user_id}:ready"


def _rebuild_lock_key(user_id: int) -> str:
    return f"social:tl:{user_id}:rebuilding"


# --- cursors ----------------------------------------------------------------------------------------
def cursor_encode(post_id: int) -> str:
    return base64.urlsafe_b64encode(f"p{post_id}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("p") or not raw[1:].isascii() or len(raw) > 20:
            raise ValueError(raw)
        value = int(raw[1:])
        if not 1 <= value < 2**63:
            raise ValueError(raw)
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("The cursor is not valid; use the `next` link of a previous page.",
                               code="invalid_cursor")


# --- write side ---------------------------------------------------------------------------------------
def is_big_account(*, user_id: int) -> bool:
    followers = SocialStats.objects.filter(user_id=user_id).values_list("followers_count", flat=True).first()
    return (followers or 0) > conf.fanout_max_followers()


def fanout_recipients(*, post: Post) -> list[int]:
    """Whose timelines get this post: the author, plus the followers allowed to see it (none for
    'only me', friends for 'friends'), unless the author is a big account (merged at read time)."""
    recipients = [post.author_id]
    if post.is_hidden or post.visibility == Visibility.ONLY_ME or is_big_account(user_id=post.author_id):
        return recipients
    followers = Follow.objects.filter(followee_id=post.author_id)
    if post.visibility == Visibility.FRIENDS:
        followers = followers.filter(follower_id__in=friend_ids_sq(post.author_id))
    recipients.extend(followers.values_list("follower_id", flat=True).iterator(chunk_size=5000))
    return recipients


def timeline_push(*, user_ids: list[int], post_id: int) -> int:
    """Add `post_id` to the cached timelines among `user_ids` (cold ones are left cold). Returns how
    many cached timelines received it."""
    client = redis_client()
    if client is None or not user_ids:
        return 0
    script = client.register_script(_PUSH_LUA)
    batch = conf.fanout_batch()
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(user_ids), batch):
        keys = [timeline_key(uid) for uid in user_ids[start:start + batch]]
        script(keys=keys, args=[post_id, conf.timeline_cap(), conf.timeline_ttl_s()], client=pipe)
    return sum(int(n) for n in pipe.execute())


def timeline_fan_out(*, post_id: int) -> int:
    """Push a committed post to its audience's cached timelines. Safe to run twice (ZADD is a set)."""
    post = Post.objects.filter(pk=post_id).only("id", "author_id", "visibility", "is_hidden").first()
    if post is None or redis_client() is None:
        return 0
    return timeline_push(user_ids=fanout_recipients(post=post), post_id=post.pk)


def timeline_backfill(*, user_id: int, author_id: int, limit: int = 100) -> int:
    """After `user_id` follows (or befriends) `author_id`: add the author's recent posts that the user
    may now see to the user's cached timeline, if it is cached. Big accounts are merged at read time."""
    client = redis_client()
    if client is None or is_big_account(user_id=author_id):
        return 0
    ids = list(Post.objects.filter(post_visible_q(user_id), author_id=author_id)
               .order_by("-id").values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    script = client.register_script(_PUSH_LUA)
    pipe = client.pipeline(transaction=False)
    for post_id in ids:
        script(keys=[timeline_key(user_id)], args=[post_id, conf.timeline_cap(), conf.timeline_ttl_s()], client=pipe)
    return sum(int(n) for n in pipe.execute())


def timeline_rebuild(*, user_id: int) -> int:
    """(Re)build one user's cached timeline from the database. Returns the number of cached ids."""
    client = redis_client()
    if client is None:
        return 0
    key, ready, ttl = timeline_key(user_id), _ready_key(user_id), conf.timeline_ttl_s()
    pipe = client.pipeline(transaction=True)
    pipe.delete(ready, key)
    pipe.zadd(key, {PLACEHOLDER: 0})
    pipe.expire(key, ttl)
    pipe.execute()
    # From here on, fan-outs land in `key`; this read covers everything committed before it.
    ids = _candidate_ids(viewer_id=user_id, before=None, limit=conf.timeline_cap())
    pipe = client.pipeline(transaction=True)
    if ids:
        pipe.zadd(key, {str(i): i for i in ids})
        pipe.zremrangebyrank(key, 1, -(conf.timeline_cap() + 1))
    pipe.set(ready, "1", ex=ttl)
    pipe.expire(key, ttl)
    pipe.delete(_rebuild_lock_key(user_id))
    pipe.execute()
    return len(ids)


EPOCH_KEY = "social:tl:epoch"
PAGE_TTL_S = 15  # also bounds how late a big account's new post (merged at read, never pushed) appears


def _version_key(user_id: int) -> str:
    return f"social:tl:{user_id}:v"


def _page_key(user_id: int, limit: int) -> str:
    return f"social:tl:{user_id}:page:{limit}"


def timeline_touch(*, user_ids: list[int]) -> None:
    """The first pages rendered for these users may be wrong now (they followed, unfollowed, blocked,
    befriended, liked...): bump their versions so the next read renders afresh."""
    client = redis_client()
    if client is None or not user_ids:
        return
    pipe = client.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.incr(_version_key(user_id))
        pipe.expire(_version_key(user_id), conf.timeline_ttl_s())
    pipe.execute()


def timeline_epoch_bump() -> None:
    """A post was deleted, hidden or narrowed: every rendered page may show it, so all go stale."""
    client = redis_client()
    if client is not None:
        client.incr(EPOCH_KEY)


# --- read side ------------------------------------------------------------------------------------------
def _in_timeline_q(user_id: int) -> Q:
    return Q(author_id=user_id) | Q(author_id__in=followee_ids_sq(user_id))


def _big_followee_ids_sq(user_id: int) -> QuerySet:
    return Follow.objects.filter(
        follower_id=user_id, followee__social_stats__followers_count__gt=conf.fanout_max_followers()
    ).values("followee_id")


# Candidate ids on PostgreSQL: newest posts per followed author through the (author, -id) index, one
# LATERAL probe per author, instead of walking all posts newest-first and filtering out the ~99% by
# people the viewer does not follow. Visibility is applied here too, so the top-N per author are the
# right ones; the hydration query re-checks everything (blocks included).
_CANDIDATES_SQL = """
SELECT c.id FROM (
    SELECT f.followee_id AS author_id,
           EXISTS (SELECT 1 FROM social_friendship fr
                   WHERE fr.user_id = %(viewer)s AND fr.friend_id = f.followee_id) AS is_friend
    FROM social_follow f {big_join}
    WHERE f.follower_id = %(viewer)s {big_where}
    {self_row}
) a
CROSS JOIN LATERAL (
    SELECT p.id FROM social_post p
    WHERE p.author_id = a.author_id AND p.id < %(before)s AND p.id >= %(floor)s AND NOT p.is_hidden
      AND (p.author_id = %(viewer)s OR p.visibility = 'public' OR (p.visibility = 'friends' AND a.is_friend))
    ORDER BY p.id DESC LIMIT %(limit)s
) c
ORDER BY c.id DESC LIMIT %(limit)s
"""


def _candidate_ids(*, viewer_id: int, before: int | None, floor: int = 0, limit: int, big_only: bool = False
                   ) -> list[int]:
    """Ids of the newest timeline items of `viewer_id` (or only of the big accounts they follow)."""
    if not postgresql_sql():
        authors = Q(author_id__in=_big_followee_ids_sq(viewer_id)) if big_only else _in_timeline_q(viewer_id)
        posts = Post.objects.filter(post_visible_q(viewer_id)).filter(authors).filter(id__gte=floor)
        if before is not None:
            posts = posts.filter(id__lt=before)
        return list(posts.order_by("-id").values_list("id", flat=True)[:limit])
    sql = _CANDIDATES_SQL.format(
        big_join="JOIN social_socialstats s ON s.user_id = f.followee_id" if big_only else "",
        big_where="AND s.followers_count > %(threshold)s" if big_only else "",
        self_row="" if big_only else "UNION ALL SELECT %(viewer)s, TRUE",
    )
    params = {"viewer": viewer_id, "before": before or 2**62, "floor": floor, "limit": limit,
              "threshold": conf.fanout_max_followers()}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _hydrate(*, viewer: User, ids: list[int], limit: int) -> list[dict]:
    """The page's cards, newest first, re-checking visibility, blocks and follows. One query."""
    if not ids:
        return []
    posts = posts_visible_to(viewer).filter(_in_timeline_q(viewer.pk)).filter(id__in=ids).order_by("-id")
    return post_cards(posts[:limit])


@dataclass
class FeedPage:
    items_json: bytes  # the post cards (`cards.post_cards`, the shape of `PostSerializer`) as a JSON array
    next_cursor: int | None
    source: str  # "page-cache", "cache" or "database": for tests, logs and the benchmark

    @classmethod
    def of(cls, *, items: list[dict], next_cursor: int | None, source: str) -> FeedPage:
        return cls(items_json=orjson.dumps(items), next_cursor=next_cursor, source=source)

    @functools.cached_property
    def items(self) -> list[dict]:
        return orjson.loads(self.items_json)


def feed_for_user(*, viewer: User, before: int | None = None, limit: int = 20) -> FeedPage:
    """One page of `viewer`'s timeline, newest first, items with id < `before`. Two SQL queries:
    candidate ids (beyond the cached ones), then the cards."""
    client = redis_client()
    if client is not None and before is None:
        try:
            return _first_page(client=client, viewer=viewer, limit=limit)
        except Exception:
            logger.warning("timeline page cache unavailable for user %s", viewer.pk, exc_info=True)
    if client is not None:
        try:
            page = _feed_from_cache(client=client, viewer=viewer, before=before, limit=limit)
        except Exception:  # a Redis outage degrades to the database, never to an error page
            logger.warning("timeline cache unavailable for user %s", viewer.pk, exc_info=True)
            page = None
        if page is not None:
            return page
    return _feed_from_database(viewer=viewer, before=before, limit=limit)


def _first_page(*, client, viewer: User, limit: int) -> FeedPage:
    """The first page, rendered once and reused while nothing that could change it happened: it is
    stored with the user's timeline version and the global epoch read BEFORE rendering, so a push or
    a delete during the render leaves it stale rather than wrong."""
    pipe = client.pipeline(transaction=False)
    pipe.get(_page_key(viewer.pk, limit))
    pipe.get(_version_key(viewer.pk))
    pipe.get(EPOCH_KEY)
    raw, version, epoch = pipe.execute()
    stamp = f"{int(version or 0)}:{int(epoch or 0)}".encode()
    if raw is not None:
        # "stamp next-cursor items-json": the cards go out as stored, never decoded and re-encoded.
        stored_stamp, next_cursor, items_json = raw.split(b" ", 2)
        if stored_stamp == stamp:
            return FeedPage(items_json=items_json, next_cursor=int(next_cursor) if next_cursor != b"-" else None,
                            source="page-cache")
    page = _feed_from_cache(client=client, viewer=viewer, before=None, limit=limit)
    if page is None:
        return _feed_from_database(viewer=viewer, before=None, limit=limit)  # cold: do not store
    next_cursor = b"-" if page.next_cursor is None else str(page.next_cursor).encode()
    client.set(_page_key(viewer.pk, limit), b" ".join([stamp, next_cursor, page.items_json]), ex=PAGE_TTL_S)
    return page


def _feed_from_database(*, viewer: User, before: int | None, limit: int) -> FeedPage:
    ids = _candidate_ids(viewer_id=viewer.pk, before=before, limit=limit)
    items = _hydrate(viewer=viewer, ids=ids, limit=limit)
    next_cursor = ids[-1] if len(ids) == limit else None
    return FeedPage.of(items=items, next_cursor=next_cursor, source="database")


def _feed_from_cache(*, client, viewer: User, before: int | None, limit: int) -> FeedPage | None:
    key, ready, ttl = timeline_key(viewer.pk), _ready_key(viewer.pk), conf.timeline_ttl_s()
    # Over-fetch: some cached ids may have become invisible since they were pushed.
    want = limit * 2 + 10
    pipe = client.pipeline(transaction=False)
    pipe.exists(ready)
    pipe.zrevrangebyscore(key, f"({before}" if before else "+inf", 1, start=0, num=want)
    pipe.zcard(key)
    pipe.expire(key, ttl)
    pipe.expire(ready, ttl)
    is_ready, raw_ids, cached_count, _, _ = pipe.execute()
    if not is_ready:
        _schedule_rebuild(client=client, user_id=viewer.pk)
        return None
    ids = [int(i) for i in raw_ids]
    exhausted = len(ids) < want
    complete = cached_count - 1 < conf.timeline_cap()  # never trimmed: holds everything it ever got
    if exhausted and complete:
        floor = 0
    elif ids:
        floor = ids[-1]  # below the lowest id read, the cache says nothing yet
    else:
        return None  # older than the cached window: the database answers this page
    # Big accounts are not fanned out: merge their posts of the same id range.
    big = _candidate_ids(viewer_id=viewer.pk, before=before, floor=floor, limit=want, big_only=True)
    candidates = sorted(set(ids) | set(big), reverse=True)
    items = _hydrate(viewer=viewer, ids=candidates, limit=limit)
    if len(items) == limit:
        next_cursor = items[-1]["id"]
    elif not exhausted:
        next_cursor = floor  # every id >= floor was considered; continue below it
    elif not complete:
        return None  # the page runs past the trimmed end of the cache: the database answers it
    else:
        next_cursor = None
    return FeedPage.of(items=items, next_cursor=next_cursor, source="cache")


def _schedule_rebuild(*, client, user_id: int) -> None:
    from superapp.social.tasks import timeline_rebuild_task

    # One rebuild at a time per user, however many cold reads arrive together.
    if client.set(_rebuild_lock_key(user_id), "1", nx=True, ex=60):
        timeline_rebuild_task.delay(user_id)
