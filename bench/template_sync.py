"""Template registry sync: 5,000 templates from the fake Graph API, target < 10 s.

- sync: `whatsapp.message_templates.sync_templates` against tests/whatsapp/fake_graph.py
  serving 5,000 templates in pages of 100 (50 GETs over real HTTP), into an empty
  registry (every row new), then again (every row compared, nothing changed); the
  rows are deleted afterwards, so runs repeat on the shared dataset;
- baseline, same run: reading the same 50 pages through the same Graph client, without
  the database (what the network and JSON cost alone).

Run alone: .venv/bin/python bench/template_sync.py --scale 100000 [--json f]
(the scale only picks the database; the template count is fixed).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, hook_main, loadavg, log
from bench.dataset import database_name

TEMPLATES = 5_000
TARGET_S = 10.0
WABA = "bench-waba-templates"


def run(scale: int) -> list[dict]:
    os.environ.update(bench_env(database_name(scale)))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tests.factories import template_listing_item
    from tests.whatsapp.fake_graph import FakeGraph
    from whatsapp.client import CloudGraph
    from whatsapp.message_templates import SYNC_PAGE_SIZE, sync_templates
    from whatsapp.models import WhatsAppTemplate

    call_command("migrate", "--noinput", verbosity=0)
    fake = FakeGraph().start()
    fake.templates = [template_listing_item(f"bench_{n:05d}", n=n) for n in range(TEMPLATES)]
    client = CloudGraph(
        base_url=fake.base_url, api_version=settings.WHATSAPP_API_VERSION, access_token="bench"
    )
    try:
        log(f"template sync: bare paged read of {TEMPLATES:,} templates (load {loadavg()})")
        start = time.perf_counter()
        listing = client.list_templates(WABA, page_size=SYNC_PAGE_SIZE)
        bare_s = time.perf_counter() - start
        WhatsAppTemplate.objects.filter(waba_id=WABA).delete()
        log(f"template sync: sync_templates, empty registry (load {loadavg()})")
        start = time.perf_counter()
        first = sync_templates(waba_id=WABA, client=client)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = sync_templates(waba_id=WABA, client=client)
        again_s = time.perf_counter() - start
    finally:
        WhatsAppTemplate.objects.filter(waba_id=WABA).delete()
        client.close()
        fake.stop()
    return [
        {
            "name": f"template sync {TEMPLATES:,} templates, {first.pages} pages (all new)",
            "figure": round(first_s, 3),
            "unit": "s",
            "baseline": round(bare_s, 3),
            "baseline_label": "the same pages read without the database, s",
            "ratio": round(first_s / bare_s, 2) if bare_s else None,
            "target": f"< {TARGET_S:.0f} s",
            "met": first_s < TARGET_S and first.created == len(listing.templates) == TEMPLATES,
            "load": loadavg(),
            "resync_unchanged_s": round(again_s, 3),
            "resync_unchanged": again.unchanged,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    return hook_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
