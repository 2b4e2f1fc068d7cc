"""Sign a WhatsApp webhook payload file like Meta does and POST it to the webhook.

    .venv/bin/python scripts/sign_and_post.py samples/whatsapp_stop.json

The signature is `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the exact bytes
sent, keyed with WHATSAPP_APP_SECRET>`. By default every `timestamp` becomes
"now" and every message id gets a fresh suffix, so a re-run is a new message
(not a duplicate, not older than the contact's latest answer); --as-is sends
the file byte for byte.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


def refresh(node, now: str, suffix: str):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "timestamp":
                out[key] = now if isinstance(value, str) else int(now)
            elif key == "id" and isinstance(value, str) and value.startswith("wamid."):
                out[key] = f"{value}.{suffix}"
            else:
                out[key] = refresh(value, now, suffix)
        return out
    if isinstance(node, list):
        return [refresh(item, now, suffix) for item in node]
    return node


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("payload", help="a JSON file in Meta's webhook shape")
    parser.add_argument("--url", default="http://127.0.0.1:8000/webhooks/whatsapp/")
    parser.add_argument("--secret", default=os.environ.get("WHATSAPP_APP_SECRET", "dev-app-secret"))
    parser.add_argument("--as-is", action="store_true", help="send the file unchanged")
    args = parser.parse_args()
    if not args.url.startswith(("http://", "https://")):
        parser.error("--url must be an http(s) URL")

    with open(args.payload, "rb") as f:
        body = f.read()
    if not args.as_is:
        payload = refresh(json.loads(body), str(int(time.time())), uuid.uuid4().hex[:8])
        body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        args.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            print(response.status, response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
