"""`make bench`: every benchmark in one run, one table, bench/results/latest.json.

The 1,000,000-contact database (`bench_1m`, bench/dataset.py) is built once and reused
by the following runs; `--scale 100000` (`make bench-small`) does the same at 100 k in a
few minutes. Each benchmark runs in its own process, once the machine has settled after
the previous one (CHECKPOINT, load below 1, two minutes at most), and prints its detailed report;
the table at the end puts every figure next to the baseline measured in the same run,
with its target and whether it is met, and the load average when it was measured.

Every row carries: name, figure, unit, baseline, baseline_label, baseline_method (how
the floor was measured: the fastest way the database or the language alone does the
same work), ratio (how many times the floor's cost ours is: time over time, or the floor's rate
over ours),
target, met, load (the 1-, 5- and 15-minute load averages when measured) and scale.
When the other scale's results exist (latest.json for 1 M, latest-100000.json for
100 k), `growth` compares eligibility, webhook, preview, verify, import and the proof
bundle at both.

The figures are only as quiet as the machine: run on a machine at load ≤ 2 with
nothing else running, `make bench-small` first (about 5 minutes; it writes the 100 k
side of the growth table), then `make bench` (about 20–25 minutes once bench_1m
exists; building it adds a few minutes the first time).

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on
127.0.0.1:6379 (or BENCH_REDIS_URL; its database is flushed, db 6 by default).
Databases: bench_1m / bench_100k (kept), bench_webhook (recreated), and whatever
bench/import_contacts.py and bench/send_throughput.py use; BENCH_DB_PREFIX replaces
"bench_" in every name. BENCH_PORTS="8130-8139" keeps gunicorn within a port range.
Installs wrk with apt-get when it is missing. Exit status: non-zero when a benchmark
fails or a webhook delivery is lost; a missed target is reported, not an error.
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

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import PG_SERVER, PYTHON, check_services, loadavg  # noqa: E402
from bench.dataset import database_name  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# Benchmarks other issues own: `run(scale) -> list[dict]` rows, run when the file exists.
HOOKS = {
    "import": "bench/import_contacts.py",
    "send": "bench/send_throughput.py",
    "seal": "bench/seal.py",
    "admin": "bench/admin_console.py",
    "templates": "bench/template_sync.py",
    "integrations": "bench/integrations.py",
}
SECTIONS = ("eligibility", "webhook", "scale", *HOOKS)


def _env() -> dict[str, str]:
    # Other apps' start-up warnings would drown the figures.
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


# Between sections: the previous one's writes (a million-row import, a fan-out) leave
# PostgreSQL flushing and vacuuming for a while; the next section is measured once the
# machine is quiet again, as a section run alone would be.
SETTLE_LOAD = 1.0
# At most this long per section (BENCH_SETTLE_SECONDS): 2 minutes at 1 M, 20 s at 100 k,
# whose sections leave little behind (on a busy machine the wait was half the run).
SETTLE_MAX_SECONDS = {"big": 120, "small": 20}
settle_max = SETTLE_MAX_SECONDS["big"]


def settle() -> None:
    started = time.time()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    while time.time() - started < settle_max:
        if os.getloadavg()[0] < SETTLE_LOAD:
            break
        time.sleep(5)
    print(f"[settled in {time.time() - started:.0f} s, load {loadavg()}]", flush=True)


def run_script(script: str, json_path: Path, extra: list[str], *, nice: bool = False):
    settle()
    command = [PYTHON, str(ROOT / "bench" / script), "--json", str(json_path), *extra]
    if nice:
        command = ["nice", "-n", "10", *command]
    done = subprocess.run(command, cwd=ROOT, env=_env())
    if not json_path.exists():
        print(f"{script} failed (exit {done.returncode}); see its output above.", file=sys.stderr)
        return None
    return json.loads(json_path.read_text())


def run_hook(name: str, path: str, scale: int, json_path: Path) -> list[dict] | None:
    settle()
    module = path.removesuffix(".py").replace("/", ".")
    code = (
        "import json, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'bench.settings');"
        f"from {module} import run; rows = run({scale});"
        f"open({str(json_path)!r}, 'w').write(json.dumps(rows, default=str))"
    )
    done = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=_env())
    if not json_path.exists():
        print(f"{path} failed (exit {done.returncode}); see above.", file=sys.stderr)
        return None
    return json.loads(json_path.read_text())


def row(name, figure, unit, baseline, baseline_label, target, met, ratio=None, **extra):
    """A table row; `ratio` is figure / baseline unless given (for a rate: baseline / figure)."""
    if ratio is None and baseline:
        ratio = figure / baseline
    return {
        "name": name,
        "figure": round(figure, 4) if isinstance(figure, float) else figure,
        "unit": unit,
        "baseline": round(baseline, 4) if isinstance(baseline, float) else baseline,
        "baseline_label": baseline_label,
        "ratio": None if ratio is None else round(ratio, 2),
        "target": target,
        "met": met,
        "load": loadavg(),
        **extra,
    }


SINGLE_TARGET_MS, SINGLE_TARGET_RATIO = 1.0, 5.0
BULK_TARGET_RATIO = 1.5
WEBHOOK_TARGET_SHARE = 0.5


def eligibility_rows(result: dict) -> list[dict]:
    floor, http, inproc = result["floor"], result["http"], result["in_process"]
    single, f_single = http["single_server"], floor["single"]
    bulk, f_bulk = http["bulk_server"], floor["bulk"]
    queries = inproc["single_queries"]
    load = " ".join(f"{x:.2f}" for x in result["load_average_at_start"])
    single_ratio = single["median_ms"] / f_single["median_ms"]
    bulk_ratio = bulk["median_ms"] / f_bulk["median_ms"]
    rows = [
        row("eligibility GET (gunicorn), server median", single["median_ms"], "ms",
            f_single["median_ms"], "bare indexed lookup by phone_hash, ms",
            f"< {SINGLE_TARGET_MS:g} ms and ≤ {SINGLE_TARGET_RATIO:g}× bare",
            single["median_ms"] < SINGLE_TARGET_MS and single_ratio <= SINGLE_TARGET_RATIO,
            baseline_method="psycopg, one connection, the prepared SELECT of the contact "
            "and its state by phone_hash (keyed hashes computed beforehand), median",
            p95_ms=single["p95_ms"], in_process_ms=inproc["single_server"]["median_ms"]),
        row(f"eligibility bulk POST {result['bulk_size']:,} (gunicorn), server median",
            bulk["median_ms"], "ms", f_bulk["median_ms"], "bare unnest-join query, ms",
            f"≤ {BULK_TARGET_RATIO:g}× bare", bulk_ratio <= BULK_TARGET_RATIO,
            baseline_method="psycopg: one SELECT joining unnest(the hashes) to contacts on "
            "the phone_hash index and their states (hashes computed beforehand), median"),
        row("eligibility GET, SQL queries per request", queries["max"], "queries", 1,
            "bare SQL: 1 query", "constant", queries["min"] == queries["max"],
            baseline_method="the lookup alone; ours adds the API key's standing (revoked, "
            "expiry, scopes) by primary key", bulk_queries=inproc["bulk_queries"]),
    ]  # fmt: skip
    rows += sending_number_rows(inproc.get("sending_number"))
    for r in rows:
        r["load"] = load
    return rows


NUMBER_TARGET_RATIO = 1.10


def sending_number_rows(measured: dict | None) -> list[dict]:
    """Issue 25: eligibility asked for a business number, beside the same without one."""
    if not measured:
        return []
    rows = []
    for kind, label in (("single", "GET"), ("bulk", "bulk POST")):
        ours, base = measured[f"{kind}_number"]["median_ms"], measured[kind]["median_ms"]
        rows.append(
            row(f"eligibility {label} with sending_number (stop scope number), server median",
                ours, "ms", base, "the same without sending_number, ms",
                f"≤ {NUMBER_TARGET_RATIO:.2f}× without", ours <= base * NUMBER_TARGET_RATIO,
                baseline_method="Django's test client in-process, the same questions "
                "alternating with and without the number, medians")
        )  # fmt: skip
    return rows


def webhook_rows(result: dict) -> list[dict]:
    s = result["summary"]
    share = s["webhook_rps"] / s["bare_rps"]
    return [
        row("webhook POST (gunicorn), throughput", s["webhook_rps"], "req/s", s["bare_rps"],
            "bare Django view, req/s",
            f"≥ {WEBHOOK_TARGET_SHARE:g} of the bare view's rate (ratio ≤ "
            f"{1 / WEBHOOK_TARGET_SHARE:g}×), nothing lost",
            share >= WEBHOOK_TARGET_SHARE and s["nothing_lost"], ratio=1 / share,
            baseline_method="a view answering 200 through the same middleware stack, same "
            "gunicorn settings and wrk load, no database, no broker",
            p99_ms=s["webhook_ms"]["p99"], stored=s["stored"], sent=s["sent"]),
    ]  # fmt: skip


# Workloads whose cost is compared between 100 k and 1 M contacts: (key, name prefix,
# per_request). A per-request figure should stay flat; a whole-data one grow at most
# as the data does.
GROWTH = (
    ("eligibility GET", "eligibility GET (gunicorn)", True),
    ("eligibility bulk", "eligibility bulk POST", True),
    ("webhook POST", "webhook POST", True),
    ("preview, whole audience", "preview, whole audience", False),
    ("verify_ledger, 1 worker", "verify_ledger --workers 1", False),
    ("import, the scale's file", "import {scale:,} rows (contact", False),
    ("proof bundle", "proof bundle", True),
)
RATES = ("req/s", "rows/s", "events/s", "msg/s")


def growth(small: dict, big: dict) -> list[dict]:
    """Each GROWTH workload at both scales: how much its cost grew beside the data."""
    data = big["scale"] / small["scale"]
    found = []
    for key, prefix, per_request in GROWTH:
        pair = []
        for result in (small, big):
            wanted = prefix.format(scale=result["scale"])
            pair.append(next((r for r in result["rows"] if r["name"].startswith(wanted)), None))
        if None in pair or not all(r.get("figure") for r in pair):
            continue
        low, high = pair
        cost = high["figure"] / low["figure"]
        if low.get("unit") in RATES:
            # A rate: the cost of one unit is its inverse; of all the data, that times the data.
            cost = (1 / cost) if per_request else data / cost
        allowed = 1.5 if per_request else data * 1.1
        found.append(
            {
                "workload": key,
                "unit": low.get("unit"),
                f"at {small['scale']:,}": low["figure"],
                f"at {big['scale']:,}": high["figure"],
                "cost_growth": round(cost, 2),
                "data_growth": round(data, 1),
                "target": "flat (≤ 1.5×)" if per_request else f"≤ the data's {data:g}×",
                "met": cost <= allowed,
                "load": f"{low.get('load')} / {high.get('load')}",
            }
        )
    return found


def growth_table(rows: list[dict]) -> str:
    if not rows:
        return "growth: run both scales (make bench-small, make bench) to compare"
    scales = [k for k in rows[0] if k.startswith("at ")]
    headers = ("workload", *scales, "cost growth", "target", "met", "load")
    lines = [
        (
            r["workload"],
            *(_cell(r[s], r.get("unit") or "") for s in scales),
            f"{r['cost_growth']:.2f}× (data {r['data_growth']:g}×)",
            r["target"],
            "yes" if r["met"] else "NO",
            r["load"],
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [headers, *lines]) for i in range(len(headers))]
    out = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("-|-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=True)) for x in lines]
    return "\n".join(out)


def _section(name: str, rows: list[dict]) -> list[dict]:
    for r in rows:
        r["section"] = name
    return rows


def _cell(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def table(rows: list[dict]) -> str:
    headers = ("benchmark", "ours", "baseline (same run)", "ratio", "target", "met", "load")
    lines = [
        (
            r["name"],
            _cell(r["figure"], r.get("unit", "")),
            f"{_cell(r['baseline'])} ({r.get('baseline_label', '')})"
            if r.get("baseline") is not None
            else r.get("baseline_label", "—"),
            "—" if r.get("ratio") is None else f"{r['ratio']:.2f}×",
            r.get("target", ""),
            {True: "yes", False: "NO", None: "—"}[r.get("met")],
            r.get("load", ""),
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [headers, *lines]) for i in range(len(headers))]
    out = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("-|-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=True)) for x in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000, help="contacts (default 1 M)")
    parser.add_argument("--only", action="append", choices=SECTIONS)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the dataset first")
    args = parser.parse_args(argv)
    check_services()
    sections = args.only or list(SECTIONS)
    small = args.scale < 1_000_000
    global settle_max
    settle_max = int(
        os.environ.get("BENCH_SETTLE_SECONDS", SETTLE_MAX_SECONDS["small" if small else "big"])
    )
    started, load_start = time.time(), loadavg()
    rows: list[dict] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp_dir = Path(tmp)
        dataset = None
        if {"eligibility", "scale"} & set(sections):
            dataset = run_script(
                "dataset.py", tmp_dir / "dataset.json",
                ["--scale", str(args.scale), *(["--rebuild"] if args.rebuild else [])],
                nice=True,
            )  # fmt: skip
            failed |= dataset is None
        if "eligibility" in sections and dataset:
            extra = ["--database", database_name(args.scale), "--reuse"]
            extra += ["--contacts", str(args.scale)]
            if small:
                extra += ["--samples", "500", "--rounds", "3"]
            result = run_script("eligibility.py", tmp_dir / "eligibility.json", extra)
            failed |= result is None
            rows += _section("eligibility", eligibility_rows(result) if result else [])
        if "webhook" in sections:
            extra = ["--duration", "4", "--rounds", "1"] if small else []
            result = run_script("webhook.py", tmp_dir / "webhook.json", extra)
            failed |= result is None or not result["summary"]["nothing_lost"]
            rows += _section("webhook", webhook_rows(result) if result else [])
        if "scale" in sections and dataset:
            result = run_script("scale.py", tmp_dir / "scale.json", ["--scale", str(args.scale)])
            failed |= result is None
            rows += _section("scale", result or [])
        for name, path in HOOKS.items():
            if name not in sections:
                continue
            if not (ROOT / path).exists():
                rows.append(
                    row(f"{name}: hook — {path} is not there yet", 0, "", None,
                        "run(scale) -> rows, when it exists", "", None)
                )  # fmt: skip
                continue
            result = run_hook(name, path, args.scale, tmp_dir / f"{name}.json")
            failed |= result is None
            rows += _section(name, result or [])
    for r in rows:
        r.setdefault("scale", args.scale)
        r.setdefault("baseline_method", r.get("baseline_label"))
    summary = {
        "scale": args.scale,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started),
        "load_at_start": load_start,
        "load_at_end": loadavg(),
        "cpus": os.cpu_count(),
        "dataset": dataset,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "latest.json" if not small else f"latest-{args.scale}.json"
    if args.only and (RESULTS / name).exists():
        # A partial run replaces its own sections' rows and keeps the others'.
        kept = json.loads((RESULTS / name).read_text())
        if kept.get("scale") == args.scale:
            earlier = [r for r in kept["rows"] if r.get("section") not in sections]
            order = {section: i for i, section in enumerate(SECTIONS)}
            rows = sorted([*earlier, *rows], key=lambda r: order.get(r.get("section"), 99))
            summary["rows"] = rows
            summary["partial"] = f"{', '.join(sections)} rerun; the other rows of {kept['started']}"
    other = RESULTS / ("latest-100000.json" if not small else "latest.json")
    if other.exists():
        them = json.loads(other.read_text())
        if them.get("scale") and them["scale"] != args.scale:
            pair = sorted((summary, them), key=lambda result: result["scale"])
            summary["growth"] = growth(*pair)
            summary["growth_against"] = f"bench/results/{other.name} of {them.get('started')}"
    (RESULTS / name).write_text(json.dumps(summary, indent=2, default=str))
    print()
    print(
        f"{args.scale:,} contacts; {summary['seconds']} s; load average {load_start} at start, "
        f"{summary['load_at_end']} at end ({os.cpu_count()} CPUs). Written to bench/results/{name}"
    )
    print(table(rows))
    print()
    print(growth_table(summary.get("growth", [])))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
