"""Work split across forked processes, each with its own database connection.

The one way the application runs a pass across processes (whole-ledger verification and
state rebuilds); the import pipeline's pool of pure-Python workers never touches the
database and lives with the pipeline.
"""

import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections

Progress = Callable[[int], None] | None


def run_forked(
    task: Callable[..., Any], parts: Sequence[dict[str, Any]], on_progress: Progress
) -> list:
    """`task(on_progress=…, **part)` for each part, each in a forked process; results in order.

    A child's progress is passed on to `on_progress`; a child that fails raises here with
    its traceback.
    """
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    # A forked child must not share the parent's socket: each opens its own.
    connections.close_all()
    processes = [
        context.Process(target=_child, args=(task, i, part, messages), daemon=True)
        for i, part in enumerate(parts)
    ]
    for process in processes:
        process.start()
    results: dict[int, Any] = {}
    try:
        while len(results) < len(processes):
            kind, index, payload = messages.get()
            if kind == "progress":
                if on_progress:
                    on_progress(payload)
            elif kind == "done":
                results[index] = payload
            else:
                raise RuntimeError(f"worker {index} failed:\n{payload}")
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    return [results[i] for i in range(len(processes))]


def _child(task: Callable[..., Any], index: int, part: dict[str, Any], messages: Any) -> None:
    try:
        result = task(on_progress=lambda n: messages.put(("progress", index, n)), **part)
        messages.put(("done", index, result))
    except BaseException:
        messages.put(("error", index, traceback.format_exc()))
    finally:
        connections.close_all()
