"""Settings for `make bench`: the project's own settings, production-like, plus a timer.

Every value the benchmarks depend on is set here explicitly (before the project
settings read the environment), so the server and the load generator agree.
"""

import os

from bench.settings_env import BENCH_ENV

for _name, _value in BENCH_ENV.items():
    os.environ.setdefault(_name, _value)

from config.settings import *  # noqa: E402, F403
from config.settings import MIDDLEWARE as _MIDDLEWARE  # noqa: E402
from config.settings import REST_FRAMEWORK as _REST_FRAMEWORK  # noqa: E402

ROOT_URLCONF = "bench.urls"
# Outermost, so the time covers every middleware, the view and the rendering.
MIDDLEWARE = ["bench.middleware.ServerTimeMiddleware", *_MIDDLEWARE]
# The benchmarks measure the work of a request, not the rate limit.
REST_FRAMEWORK = {
    **_REST_FRAMEWORK,
    "DEFAULT_THROTTLE_CLASSES": [],
    # In case a view names its throttles itself.
    "DEFAULT_THROTTLE_RATES": {
        scope: "1000000000/second" for scope in _REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    },
}
# Nothing here serves static files; the manifest storage would need collectstatic first.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
