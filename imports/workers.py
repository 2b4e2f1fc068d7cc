"""Running the CPU-bound stages of an import across processes.

Normalising phones (libphonenumber's parse and validity check) and hashing
the chain are pure Python and most of an import's cost. A pool of forked
processes does them batch by batch, in order, while this process reads the
file, talks to the database and streams COPY data. Workers never touch the
database: they leave with os._exit, so the parent's connection is safe.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.pool import Pool


class Workers:
    """`ordered_map` in a pool of `count` processes, or in this one when count <= 1."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pool: Pool | None = None

    def __enter__(self) -> Workers:
        if self.count > 1 and "fork" in multiprocessing.get_all_start_methods():
            try:
                self.pool = multiprocessing.get_context("fork").Pool(self.count)
            except (AssertionError, OSError):
                # A daemonic process (a Celery prefork child) may not have children.
                self.pool = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def ordered_map(
        self, function: Callable[..., Any], argument_tuples: Iterable[tuple]
    ) -> Iterator[Any]:
        """function(*args) for each, in order.

        The arguments are produced here, in the calling thread (they may come
        from this thread's database connection, inside its transaction), with
        a few batches in flight so every worker stays busy.
        """
        if self.pool is None:
            yield from (function(*args) for args in argument_tuples)
            return
        pending: deque = deque()
        for args in argument_tuples:
            pending.append(self.pool.apply_async(function, args))
            if len(pending) > 2 * self.count:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
