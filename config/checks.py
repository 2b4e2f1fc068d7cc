"""Deployment checks: settings that are fine on a laptop and wrong in production."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches, deploy=True)
def shared_cache_in_production(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Rate limits and API throttling live in the cache: one per process counts nothing."""
    if settings.DEBUG:
        return []
    backend = settings.CACHES["default"]["BACKEND"]
    if backend in PER_PROCESS_CACHES:
        return [
            Error(
                "CACHE_URL is per-process memory while DEBUG is off",
                hint="Set CACHE_URL to Redis (redis://host:6379/1) so every web process "
                "shares rate limits and throttling.",
                id="config.E001",
            )
        ]
    return []


@register(Tags.security)
def phone_hash_key_in_production(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Suppression after erasure is a keyed hash: its key must be set on purpose."""
    if settings.DEBUG or settings.PHONE_HASH_KEY:
        return []
    return [
        Error(
            "PHONE_HASH_KEY is not set while DEBUG is off",
            hint="Set PHONE_HASH_KEY to a long random secret kept apart from SECRET_KEY; "
            "changing it later is a rotation (manage.py rotate_identity_hash_key).",
            id="config.E010",
        )
    ]


@register()
def import_time_limits(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The hard limit must follow the soft one: it is what ends a job stuck past it. Imports
    and exports (the `files` queue) run under the same two limits."""
    soft, hard = settings.IMPORT_TASK_SOFT_TIME_LIMIT, settings.IMPORT_TASK_TIME_LIMIT
    if 0 < soft < hard:
        return []
    return [
        Error(
            f"IMPORT_TASK_TIME_LIMIT ({hard}) must be above IMPORT_TASK_SOFT_TIME_LIMIT ({soft}), "
            "and both above 0",
            hint="At the soft limit an import or an export ends itself as failed; the hard limit "
            "kills a task stuck past it (Celery's prefork pool arms it only once the soft one "
            "has passed). Both apply to imports and exports alike.",
            id="config.E020",
        )
    ]
