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


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


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
        # Statements are still not prepared (Django sets psycopg's prepare_threshold to None unless OPTIONS
        # names one).
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
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
