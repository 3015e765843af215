"""Wall time per stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates wall-clock seconds per stage name, in the order stages first ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - began)

    def add(self, stage: str, seconds: float) -> None:
        """Count `seconds` more against `stage`."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        """Seconds per stage, to the millisecond, with the total."""
        out = {stage: round(value, 3) for stage, value in self.seconds.items()}
        out["total"] = round(sum(self.seconds.values()), 3)
        return out
