"""Settings for the consent CRM, read from the environment (12-factor).

With nothing set, these are production's settings: DEBUG is off and start-up
stops while a secret is missing. A development machine says so itself: `make run`
writes `.env` from `.env.example` (read below), the tests set their values in
`tests/environment.py` and CI exports them. With those, the project runs locally
on SQLite with a Celery broker that needs no server.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A variable already in the environment wins over the file; ENV_FILE= (empty) reads none.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)


def required(name: str) -> str:
    """A secret with no default: start-up stops without it, whatever DEBUG says."""
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set: export it, or on a development machine run `make run` "
            "(it writes .env from .env.example) or copy .env.example to .env"
        )
    return value


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = required("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base for links we send out (preference centre, invitations).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The business's name as customers see it (pages, messages).
BUSINESS_NAME = env.str("BUSINESS_NAME", default="Demo Shop")

INSTALLED_APPS = [
    # The admin's theme (sidebar, dashboard, charts); before django.contrib.admin
    # so its templates win, and it makes admin.site an UnfoldAdminSite.
    "unfold",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The project package itself: deployment checks (config/checks.py).
    "config",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    # Swagger UI's files served from here, not a CDN (the CSP allows only 'self').
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "django_filters",
    "import_export",
    "django_celery_beat",
    # /health/: database, cache, broker and migrations (config/health.py).
    "health_check",
    "phonenumber_field",
    # What every app shares: storable input, the read-only admin, progress bars.
    "core",
    "contacts",
    "consent",
    # Contact files in, contacts and the ledger out: jobs on the `files` queue.
    "imports",
    # The consent conversation on WhatsApp: keywords, the one-tap opt-in, pending requests.
    "conversation",
    "whatsapp",
    "campaigns",
    "groups",
    "preferences",
    "api",
    "staff",
    # Webhooks out, the change feed, a person's own copy: listens to the apps above.
    "integrations",
    # The admin as a consent console: sidebar, dashboard, the admin's CSP additions.
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that could answer an /api/ request with an HTML page.
    "api.middleware.ApiErrorMiddleware",
    # A NUL in a page's or the admin's parameters is a 400, before anything queries with it.
    "api.middleware.UnstorableInputMiddleware",
    "console.middleware.AdminCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin pages in the staff user's time zone (their browser's, by a cookie).
    "console.middleware.StaffTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A worker, beat and the web server share one SQLite file in `make run`.
    # WAL lets readers run beside the one writer; a writer waits for the lock (busy
    # timeout) instead of failing, and takes it at BEGIN, so a long import in
    # short transactions never crashes beat or the worker with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# --- Cache (rate limits, API throttling) -------------------------------------
# Per process by default; production shares one Redis (deploy check config.E001).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Fails open with short timeouts: a cache outage never stops an opt-out.
    CACHES["default"]["BACKEND"] = "config.cache.FailOpenRedisCache"
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date format everywhere ("7 Dec 2026, 19:51"), in the reader's language.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Phones -----------------------------------------------------------------
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="GB")
PHONENUMBER_DEFAULT_REGION = DEFAULT_PHONE_REGION
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"
# Keyed hash of a phone: how an erased contact is still recognised.
# Required when DEBUG is off (system check config.E010): a changed SECRET_KEY
# must never make the suppression list forget an erased number. Rotating adds
# the old key to PHONE_HASH_PREVIOUS_KEYS (oldest first): see rotate_identity_hash_key.
PHONE_HASH_KEY = env.str("PHONE_HASH_KEY", default=SECRET_KEY if DEBUG else "")
PHONE_HASH_PREVIOUS_KEYS = env.list("PHONE_HASH_PREVIOUS_KEYS", default=[])
PHONE_HASH_NEXT_KEY = env.str("PHONE_HASH_NEXT_KEY", default="")

# --- Security (secure unless DEBUG) -----------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# "no-referrer" makes Chromium send `Origin: null` with every form post, which
# Django's CSRF check refuses (admin login included). "same-origin" still sends
# nothing, so no preference link, to any other site.
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# An uploaded file past IMPORT_MAX_FILE_MB is dropped as it arrives (never spooled to disk).
FILE_UPLOAD_HANDLERS = [
    "imports.uploads.SizeLimitedUpload",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Celery -----------------------------------------------------------------
# Without CELERY_BROKER_URL, a filesystem broker: no server needed (its folders are
# made when Celery first reads its configuration: config/celery.py).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must not hold a request: publish once, briefly, then leave the
# work to the sweeps (whatever was to be done is stored first).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
if CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1}
CELERY_TIMEZONE = TIME_ZONE
# Three queues, each with workers of its own (Procfile.dev; the README's production
# commands): `inbound` records what people sent us, opt-outs first, and is never held
# up by a campaign or a file; `files` runs imports and exports, which may take hours;
# everything else (sends, campaigns, housekeeping) stays on the default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
INBOUND_QUEUE, FILES_QUEUE = "inbound", "files"
CELERY_TASK_ROUTES = {
    "whatsapp.tasks.process_inbound_events": {"queue": INBOUND_QUEUE},
    "whatsapp.tasks.process_received_inbound_events": {"queue": INBOUND_QUEUE},
    "whatsapp.tasks.process_straggling_inbound_events": {"queue": INBOUND_QUEUE},
    # It processes stored inbound items before it requeues any message.
    "whatsapp.tasks.sweep_outbox": {"queue": INBOUND_QUEUE},
    "imports.tasks.check_contact_import": {"queue": FILES_QUEUE},
    "imports.tasks.run_contact_import": {"queue": FILES_QUEUE},
    "imports.tasks.run_export": {"queue": FILES_QUEUE},
    # On the workers that keep the files.
    "imports.tasks.expire_old_exports": {"queue": FILES_QUEUE},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # The template registry; the template webhooks keep it current between runs.
    "sync-message-templates": {
        "task": "whatsapp.tasks.sync_message_templates",
        "schedule": env.int("WHATSAPP_TEMPLATE_SYNC_SECONDS", default=60 * 60),
    },
    "expire-lapsed-legacy-consent": {
        "task": "consent.tasks.expire_lapsed_legacy_consent",
        "schedule": 60 * 60,
    },
    # Eligibility already refuses a lapsed call permission; the sweep records the ledger's
    # `expire` soon after, so history and tallies read it too.
    "expire-lapsed-call-permissions": {
        "task": "consent.tasks.expire_lapsed_call_permissions",
        "schedule": 5 * 60,
    },
    "expire-stale-opt-in-requests": {
        # conversation.tasks, under the name it had before the app was split off.
        "task": "consent.tasks.expire_stale_opt_in_requests",
        "schedule": 60 * 60,
    },
    # Daily, after midnight UTC: a chain deleted or truncated later is detectable.
    "seal-ledger": {
        "task": "consent.tasks.seal_ledger",
        "schedule": crontab(hour=0, minute=30),
    },
    "purge-expired-idempotency-records": {
        "task": "api.tasks.purge_expired_idempotency_records",
        "schedule": 6 * 60 * 60,
    },
    # At least as often as the outbox sweep (which also processes stored items first).
    "whatsapp-process-straggling-inbound-events": {
        "task": "whatsapp.tasks.process_straggling_inbound_events",
        "schedule": 30,
    },
    "whatsapp-sweep-outbox": {
        "task": "whatsapp.tasks.sweep_outbox",
        "schedule": 60,
    },
    "campaigns-resume-stalled": {
        "task": "campaigns.tasks.resume_stalled_campaigns",
        "schedule": 5 * 60,
    },
    "expire-group-invitations": {
        "task": "groups.tasks.expire_invitations",
        "schedule": 15 * 60,
    },
    "review-group-join-requests": {
        "task": "groups.tasks.review_join_requests",
        "schedule": 5 * 60,
    },
    # Export files older than EXPORT_RETENTION_DAYS are deleted; their jobs say "expired".
    "imports-expire-old-exports": {
        "task": "imports.tasks.expire_old_exports",
        "schedule": 60 * 60,
    },
    # The dashboard's figures are exact without it; folding keeps their tally tables small.
    "console-compact-tallies": {
        "task": "console.tasks.compact_tallies",
        "schedule": 60,
    },
    # Webhook deliveries whose task was lost (or whose retry is longer than a countdown).
    "integrations-sweep-webhook-deliveries": {
        "task": "integrations.tasks.sweep_webhook_deliveries",
        "schedule": 60,
    },
    "send-reconsent-reminders": {
        "task": "campaigns.tasks.send_reconsent_reminders",
        "schedule": crontab(hour=9, minute=0),
    },
}

# --- Webhooks out (integrations) ----------------------------------------------
# Private, loopback and link-local addresses (and plain http) only in development.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
# Exponential backoff with jitter between these; an endpoint failing this long is disabled.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=60 * 60)
WEBHOOK_GIVE_UP_AFTER_HOURS = env.float("WEBHOOK_GIVE_UP_AFTER_HOURS", default=72)
# A delivery due this long and held by no worker is sent again by the sweep.
WEBHOOK_SWEEP_GRACE_SECONDS = env.float("WEBHOOK_SWEEP_GRACE_SECONDS", default=60)
# How long the link to a person's own copy of their data (sent by WhatsApp) works.
PERSON_COPY_LINK_HOURS = env.float("PERSON_COPY_LINK_HOURS", default=24)

# --- Admin (django-unfold) ---------------------------------------------------
# The theme's login form carries no "next": land on the dashboard, not /accounts/profile/.
LOGIN_REDIRECT_URL = "admin:index"
UNFOLD = {
    "SITE_TITLE": "Consent CRM",
    "SITE_HEADER": "Consent CRM",
    "SITE_SYMBOL": "verified_user",
    # "View site": the public opt-in page (the site has no home page of its own).
    "SITE_URL": "/opt-in/",
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "type": "image/svg+xml",
            "href": lambda request: static("console/favicon.svg"),
        }
    ],
    "STYLES": [
        lambda request: static("console/theme.css"),
        lambda request: static("console/console.css"),
    ],
    "SCRIPTS": [lambda request: static("console/console.js")],
    "GLOBAL_CALLBACK": "console.theme.global_context",
    "DASHBOARD_CALLBACK": "console.dashboard.dashboard_context",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "console.navigation.sidebar",
    },
}

# --- Logging ----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Exports ----------------------------------------------------------------
# imports.spreadsheets escapes every formula trigger (= + - @ tab CR); the
# library's own switch only strips a leading '=', so it stays off.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

# --- Imports ----------------------------------------------------------------
# Files uploaded in the admin wait here until their import ends (the web process
# and the worker must share it: same machine, or a shared volume).
IMPORT_UPLOAD_DIR = env.path("IMPORT_UPLOAD_DIR", default=VAR_DIR / "imports")
# What a contact file may be (imports.limits); a file past any of them is
# refused with the reason, in the admin and in `import_contacts` alike.
# 50 MB: a CSV of 0.5-1 million rows (50-100 bytes a row); an XLSX of more (zipped).
IMPORT_MAX_FILE_MB = env.float("IMPORT_MAX_FILE_MB", default=50)
# Staff import up to millions of people; 2,000,000 rows on PostgreSQL take ~6 minutes.
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=2_000_000)
# Our own columns number ~20, plus attr:<key> columns.
IMPORT_MAX_COLUMNS = env.int("IMPORT_MAX_COLUMNS", default=200)
# Every column we store is 2,000 characters at most; a longer cell is not a contact's.
IMPORT_MAX_CELL_CHARS = env.int("IMPORT_MAX_CELL_CHARS", default=10_000)
# An XLSX part expanding more than this many times its compressed size is a zip bomb
# (Apache POI's threshold; ordinary sheets measure 10-20); nor may the workbook as a
# whole expand past IMPORT_XLSX_MAX_EXPANDED_MB (a 50 MB workbook: ~700 MB at 14:1).
IMPORT_XLSX_MAX_RATIO = env.int("IMPORT_XLSX_MAX_RATIO", default=100)
IMPORT_XLSX_MAX_EXPANDED_MB = env.int("IMPORT_XLSX_MAX_EXPANDED_MB", default=1024)
# Seconds a check or an import may run (soft: the job ends as failed, all or nothing;
# hard: the worker process is killed). 2,000,000 rows take ~6 minutes on PostgreSQL:
# an hour leaves a loaded machine room, and frees a worker from a runaway file. (The
# embedded SQLite default writes row by row, far slower: raise it there for big files.)
IMPORT_TASK_SOFT_TIME_LIMIT = env.int("IMPORT_TASK_SOFT_TIME_LIMIT", default=60 * 60)
IMPORT_TASK_TIME_LIMIT = env.int("IMPORT_TASK_TIME_LIMIT", default=65 * 60)
# Exports run on the same queue under the same two limits; finished files wait here
# for the staff user who asked (the web process and the worker must share it).
EXPORT_FILE_DIR = env.path("EXPORT_FILE_DIR", default=VAR_DIR / "exports")
# Days a written export file is kept (personal data at rest); then beat deletes it and
# its job reads "expired" (imports.export_jobs.expire_old_exports).
EXPORT_RETENTION_DAYS = env.int("EXPORT_RETENTION_DAYS", default=7)

# --- Consent ----------------------------------------------------------------
# A permissive event (grant, request, legacy) dated further ahead than this is
# refused (clock skew allowance); a restrictive one never is: its effective
# time is clamped to when we received it.
CONSENT_MAX_FUTURE_SKEW_SECONDS = 5 * 60
# An opt-out wins against a permissive answer less than this much later: sources
# stamp time coarsely (WhatsApp: whole seconds). See consent.ordering.
CONSENT_TIE_SECONDS = env.float("CONSENT_TIE_SECONDS", default=2.0)
# How the platform's marketing stop spreads across business numbers: "business" (a stop
# on any number stops all: the strict reading) or "number" (a stop binds the number it
# came through; eligibility and the send gate answer per number). consent.number_scope.
CONSENT_STOP_SCOPE = env.str("CONSENT_STOP_SCOPE", default="business")
if CONSENT_STOP_SCOPE not in ("business", "number"):
    raise ImproperlyConfigured("CONSENT_STOP_SCOPE must be 'business' or 'number'")

# --- WhatsApp Cloud API -----------------------------------------------------
# "console" writes outbound messages to the OutboundMessage table and the log;
# "cloud" sends them to the Graph API.
WHATSAPP_BACKEND = env.str("WHATSAPP_BACKEND", default="console")
WHATSAPP_API_BASE_URL = env.str("WHATSAPP_API_BASE_URL", default="https://graph.facebook.com")
WHATSAPP_API_VERSION = env.str("WHATSAPP_API_VERSION", default="v23.0")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_BUSINESS_ACCOUNT_ID = env.str("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
# The business's WhatsApp number as people see it, with its country code
# (+44 20 7946 0000). The opt-in page links to a chat with it, START typed in;
# unset, the page says to send START without a link.
WHATSAPP_DISPLAY_PHONE_NUMBER = env.str("WHATSAPP_DISPLAY_PHONE_NUMBER", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
# Signs the webhooks Meta sends (X-Hub-Signature-256), and answers its handshake.
WHATSAPP_APP_SECRET = required("WHATSAPP_APP_SECRET")
WHATSAPP_VERIFY_TOKEN = required("WHATSAPP_VERIFY_TOKEN")

# --- Customer pages (preference centre, web opt-in, invitation answers) -----
# No inline scripts or styles anywhere; pages that may be framed say so per view.
CONTENT_SECURITY_POLICY = {
    # Swagger UI's files come from drf-spectacular-sidecar (no CDN) and its template here has
    # no inline script or style; the page stays outside the policy until Swagger UI's own
    # run-time styling has been checked in a browser under it.
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
PREFERENCE_LINK_MAX_AGE_DAYS = env.int("PREFERENCE_LINK_MAX_AGE_DAYS", default=30)
PREFERENCE_UNDO_MINUTES = env.int("PREFERENCE_UNDO_MINUTES", default=10)
# The approved template that carries the preference link outside the 24-hour window.
PREFERENCE_LINK_TEMPLATE = env.str("PREFERENCE_LINK_TEMPLATE", default="preference_link")
# Approved utility template ({{1}} = the confirmation) for changes made outside
# the 24-hour window, when free text may not be sent.
PREFERENCE_CONFIRMATION_TEMPLATE = env.str(
    "PREFERENCE_CONFIRMATION_TEMPLATE", default="preference_change_confirmation"
)
# Origins (scheme://host[:port]) allowed to frame /opt-in/embed/.
OPTIN_EMBED_ORIGINS = env.list("OPTIN_EMBED_ORIGINS", default=[])
# A form sent back faster than this was not filled in by a person.
OPTIN_MIN_SUBMIT_SECONDS = env.int("OPTIN_MIN_SUBMIT_SECONDS", default=3)
OPTIN_FORM_MAX_AGE_SECONDS = env.int("OPTIN_FORM_MAX_AGE_SECONDS", default=24 * 60 * 60)
# Unconfirmed web opt-ins lapse back to "none" after this long.
OPTIN_PENDING_MAX_AGE_HOURS = env.int("OPTIN_PENDING_MAX_AGE_HOURS", default=72)
# How many proxies in front of the app append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# "<count>/<s|m|h|d>" per client IP, per preference link, per phone.
PAGES_RATE_LIMITS = {
    "preferences_ip": env.str("RATE_LIMIT_PREFERENCES_IP", default="120/h"),
    "preferences_token": env.str("RATE_LIMIT_PREFERENCES_TOKEN", default="60/h"),
    "optin_ip": env.str("RATE_LIMIT_OPTIN_IP", default="20/h"),
    "optin_phone": env.str("RATE_LIMIT_OPTIN_PHONE", default="3/h"),
}

# --- REST API -------------------------------------------------------------------
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
# Retries with the same Idempotency-Key are answered from storage this long (>= 24 h).
API_IDEMPOTENCY_TTL_SECONDS = max(
    env.int("API_IDEMPOTENCY_TTL_SECONDS", default=48 * 60 * 60), 24 * 60 * 60
)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    # "<count>/<second|minute|hour|day>" per API key.
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_THROTTLE_RATE", default="1200/minute"),
        "api_key_bulk": env.str("API_BULK_THROTTLE_RATE", default="60/minute"),
    },
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # DRF's JSON parser with a depth limit and finite numbers only (api/inputs.py).
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "api.errors.ApiExceptionHandler",
    # Never a traceback page, not even with DEBUG on: the error is logged instead.
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "ALLOWED_ERROR_STATUS_CODES": [
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "409",
        "413",
        "415",
        "429",
        "500",
    ],
    "ERROR_SCHEMAS": {
        "409": "api.schema.ErrorResponse409Serializer",
        "413": "api.schema.ErrorResponse413Serializer",
    },
}
_ERRORS = "drf_standardized_errors.openapi_serializers"
SPECTACULAR_SETTINGS = {
    "TITLE": "Consent CRM API",
    "DESCRIPTION": (
        "Record WhatsApp messaging consent and ask, at send time, whether a message may go "
        "out. Authenticate with `Authorization: Api-Key <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "api.schema.postprocess_item_error_attrs",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": f"{_ERRORS}.ValidationErrorEnum.choices",
        "ClientErrorEnum": f"{_ERRORS}.ClientErrorEnum.choices",
        "ServerErrorEnum": f"{_ERRORS}.ServerErrorEnum.choices",
        "ErrorCode401Enum": f"{_ERRORS}.ErrorCode401Enum.choices",
        "ErrorCode403Enum": f"{_ERRORS}.ErrorCode403Enum.choices",
        "ErrorCode404Enum": f"{_ERRORS}.ErrorCode404Enum.choices",
        "ErrorCode405Enum": f"{_ERRORS}.ErrorCode405Enum.choices",
        "ErrorCode406Enum": f"{_ERRORS}.ErrorCode406Enum.choices",
        "ErrorCode415Enum": f"{_ERRORS}.ErrorCode415Enum.choices",
        "ErrorCode429Enum": f"{_ERRORS}.ErrorCode429Enum.choices",
        "ErrorCode500Enum": f"{_ERRORS}.ErrorCode500Enum.choices",
        # Groups and campaigns take only the purposes we send messages under (never calls).
        "MessagePurposeEnum": "consent.rules.MESSAGE_PURPOSE_CHOICES",
        "ChangeTypeEnum": "integrations.models.ChangeType.choices",
        "PurposeEnum": "consent.rules.Purpose.choices",
        "StatusEnum": "consent.rules.Status.choices",
        "ActionEnum": "consent.rules.Action.choices",
        "SourceEnum": "consent.rules.Source.choices",
        "ApiSourceEnum": "consent.api.serializers.API_SOURCES",
        "InvitationAnswerSourceEnum": "groups.models.AnswerSource.choices",
    },
}

# --- WhatsApp channel ---------------------------------------------------------
WHATSAPP_HTTP_TIMEOUT = env.float("WHATSAPP_HTTP_TIMEOUT", default=10.0)
# Attempts per outbox row: rate limits, 5xx and refused connections are retried by
# the delivery task with exponential backoff (or the platform's Retry-After).
WHATSAPP_MAX_ATTEMPTS = env.int("WHATSAPP_MAX_ATTEMPTS", default=10)
# Messages per second per sending number, across all workers, for numbers without
# their own figure in the admin (Meta's default is 80; the most it grants is 1,000).
WHATSAPP_MESSAGES_PER_SECOND = env.int("WHATSAPP_MESSAGES_PER_SECOND", default=80)
# Redis holding the shared token bucket; default: the Celery broker when it is Redis.
# Empty: a bucket per process (the embedded one-worker set-up).
WHATSAPP_RATE_LIMIT_URL = env.str(
    "WHATSAPP_RATE_LIMIT_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "",
)
# A row still `sending` after this many seconds had its worker die mid-call: unknown.
WHATSAPP_SENDING_TIMEOUT = env.int("WHATSAPP_SENDING_TIMEOUT", default=120)
# A row still `queued` this many seconds after it was due is enqueued again by the sweep.
WHATSAPP_OUTBOX_REQUEUE_AFTER = env.int("WHATSAPP_OUTBOX_REQUEUE_AFTER", default=300)
# A webhook item still unprocessed this many seconds after it was stored (its task was
# lost: broker down, worker killed) is processed by the sweeps, the outbox's included.
WHATSAPP_INBOUND_SWEEP_AFTER = env.int("WHATSAPP_INBOUND_SWEEP_AFTER", default=10)
# A message held back because its recipient's STOP (or anything they sent) could not be
# processed yet is tried again this many seconds later.
WHATSAPP_HOLD_WAIT = env.int("WHATSAPP_HOLD_WAIT", default=30)
# Webhook bodies above this are refused with 413 before the signature is checked.
WHATSAPP_WEBHOOK_MAX_BODY = env.int("WHATSAPP_WEBHOOK_MAX_BODY", default=1024 * 1024)
# The approved template for the one-tap opt-in outside the 24-hour window: one body
# parameter per purpose asked (the notice text), then quick replies Yes / No.
# message_send_ttl_seconds of marketing templates sent through the Marketing Messages API
# (SendingNumber.marketing_messages_api): how long the platform may try to deliver them.
WHATSAPP_MARKETING_TTL_SECONDS = env.int("WHATSAPP_MARKETING_TTL_SECONDS", default=86400)
WHATSAPP_OPT_IN_TEMPLATE = env.str("WHATSAPP_OPT_IN_TEMPLATE", default="consent_opt_in")
# The approved template whose REQUEST_CONTACT_INFO button asks a person known only by a
# business-scoped id for their number (staff send it from the contact page).
WHATSAPP_CONTACT_REQUEST_TEMPLATE = env.str(
    "WHATSAPP_CONTACT_REQUEST_TEMPLATE", default="request_contact_info"
)
# Rows stored but never enqueued (broker down at the time) are processed by this sweep.

# --- Groups -----------------------------------------------------------------------
# How long an invitation can be answered, and how long after a decline before the
# same person may be invited to the same group again.
GROUP_INVITATION_TTL_DAYS = env.int("GROUP_INVITATION_TTL_DAYS", default=14)
GROUP_REINVITE_COOLDOWN_DAYS = env.int("GROUP_REINVITE_COOLDOWN_DAYS", default=30)
# Approved template used when the person is outside the 24 h window (params: group, link).
GROUP_INVITATION_TEMPLATE = env.str("GROUP_INVITATION_TEMPLATE", default="group_invitation")
# … and to send a WhatsApp group's invite link after acceptance (params: group, link).
GROUP_INVITE_LINK_TEMPLATE = env.str("GROUP_INVITE_LINK_TEMPLATE", default="group_invite_link")

# --- Campaigns --------------------------------------------------------------------
# Messages per send task (and per fan-out insert).
CAMPAIGN_SEND_BATCH_SIZE = env.int("CAMPAIGN_SEND_BATCH_SIZE", default=500)
# Contacts per fan-out INSERT … SELECT: one short transaction each, few round trips.
CAMPAIGN_FAN_OUT_CHUNK = env.int("CAMPAIGN_FAN_OUT_CHUNK", default=50_000)
