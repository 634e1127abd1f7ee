"""Progress of a sweep: one rich bar per cell (meta-training iterations, then the scored steps of
meta-test), used by the CLI and, by default, by `run_experiment` in the Python API."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ProgressEvent", "ProgressSink", "RichBars", "rich_progress"]

ProgressEvent = tuple[str, str, int, int]
"""(cell key, phase, completed, total): "train" counts meta-training iterations, "test" the adaptation
steps k = 0..K scored on all test tasks, "done" is (1, 1)"""
ProgressSink = Callable[[ProgressEvent], None]


class RichBars:
    """A `ProgressSink` drawing one rich progress bar per cell."""

    def __init__(self, progress: Any) -> None:
        self.progress, self.bars = progress, {}

    def __call__(self, event: ProgressEvent) -> None:
        key, phase, completed, total = event
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(key, total=total)
        description = {"train": f"{key}: meta-train", "test": f"{key}: meta-test", "done": f"{key}: done"}[phase]
        self.progress.update(self.bars[key], description=description, completed=completed, total=total)


@contextlib.contextmanager
def rich_progress(console: Any = None) -> Iterator[RichBars]:
    """Live rich bars for the duration of the block (on `console`, default rich's stderr console)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console or Console(stderr=True)) as progress:
        yield RichBars(progress)
