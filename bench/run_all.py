"""`make bench`: both benchmarks, then one compact table of figures and ratios.

Each benchmark runs in its own process (its own database and settings) and prints its
detailed report; the table at the end puts every figure next to the baseline measured
in the same run. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and
Redis on 127.0.0.1:6379; uses the databases bench_eligibility and bench_webhook (dropped
and recreated) and Redis db 6 (flushed). Installs wrk with apt-get when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import PYTHON, check_services  # noqa: E402


def run_benchmark(script: str, json_path: Path, extra: list[str]) -> dict | None:
    command = [PYTHON, str(ROOT / "bench" / script), "--json", str(json_path), *extra]
    # Other apps' start-up warnings would drown the figures.
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if not json_path.exists():
        print(f"{script} failed (exit {done.returncode}); see its output above.", file=sys.stderr)
        return None
    return json.loads(json_path.read_text())


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def table(eligibility: dict | None, webhook: dict | None) -> str:
    rows: list[tuple[str, str, str, str, str]] = []
    if eligibility:
        floor, http, inproc = eligibility["floor"], eligibility["http"], eligibility["in_process"]
        single, f_single = http["single_server"], floor["single"]
        bulk, f_bulk = http["bulk_server"], floor["bulk"]
        bulk_ratio = bulk["median_ms"] / f_bulk["median_ms"]
        queries = inproc["single_queries"]
        rows += [
            (
                "eligibility GET, server median",
                f"{single['median_ms']:.2f} ms",
                f"{f_single['median_ms']:.2f} ms bare SQL",
                f"{single['median_ms'] / f_single['median_ms']:.1f}×",
                f"< 5 ms: {_verdict(single['median_ms'] < 5)}",
            ),
            (
                "eligibility GET, server p95",
                f"{single['p95_ms']:.2f} ms",
                f"{f_single['p95_ms']:.2f} ms bare SQL",
                f"{single['p95_ms'] / f_single['p95_ms']:.1f}×",
                "",
            ),
            (
                "eligibility GET, SQL queries",
                f"{queries['min']}" if queries["min"] == queries["max"]
                else f"{queries['min']}–{queries['max']}",
                "1 bare SQL",
                "",
                f"constant: {_verdict(queries['min'] == queries['max'])}",
            ),
            (
                f"bulk POST {eligibility['bulk_size']:,}, server median",
                f"{bulk['median_ms']:.0f} ms",
                f"{f_bulk['median_ms']:.0f} ms one = ANY",
                f"{bulk_ratio:.1f}×",
                f"< 250 ms: {_verdict(bulk['median_ms'] < 250)}; "
                f"≤ 4×: {_verdict(bulk_ratio <= 4)}",
            ),
            (
                f"bulk POST {eligibility['bulk_size']:,}, SQL queries",
                str(inproc["bulk_queries"]),
                "1 bare SQL",
                "",
                "",
            ),
        ]  # fmt: skip
    if webhook:
        s = webhook["summary"]
        rows += [
            (
                "webhook POST, throughput",
                f"{s['webhook_rps']:.0f} req/s",
                f"{s['bare_rps']:.0f} req/s bare view",
                f"{s['ratio']:.2f}",
                f"≥ 500 req/s: {_verdict(s['webhook_rps'] >= 500)}",
            ),
            (
                "webhook POST, latency p50 / p99",
                f"{s['webhook_ms']['p50']:.1f} / {s['webhook_ms']['p99']:.1f} ms",
                f"{s['bare_ms']['p50']:.1f} / {s['bare_ms']['p99']:.1f} ms",
                f"{s['webhook_ms']['p50'] / s['bare_ms']['p50']:.1f}×",
                "",
            ),
            (
                "webhook, stored rows / sent",
                f"{s['stored']:,} / {s['sent']:,}",
                f"{s['enqueued']:,} enqueued",
                "",
                "nothing lost" if s["nothing_lost"] else "MISMATCH",
            ),
        ]
    headers = ("figure", "measured", "baseline (same run)", "ratio", "target")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the eligibility and webhook benchmarks.")
    parser.add_argument("--only", choices=["eligibility", "webhook"])
    parser.add_argument(
        "--quick", action="store_true", help="100,000 contacts and short runs (a smoke test)"
    )
    args = parser.parse_args(argv)
    check_services()
    eligibility_args = ["--contacts", "100000", "--samples", "500", "--rounds", "3"]
    webhook_args = ["--duration", "4", "--rounds", "1"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        eligibility = webhook = None
        if args.only in (None, "eligibility"):
            eligibility = run_benchmark(
                "eligibility.py", Path(tmp) / "eligibility.json",
                eligibility_args if args.quick else [],
            )  # fmt: skip
        if args.only in (None, "webhook"):
            webhook = run_benchmark(
                "webhook.py", Path(tmp) / "webhook.json", webhook_args if args.quick else []
            )
    print()
    print(f"Summary ({time.monotonic() - started:.0f} s; figures vary between runs and machines)")
    print(table(eligibility, webhook))
    failed = (args.only != "webhook" and eligibility is None) or (
        args.only != "eligibility" and (webhook is None or not webhook["summary"]["nothing_lost"])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
