"""What both benchmarks share: the environment, databases, gunicorn, wrk, statistics."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
# BENCH_REDIS_URL: another Redis database (it is flushed), e.g. when db 6 is taken.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
# BENCH_DB_PREFIX: where several checkouts share one PostgreSQL, each its own databases.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench_")


def db_name(name: str) -> str:
    """A benchmark database's name: `name` after BENCH_DB_PREFIX (default "bench_")."""
    return f"{DB_PREFIX}{name}"


# The same server settings for every measurement made over HTTP, baselines included.
# BENCH_GUNICORN_ARGS (space-separated) replaces the worker settings, to compare configurations.
GUNICORN_WORKER_ARGS = os.environ.get(
    "BENCH_GUNICORN_ARGS", "--worker-class gthread --workers 3 --threads 4"
).split()
GUNICORN_ARGS = [
    *GUNICORN_WORKER_ARGS,
    "--backlog",
    "2048",
    "--log-level",
    "warning",
    "--no-control-socket",
]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.settings_env import BENCH_ENV  # noqa: E402


def bench_env(database: str) -> dict[str, str]:
    """The environment of every process of a benchmark run (server, commands, this one)."""
    env = dict(os.environ)
    env.update(BENCH_ENV)
    env["DATABASE_URL"] = f"{PG_SERVER}/{database}"
    env["CELERY_BROKER_URL"] = REDIS_URL
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    # Other apps' start-up warnings would drown the figures.
    env["PYTHONWARNINGS"] = "ignore"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def check_services() -> None:
    """Fail early, and clearly, when PostgreSQL or Redis is not there."""
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL is not reachable on 127.0.0.1:5432 as postgres: {exc}"
        ) from None
    from urllib.parse import urlsplit

    redis = urlsplit(REDIS_URL)
    host, port = redis.hostname or "127.0.0.1", redis.port or 6379
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                raise OSError("no PONG")
    except OSError as exc:
        raise SystemExit(f"Redis is not reachable on {where} (BENCH_REDIS_URL): {exc}") from None


def recreate_database(name: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _migrations_fingerprint() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def migrated_database(name: str, env: dict[str, str]) -> None:
    """`name` recreated, empty and migrated: copied from a migrated template database.

    Migrating from scratch took 15–35 s per benchmark that needs a fresh database; the
    template (`<prefix>template`) is migrated again only when a migration changes.
    """
    template = db_name("template")
    fingerprint = _migrations_fingerprint()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        found = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [template],
        ).fetchone()
    if found is None or found[0] != fingerprint:
        log(f"migrating the template database {template}")
        recreate_database(template)
        manage({**env, "DATABASE_URL": f"{PG_SERVER}/{template}"}, "migrate", "--noinput")
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{fingerprint}'")
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    """A free local port: from BENCH_PORTS ("8130-8139") when set, else any."""
    wanted = os.environ.get("BENCH_PORTS")
    if wanted:
        low, high = (int(p) for p in wanted.split("-"))
        for port in range(low, high + 1):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise SystemExit(f"no free port in BENCH_PORTS={wanted}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, ready_path: str = "/bench/bare/") -> Iterator[str]:
    """Run the project under gunicorn on a free local port; yield its base URL."""
    port = free_port()
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        *GUNICORN_ARGS,
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, port, ready_path)
        yield base
    finally:
        _stop(server)


def _wait_until_up(server: subprocess.Popen, port: int, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request)
                if sock.recv(64).split(b" ")[1:2] == [b"200"]:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    # Its own session: the signal reaches the master and its workers, nothing else.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: installing it with apt-get")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    done = subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-q", "wrk"], capture_output=True, text=True
    )
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "wrk is needed for the webhook benchmark and could not be installed "
            f"(apt-get install -y wrk):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return found


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "median_ms": statistics.median(values_ms),
        "p95_ms": percentile(values_ms, 95),
        "min_ms": min(values_ms),
        "max_ms": max(values_ms),
    }


def row_line(row: dict) -> str:
    """One bench row as one line: figure, same-run baseline, ratio, target and verdict."""
    unit = row.get("unit", "")
    return (
        f"{row['name']}: {row['figure']} {unit} vs {row['baseline']} "
        f"({row.get('baseline_label', 'baseline')}), ratio {row.get('ratio')}; "
        f"{row.get('target', '')}: {'meets' if row['met'] else 'MISSES'} "
        f"[load {row.get('load', '')}]"
    )


def print_rows(rows: list[dict], json_path: Path | None = None) -> None:
    """Print the rows (and write them to `json_path` when given)."""
    import json

    for row in rows:
        print(row_line(row), flush=True)
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2, default=str))


def hook_main(run, description: str, argv: list[str] | None = None) -> int:
    """The command line of a bench hook: `--scale N [--json FILE]`, the rows of `run(N)`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    print_rows(run(args.scale), args.json)
    return 0


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def round_trips(connection, fn) -> int:
    """How many times the client waited for PostgreSQL while `fn()` ran on `connection`
    (Django's): libpq's protocol trace, counting each turn from what the client sent to
    what the server answered. BEGIN and COMMIT count; a pipeline's statements sent
    together count once."""
    import tempfile

    from psycopg import pq

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            fn()
        finally:
            pgconn.untrace()
        trace.seek(0)
        sides = [line.split("\t", 1)[0] for line in trace.read().splitlines()]
    turns = zip(sides, sides[1:], strict=False)
    return sum(1 for before, after in turns if (before, after) == ("F", "B"))
