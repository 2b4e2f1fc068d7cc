"""gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Anything else (bind, workers, threads) may be given on the command line or through
gunicorn's environment variables (`GUNICORN_CMD_ARGS`, `WEB_CONCURRENCY`, `PORT`).

Request limits: gunicorn answers a request over its own limits itself, with an HTML
page, before Django sees it; under /api/ every answer must be the JSON error shape.
So gunicorn's limits sit above the ones Django enforces (api/middleware.py: URL and
each header at most 8,190 bytes, at most 100 headers, which are gunicorn's defaults),
and Django answers 414 / 431 in JSON.
"""

# 0 = no limit of gunicorn's own on the request line: its largest finite limit is its
# default (8,190 bytes), so any finite value would leave gunicorn answering long URLs
# with HTML. Django refuses URLs over 8,190 bytes with 414 in JSON. On a network where
# clients can send arbitrarily long request lines, bound them at the proxy in front.
limit_request_line = 0
# Twice the headers and four times the header size Django accepts: a request just over
# Django's limits reaches Django; only a grossly oversized one meets gunicorn's 431.
limit_request_fields = 200
limit_request_field_size = 32768
