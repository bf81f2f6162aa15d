"""Demo world for the recommender (the last seeder): browsing signals with tastes, then a first model.

The other seeders leave payments and bookings behind (each reported through `superapp.events` by the services
they call); the reviews, check-ins and likes the social seeder bulk-inserts become interactions here, keyed
like the live events (so a replay adds nothing). On top of that, every demo user gets a few weeks of app browsing drawn
from a personal taste — two favourite categories (or verticals), mostly in the city they are in — so the
first model has structure to learn. The model is trained through the same service as the Celery job.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from merchants.models import Merchant
from recommender.evaluation import evaluate_algorithms
from recommender.exceptions import NotEnoughData, TrainingInProgress
from recommender.models import Algorithm, Interaction, InteractionKind, TrainingConfig
from recommender.services import model_train, training_config_activate, training_config_save, training_config_tune
from superapp.accounts.models import User
from superapp.social.models import CheckIn, Like, Review

DEMO_TUNING_BUDGET_S = 5.0
# kind, share of the browsing events
BROWSING_KINDS = [(InteractionKind.VIEW, 0.55), (InteractionKind.CLICK, 0.2), (InteractionKind.SAVE, 0.1),
                  (InteractionKind.CHECKIN, 0.15)]


def interactions_from_social() -> int:
    """The recommender's signals from the social demo world (reviews, check-ins, likes of merchant-tagged posts),
    with the (kind, source) keys `superapp.social.services` sends them with."""
    rows = [Interaction(user_id=r.author_id, merchant_id=r.merchant_id, kind=InteractionKind.REVIEW,
                        value=float(r.rating), occurred_at=r.created_at, source=f"review:{r.pk}")
            for r in Review.objects.order_by("pk")]
    rows += [Interaction(user_id=c.user_id, merchant_id=c.merchant_id, kind=InteractionKind.CHECKIN, value=1.0,
                         occurred_at=c.created_at, source=f"checkin:{c.pk}") for c in CheckIn.objects.order_by("pk")]
    rows += [Interaction(user_id=like.user_id, merchant_id=like.post.merchant_id, kind=InteractionKind.LIKE,
                         value=1.0, occurred_at=like.created_at, source=f"like:{like.pk}")
             for like in Like.objects.filter(post__merchant__isnull=False).select_related("post").order_by("pk")]
    Interaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def seed(*, rng, stdout) -> None:
    interactions_from_social()
    merchants = list(Merchant.objects.filter(is_active=True, is_placeholder=False)
                     .values_list("pk", "city_id", "vertical").order_by("pk"))
    users = list(User.objects.filter(is_active=True, is_imported=False, is_superuser=False)
                 .values_list("pk", "home_city_id", "current_city_id").order_by("pk"))
    if not merchants or not users:
        stdout.write("  recommender: no merchants or users yet; no browsing signals and no first model.")
        return
    categories = _categories_by_merchant([pk for pk, _, _ in merchants])
    # A taste is a category (or a vertical for merchants without categories).
    by_taste: dict[str, list[int]] = defaultdict(list)
    city_of = {}
    for pk, city_id, vertical in merchants:
        city_of[pk] = city_id
        for taste in categories.get(pk) or [f"vertical:{vertical}"]:
            by_taste[taste].append(pk)
    tastes = sorted(t for t, pks in by_taste.items() if len(pks) >= 2) or sorted(by_taste)
    all_pks = [pk for pk, _, _ in merchants]
    now = timezone.now()
    rows = []
    kinds, shares = zip(*BROWSING_KINDS, strict=True)
    for user_pk, home_city, current_city in users:
        favourites = rng.sample(tastes, k=min(2, len(tastes)))
        # Each user has their own favourites inside their tastes (a per-user order), so what they like is
        # explained by taste rather than by global popularity alone.
        liked = rng.sample([pk for taste in favourites for pk in by_taste[taste]],
                           k=sum(len(by_taste[t]) for t in favourites))
        nearby = [pk for pk in liked if city_of[pk] in (home_city, current_city)] or liked
        for n in range(rng.randint(8, 20)):
            roll = rng.random()
            if roll < 0.9:
                pool = nearby if roll < 0.45 else liked
                # Skewed towards the user's first favourites (u² puts half the picks in the first quarter).
                merchant = pool[int(len(pool) * rng.random() ** 2)]
            else:
                merchant = rng.choice(all_pks)  # exploring: anything
            occurred = now - timedelta(days=rng.uniform(0, 60), minutes=rng.randint(0, 1440))
            kind = rng.choices(kinds, weights=shares)[0]
            rows.append(Interaction(user_id=user_pk, merchant_id=merchant, kind=kind, value=1.0, occurred_at=occurred,
                                    source=f"seed:{user_pk}:{n}"))
    Interaction.objects.bulk_create(rows, ignore_conflicts=True)
    stdout.write(f"  recommender: {len(rows)} browsing signals for {len(users)} users over {len(merchants)} merchants "
                 f"({Interaction.objects.count()} interactions in all)")
    try:
        config = demo_config(stdout=stdout)
        version = model_train(config=config, triggered_by="seed")
    except (NotEnoughData, TrainingInProgress) as exc:
        stdout.write(f"  recommender: no first model ({exc.message})")
        return
    stdout.write(f"  recommender: first model v{version.pk} {version.algorithm} {version.status} in "
                 f"{sum(version.stage_timings.values()):.1f}s: {version.reason}")


def demo_config(*, stdout) -> TrainingConfig:
    """Pick the first configuration on this world's own data: a short ALS search (the ML core's defaults are
    measured on data sets a thousand times larger and underfit here) against item-item, the better of the two
    on the held-out test part. The same services as `tune_recommender` and `evaluate_recommender`."""
    als_config, outcome = training_config_tune(algorithm=Algorithm.ALS, name="demo-als", activate=False,
                                               max_trials=4, time_budget_s=DEMO_TUNING_BUDGET_S)
    knn = evaluate_algorithms(outcome.prepared, candidates=[("itemknn", Algorithm.ITEMKNN, {})])["itemknn"]
    als_ndcg = outcome.tested["tuned"]["ndcg"] if als_config.params == outcome.result.best_params else (
        outcome.tested["default"]["ndcg"])
    stdout.write(f"  recommender: demo configuration: ALS nDCG@10 {als_ndcg:.4f}, item-item {knn['ndcg']:.4f}, "
                 f"popularity {outcome.tested['popularity']['ndcg']:.4f} on a held-out split")
    if knn["ndcg"] > als_ndcg:
        return training_config_save(name="demo-itemknn", algorithm=Algorithm.ITEMKNN, params={}, activate=True,
                                    notes="Chosen by the demo seeder over a tuned ALS on the demo world.")
    return training_config_activate(config=als_config)


def _categories_by_merchant(merchant_pks: list[int]) -> dict[int, list[str]]:
    through = Merchant.categories.through
    out: dict[int, list[str]] = defaultdict(list)
    for merchant_id, slug in through.objects.filter(merchant_id__in=merchant_pks).values_list(
            "merchant_id", "category__slug"):
        out[merchant_id].append(slug)
    return out
