"""The environment of a benchmark run, shared by the server settings and the scripts."""

BENCH_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-not-for-production",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/bench_eligibility",
    "CONN_MAX_AGE": "600",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/6",
    "PHONE_HASH_KEY": "bench-phone-hash-key",
    "WHATSAPP_APP_SECRET": "bench-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_HSTS_SECONDS": "0",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "LOG_LEVEL": "WARNING",
}
