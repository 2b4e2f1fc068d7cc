"""A progress bar for long management commands, shown only on a terminal."""

import contextlib
from collections.abc import Callable, Iterator
from typing import TextIO, cast

from django.core.management.base import OutputWrapper
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(
    label: str, total: int, stream: TextIO | OutputWrapper
) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; draws on `stream` when it is a terminal, else does nothing."""
    # A command's OutputWrapper keeps the real text stream in `_out`.
    console = Console(file=cast(TextIO, getattr(stream, "_out", stream)))
    if not console.is_terminal:
        yield lambda n: None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total or None)
        yield lambda n: progress.advance(task, n)
