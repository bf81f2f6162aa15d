"""Demo people: a few named users to log in as, a crowd for the recommender, and a superuser."""

from django.conf import settings
from django.utils import timezone

from merchants.models import City
from superapp.accounts.models import User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - demo data, printed for developers
SUPERUSER = ("admin", "admin-pass-2026")

# username, display name, home city, current city (differs while travelling), language
NAMED_USERS = [
    ("alice", "Alice Wang", "hangzhou", "davos", "zh"),
    ("bob", "Bob Li", "hangzhou", "hangzhou", "zh"),
    ("chen", "Chen Jie", "shanghai", "shanghai", "zh"),
    ("dora", "Dora Keller", "zurich", "zurich", "de"),
    ("emma", "Emma Martin", "paris", "paris", "fr"),
    ("frank", "Frank Smith", "london", "london", "en"),
    ("gina", "Gina Sato", "tokyo", "tokyo", "ja"),
    ("hugo", "Hugo Brown", "new-york", "new-york", "en"),
]
CROWD_SIZE = 240


def seed(*, rng, stdout) -> None:
    cities = {c.slug: c for c in City.objects.all()}
    for username, name, home, current, language in NAMED_USERS:
        user = User(username=username, display_name=name, email=f"{username}@demo.superapp",
                    home_city=cities[home], current_city=cities[current], language=language,
                    home_currency=cities[home].currency,
                    # demo users' passports "checked by an operator": tax-free and traveller offers need it
                    verified_country=cities[home].country_code, verified_country_at=timezone.now())
        user.set_password(DEMO_PASSWORD)
        user.save()
    # The crowd lives mostly in Hangzhou and Shanghai; a tenth are travelling somewhere.
    slugs = list(cities)
    crowd = []
    for i in range(CROWD_SIZE):
        home = rng.choices(slugs, weights=[5 if s in ("hangzhou", "shanghai") else 1 for s in slugs])[0]
        current = rng.choice(slugs) if rng.random() < 0.1 else home
        user = User(username=f"user{i:04d}", display_name=f"Demo user {i}", home_city=cities[home],
                    current_city=cities[current], home_currency=cities[home].currency,
                    verified_country=cities[home].country_code, verified_country_at=timezone.now(),
                    language="zh" if cities[home].country_code == "CN" else "en")
        user.set_unusable_password()  # log in as the named users; the crowd feeds the models
        crowd.append(user)
    User.objects.bulk_create(crowd)
    if settings.DEBUG and not User.objects.filter(username=SUPERUSER[0]).exists():
        User.objects.create_superuser(SUPERUSER[0], "admin@demo.superapp", SUPERUSER[1],
                                      home_city=cities["hangzhou"], current_city=cities["hangzhou"])
    stdout.write(f"  users: {len(NAMED_USERS)} named (password {DEMO_PASSWORD!r}), {CROWD_SIZE} crowd; "
                 f"superuser {SUPERUSER[0]!r} / {SUPERUSER[1]!r}")
