"""One env-driven settings module.

Embedded default (no environment): SQLite file in the project dir, Celery eager, local-memory cache.
`DATABASE_URL` (PostgreSQL) and `REDIS_URL` (Celery broker + results, cache, locks, timelines) switch
to the real services with the same code. `DJANGO_ENV=production` turns on the deploy hardening.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# One way to read the environment: these helpers, here only. App code reads `django.conf.settings` when it
# uses a value (each app's `conf.py` accessors), so `override_settings` changes it in tests.
def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(float(value)) if value else default


def env_float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_weights(name: str) -> dict[str, float]:
    """`NAME="payment=5,view=0.2"` -> {"payment": 5.0, "view": 0.2} (empty: {})."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in os.environ.get(name, "").split(","))):
        key, _, number = part.partition("=")
        out[key.strip()] = float(number)
    return out


DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development only: never used with DEBUG off (see above).
    SECRET_KEY = "dev-insecure-3a7f0c1e9b2d4a68b5c7e9f1a3c5e7f9-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h] or (
    ["*"] if DEBUG else ["localhost"]
)
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here, not a CDN: the docs work offline
    "django_celery_beat",
    "superapp",
    "superapp.accounts",
    "superapp.social",
    "merchants",
    "bookings",
    "cityservices",
    "appointments",
    "traffic",
    "payments",
    "recommender",
]

MIDDLEWARE = [
    "superapp.middleware.RequestIdMiddleware",
    "superapp.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "superapp.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "superapp.urls"
WSGI_APPLICATION = "superapp.wsgi.application"
ASGI_APPLICATION = "superapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "superapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Parameters travel separately from the SQL (psycopg's server-side binding) instead of being quoted into
        # it in Python: the wallet's hot path spent ~7 % of its CPU quoting them (docs/payments.md, Benchmark).
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
        # Statements seen this many times on a connection are prepared: PostgreSQL parses and plans each of a
        # payment's statements once per connection instead of every time (~30 % of its CPU per payment,
        # docs/payments.md). 0 prepares everything, "" turns it off (needed behind a PgBouncer in transaction
        # mode older than 1.21). A migration that changes a table's columns while old servers run can make
        # their prepared statements fail once ("cached plan must not change result type"): restart servers
        # after such a migration, as a deploy does.
        prepare_threshold = env_str("DB_PREPARE_THRESHOLD", "5")
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = int(prepare_threshold) if prepare_threshold else None
        # Django's backend, with a health check that polls the idle socket instead of sending SELECT 1 before
        # every request's first query (superapp/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "superapp.postgresql"
        # A connection pool per process (psycopg_pool), on when DB_POOL_SIZE > 0: gunicorn.conf.py turns it on
        # for its gevent workers, where Django's one connection per thread would be one per open client
        # connection (each is a greenlet). A request takes a connection for its duration and returns it; the
        # pool's check is the same no-round-trip poll as above, so a connection PostgreSQL ended while it sat in
        # the pool is replaced before use. A request that waits longer than DB_POOL_TIMEOUT_S for a connection
        # (the database is down or restarting) answers 503 with Retry-After, like any unreachable database.
        pool_size = env_int("DB_POOL_SIZE", 0)
        if pool_size:
            DATABASES["default"].update(CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
            DATABASES["default"]["OPTIONS"]["pool"] = {
                "min_size": pool_size, "max_size": pool_size, "timeout": env_float("DB_POOL_TIMEOUT_S", 10.0),
            }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Several threads (eager Celery, runserver) share the file: wait instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery, locks ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "superapp.cache.PooledRedisCache",  # Django's RedisCache, one client per pool
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "superapp"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "superapp"}}

CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Embedded default: the web process runs tasks in-process (eager); the periodic jobs come from the worker with
# beat that `make run` starts beside it, over kombu's filesystem transport (messages are files in
# $SUPERAPP_VAR_DIR/celery: no server to run). With Redis: a real broker and worker.
CELERY_FILESYSTEM_QUEUE = Path(os.environ.get("SUPERAPP_VAR_DIR", BASE_DIR / "var")) / "celery" / "queue"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Publishing must fail fast when Redis is down (superapp.publish drops and a sweep catches up), not hang.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1} if REDIS_URL else {
    "data_folder_in": str(CELERY_FILESYSTEM_QUEUE), "data_folder_out": str(CELERY_FILESYSTEM_QUEUE),
    "control_folder": str(CELERY_FILESYSTEM_QUEUE.parent / "control"), "store_processed": False}
CELERY_TIMEZONE = "UTC"

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "superapp.accounts.authentication.CachedUserJWTAuthentication",
        # The browsable docs and the admin share the Django session.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "superapp.api.DefaultCursorPagination",
    "DEFAULT_PARSER_CLASSES": [
        "superapp.parsers.JSONParser",  # DRF's, bounded (depth, number range)
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "superapp.schema.AutoSchema",
    "EXCEPTION_HANDLER": "superapp.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth_ip": os.environ.get("THROTTLE_AUTH_IP", "20/min"),
        "auth_account": os.environ.get("THROTTLE_AUTH_ACCOUNT", "5/min"),
        "signup_ip": os.environ.get("THROTTLE_SIGNUP_IP", "10/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default): the
    # client IP is REMOTE_ADDR and X-Forwarded-For is ignored, so a client cannot pick its own IP.
    "NUM_PROXIES": int(os.environ.get("TRUSTED_PROXY_COUNT", "0")),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "14"))),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Tokens carry a hash of the password hash: after a password change every outstanding access token
    # fails on its next use (the refresh tokens are blacklisted by `user_change_password`).
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "superapp API",
    "DESCRIPTION": (
        "Wallet, merchants, bookings, city services, social feed and recommendations. "
        "Every error has the shape `{\"error\": {\"code\", \"message\", \"details\"}}`. "
        "Authenticate with `Authorization: Bearer <access token>` from `POST /api/v1/auth/login`. "
        "Money-moving POSTs take an `Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # filter: a box that narrows the ~110 operations by tag (the list is virtual: only what is on screen exists)
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "filter": True},
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "superapp.api.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        # payments
        "CurrencyEnum": "payments.serializers.CURRENCIES",
        "PaymentStatusEnum": "payments.models.PaymentStatus",
        "PaymentDisplayStatusEnum": "payments.serializers.PAYMENT_DISPLAY_STATUSES",
        "PaymentRequestStatusEnum": "payments.models.PaymentRequestStatus",
        "CouponStatusEnum": "payments.models.CouponStatus",
        "OperationStatusEnum": "payments.models.OperationStatus",
        "VatClaimStatusEnum": "payments.models.VatClaimStatus",
        "TransactionKindEnum": "payments.models.TransactionKind",
        "FundingKindEnum": "payments.models.FundingKind",
    },
    "DISABLE_ERRORS_AND_WARNINGS": False,
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
VAR_DIR = Path(os.environ.get("SUPERAPP_VAR_DIR", BASE_DIR / "var"))

# --- Domain settings ----------------------------------------------------------------------------
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
# Demo seeders, each `seed(*, rng, stdout)`, run in this order by `manage.py seed_demo`. Each gets the random
# stream named by its dotted path, or by the second item of a pair: seeders naming the same stream share it (the
# second continues where the first stopped). The areas split out of the old `services/` package use the names
# of the seeders they came from, so `seed_demo --seed 42` still builds the same world.
DEMO_SEEDERS = [
    "superapp.accounts.seed.seed",
    ("merchants.seed.seed", "services.seed.seed"),
    ("cityservices.seed.seed", "services.seed.seed"),
    ("appointments.seed.seed", "services.seed.seed"),
    ("bookings.seed.seed", "services.seed.seed"),
    "payments.seed.seed",
    ("merchants.seed.seed_trips", "services.seed.seed_bookings"),
    ("bookings.seed.seed_bookings", "services.seed.seed_bookings"),
    ("cityservices.seed.seed_accounts", "services.seed.seed_bookings"),
    ("appointments.seed.seed_appointments", "services.seed.seed_bookings"),
    "superapp.social.seed.seed",
    ("traffic.seed.seed", "services.traffic.seed.seed"),
    "recommender.seed.seed",
]

# --- App settings (each app reads them through its `conf.py`; docs/<area>.md describes them) -------------
# Redis clients made by `superapp.cache.redis_client` (timelines, the user cache, locks, readiness): how long
# a command or a connection may take before it fails (and the caller falls back to the database).
REDIS_SOCKET_TIMEOUT_S = env_float("REDIS_SOCKET_TIMEOUT_S", 2.0)
REDIS_AUTH_SOCKET_TIMEOUT_S = env_float("REDIS_AUTH_SOCKET_TIMEOUT_S", 1.0)  # on every authenticated request
REDIS_HEALTH_CHECK_INTERVAL_S = env_int("REDIS_HEALTH_CHECK_INTERVAL_S", 30)

# Wallet (docs/payments.md). Rates are decimal strings.
PAYMENTS_FX_SPREAD = env_str("PAYMENTS_FX_SPREAD", "0.005")
PAYMENTS_MERCHANT_FEE_RATE = env_str("PAYMENTS_MERCHANT_FEE_RATE", "0.006")
PAYMENTS_PENDING_TTL_S = env_int("PAYMENTS_PENDING_TTL_S", 15 * 60)
PAYMENTS_SWEEP_AFTER_S = env_int("PAYMENTS_SWEEP_AFTER_S", 60)
PAYMENTS_SYSTEM_ACCOUNT_SHARDS = env_int("PAYMENTS_SYSTEM_ACCOUNT_SHARDS", 64)
PAYMENTS_VAT_CLAIM_WINDOW_DAYS = env_int("PAYMENTS_VAT_CLAIM_WINDOW_DAYS", 90)
PAYMENTS_VAT_SERVICE_FEE_RATE = env_str("PAYMENTS_VAT_SERVICE_FEE_RATE", "0.10")
PAYMENTS_VAT_MIN_PURCHASE = {"CHF": "300", "EUR": "100", "GBP": "30", "JPY": "5000", "SGD": "100", "CNY": "500"}
PAYMENTS_NEW_USER_MAX_PAYMENTS = env_int("PAYMENTS_NEW_USER_MAX_PAYMENTS", 0)
PAYMENTS_QR_MAX_AGE_S = env_int("PAYMENTS_QR_MAX_AGE_S", None)

# Social (docs/social.md).
SOCIAL_FANOUT_MAX_FOLLOWERS = env_int("SOCIAL_FANOUT_MAX_FOLLOWERS", 10_000)
SOCIAL_TIMELINE_CAP = env_int("SOCIAL_TIMELINE_CAP", 800)
SOCIAL_TIMELINE_TTL_S = env_int("SOCIAL_TIMELINE_TTL_S", 3 * 24 * 3600)
SOCIAL_FANOUT_BATCH = env_int("SOCIAL_FANOUT_BATCH", 1000)
SOCIAL_TIMELINE_REDIS_URL = env_str("SOCIAL_TIMELINE_REDIS_URL", "")

# Recommender: training and the model registry (docs/recommender.md).
RECOMMENDER_KIND_WEIGHTS = env_weights("RECOMMENDER_KIND_WEIGHTS")  # over recommender.conf.DEFAULT_KIND_WEIGHTS
RECOMMENDER_HALF_LIFE_DAYS = env_float("RECOMMENDER_HALF_LIFE_DAYS", 90.0)
RECOMMENDER_MODELS_DIR = env_str("RECOMMENDER_MODELS_DIR", "")
RECOMMENDER_LOCK_TTL_S = env_int("RECOMMENDER_LOCK_TTL_S", 120)  # a lease the holder renews every third of it
RECOMMENDER_ACTIVATION_TOLERANCE = env_float("RECOMMENDER_ACTIVATION_TOLERANCE", 0.05)
RECOMMENDER_TRAIN_THREADS = env_int("RECOMMENDER_TRAIN_THREADS", 0)
# The retrain reads only the rows added since its last extract while they are at most this share of the rows it
# keeps (recommender.extract_snapshot); 0 turns the snapshot off (every retrain extracts everything).
RECOMMENDER_EXTRACT_SNAPSHOT_MAX_NEW = env_float("RECOMMENDER_EXTRACT_SNAPSHOT_MAX_NEW", 0.25)
RECOMMENDER_RETRAIN_EVERY_S = env_int("RECOMMENDER_RETRAIN_EVERY_S", 6 * 60 * 60)
# Recommender: serving (recommender/serving/conf.py says what each one does).
RECOMMENDER_MAX_LIMIT = env_int("RECOMMENDER_MAX_LIMIT", 50)
RECOMMENDER_MAX_RADIUS_M = env_float("RECOMMENDER_MAX_RADIUS_M", 50_000.0)
RECOMMENDER_USER_VECTOR_TTL_S = env_int("RECOMMENDER_USER_VECTOR_TTL_S", 7 * 24 * 3600)
RECOMMENDER_PROFILE_MAX_INTERACTIONS = env_int("RECOMMENDER_PROFILE_MAX_INTERACTIONS", 500)
RECOMMENDER_POPULARITY_TTL_S = env_float("RECOMMENDER_POPULARITY_TTL_S", 300.0)
RECOMMENDER_POPULARITY_WINDOW_DAYS = env_int("RECOMMENDER_POPULARITY_WINDOW_DAYS", 180)
RECOMMENDER_CONTENT_CHECK_S = env_float("RECOMMENDER_CONTENT_CHECK_S", 60.0)
RECOMMENDER_COLD_START_CONTENT_WEIGHT = env_float("RECOMMENDER_COLD_START_CONTENT_WEIGHT", 0.6)
RECOMMENDER_NEW_MERCHANT_SHARE = env_float("RECOMMENDER_NEW_MERCHANT_SHARE", 0.2)
RECOMMENDER_NEW_MERCHANT_MIN_SIMILARITY = env_float("RECOMMENDER_NEW_MERCHANT_MIN_SIMILARITY", 0.15)
RECOMMENDER_NEW_MERCHANT_RELATIVE_SIMILARITY = env_float("RECOMMENDER_NEW_MERCHANT_RELATIVE_SIMILARITY", 0.6)
RECOMMENDER_EXPLAIN_MIN_SIMILARITY = env_float("RECOMMENDER_EXPLAIN_MIN_SIMILARITY", 0.3)
RECOMMENDER_EXPLAIN_MIN_TRAVELLERS = env_int("RECOMMENDER_EXPLAIN_MIN_TRAVELLERS", 2)
RECOMMENDER_DESTINATION_MIN_LOCAL_SIGNALS = env_int("RECOMMENDER_DESTINATION_MIN_LOCAL_SIGNALS", 3)
RECOMMENDER_LIST_SIZE = env_int("RECOMMENDER_LIST_SIZE", 200)
RECOMMENDER_LIST_CITY_SIZE = env_int("RECOMMENDER_LIST_CITY_SIZE", 100)
RECOMMENDER_LIST_TTL_S = env_int("RECOMMENDER_LIST_TTL_S", 3 * 24 * 3600)
RECOMMENDER_LIST_BUILD_CHUNK = env_int("RECOMMENDER_LIST_BUILD_CHUNK", 500)
RECOMMENDER_LIST_BUILD_DEDUP_S = env_int("RECOMMENDER_LIST_BUILD_DEDUP_S", 30)
RECOMMENDER_LOCAL_LIST_BUILD = env_bool("RECOMMENDER_LOCAL_LIST_BUILD", True)
RECOMMENDER_CATALOGUE_CHECK_S = env_float("RECOMMENDER_CATALOGUE_CHECK_S", 1.0)
RECOMMENDER_CATALOGUE_MAX_AGE_S = env_float("RECOMMENDER_CATALOGUE_MAX_AGE_S", 300.0)
RECOMMENDER_CAMPAIGNS_MAX_AGE_S = env_float("RECOMMENDER_CAMPAIGNS_MAX_AGE_S", 30.0)
RECOMMENDER_CONTEXT_TTL_S = env_int("RECOMMENDER_CONTEXT_TTL_S", 300)
RECOMMENDER_EVENTS_REFRESH_WINDOW_S = env_float("RECOMMENDER_EVENTS_REFRESH_WINDOW_S", 1.0)
RECOMMENDER_FRIENDS_ANYWHERE_MAX_VISITS = env_int("RECOMMENDER_FRIENDS_ANYWHERE_MAX_VISITS", 1000)

# Merchants, bookings, city services (docs/services.md).
SERVICES_NEARBY_MAX_RADIUS_M = env_int("SERVICES_NEARBY_MAX_RADIUS_M", 50_000)
SERVICES_NEARBY_MAX_LIMIT = env_int("SERVICES_NEARBY_MAX_LIMIT", 100)
SERVICES_BOOKING_HOLD_MINUTES = env_int("SERVICES_BOOKING_HOLD_MINUTES", 15)
SERVICES_BILL_REMINDER_DAYS = env_int("SERVICES_BILL_REMINDER_DAYS", 3)
SERVICES_GEO_INDEX_CHECK_S = env_float("SERVICES_GEO_INDEX_CHECK_S", 2.0)
SERVICES_GEO_INDEX_MAX_AGE_S = env_float("SERVICES_GEO_INDEX_MAX_AGE_S", 300.0)
SERVICES_APPOINTMENT_DAYS_AHEAD = env_int("SERVICES_APPOINTMENT_DAYS_AHEAD", 14)
SERVICES_APPOINTMENT_REMINDER_HOURS = env_int("SERVICES_APPOINTMENT_REMINDER_HOURS", 24)

# Traffic (docs/traffic.md).
TRAFFIC_PLATE_HASH_SECRET = env_str("TRAFFIC_PLATE_HASH_SECRET", "")
TRAFFIC_MAX_SPEED_KMH = env_float("TRAFFIC_MAX_SPEED_KMH", 200.0)
TRAFFIC_MAX_BATCH_ROWS = env_int("TRAFFIC_MAX_BATCH_ROWS", 5000)
TRAFFIC_FUTURE_TOLERANCE_S = env_int("TRAFFIC_FUTURE_TOLERANCE_S", 120)
TRAFFIC_MODEL_DIR = env_str("TRAFFIC_MODEL_DIR", "")
TRAFFIC_TRAINING_DAYS = env_int("TRAFFIC_TRAINING_DAYS", 14)
TRAFFIC_SNAP_MAX_M = env_float("TRAFFIC_SNAP_MAX_M", 3000.0)
TRAFFIC_INGEST_SYNCHRONOUS_COMMIT = env_bool("TRAFFIC_INGEST_SYNCHRONOUS_COMMIT", False)

# --- Production hardening ---------------------------------------------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "superapp.request_id.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
