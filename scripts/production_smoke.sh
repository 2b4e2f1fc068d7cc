#!/usr/bin/env bash
# The production set-up, once: DEBUG=false, collected static files, gunicorn with its
# config file, Celery workers (inbound; the rest), then what a user and an integration
# do first.
# Needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis); used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${SMOKE_PORT:-8765}"
BASE="http://127.0.0.1:$PORT"
export DEBUG=false
export SECRET_KEY="smoke-$(head -c 32 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')-secret-value"
export ALLOWED_HOSTS=127.0.0.1,localhost
export CACHE_URL="${SMOKE_CACHE_URL:-redis://127.0.0.1:6379/14}"
export PHONE_HASH_KEY=smoke-phone-hash-key
export WHATSAPP_APP_SECRET=smoke-app-secret WHATSAPP_VERIFY_TOKEN=smoke-verify
# Plain HTTP on loopback stands in for the TLS proxy in front of production.
export SECURE_SSL_REDIRECT=false

mkdir -p var
.venv/bin/python manage.py migrate --noinput >/dev/null
.venv/bin/python manage.py collectstatic --noinput >/dev/null
.venv/bin/python manage.py check --deploy --fail-level ERROR >/dev/null

.venv/bin/gunicorn -c config/gunicorn.conf.py --bind "127.0.0.1:$PORT" config.wsgi \
    >var/smoke-gunicorn.log 2>&1 &
WEB=$!
# As in production: a worker of its own for what people send us (the signed STOP below
# is processed there), and one for sends, housekeeping and files.
.venv/bin/celery -A config worker -Q inbound -n smoke-inbound@%h --concurrency=1 \
    --loglevel=WARNING >var/smoke-inbound.log 2>&1 &
INBOUND=$!
.venv/bin/celery -A config worker -Q celery,files -n smoke-worker@%h --concurrency=1 \
    --loglevel=WARNING >var/smoke-worker.log 2>&1 &
WORKER=$!
trap 'kill $WEB $INBOUND $WORKER 2>/dev/null || true; wait $WEB $INBOUND $WORKER 2>/dev/null || true' EXIT

for _ in $(seq 60); do curl -fs -o /dev/null "$BASE/admin/login/" && break; sleep 0.5; done

expect() {  # expect CODE URL [curl args…]
    local want=$1 url=$2; shift 2
    local got
    got=$(curl -s -o /tmp/smoke-body -w '%{http_code}' "$@" "$url")
    if [ "$got" != "$want" ]; then
        echo "smoke: $url answered $got, expected $want"; head -c 600 /tmp/smoke-body; echo
        exit 1
    fi
}

expect 200 "$BASE/admin/login/"
# The theme's stylesheet, under its collected (hashed) name, and served.
css=$(grep -o '/static/unfold/css/styles\.[0-9a-f]*\.css' /tmp/smoke-body | head -1)
[ -n "$css" ] || { echo "smoke: the admin theme's CSS is not linked"; exit 1; }
expect 200 "$BASE$css"
expect 200 "$BASE/health/" -H 'Accept: application/json'

KEY=$(.venv/bin/python manage.py create_api_key smoke --scopes consent:read,consent:write 2>/dev/null)
expect 200 "$BASE/api/v1/notices/" -H "Authorization: Api-Key $KEY"

.venv/bin/python scripts/sign_and_post.py samples/whatsapp_stop.json \
    --url "$BASE/webhooks/whatsapp/" --secret "$WHATSAPP_APP_SECRET" >/dev/null
for _ in $(seq 60); do
    expect 200 "$BASE/api/v1/eligibility/?phone=%2B447911123001&purpose=marketing" \
        -H "Authorization: Api-Key $KEY"
    grep -q '"opted_out"' /tmp/smoke-body && break
    sleep 0.5
done
grep -q '"opted_out"' /tmp/smoke-body || { echo "smoke: the signed STOP was not processed"; cat /tmp/smoke-body; exit 1; }
echo "smoke: admin, health, API and a signed webhook processed by the worker under DEBUG=false"
