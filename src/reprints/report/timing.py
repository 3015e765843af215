"""Wall time per stage, and this process's CPU time per stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

Clock = tuple[float, float]  # wall seconds and this process's CPU seconds, at one moment (`StageTimer.clock`)


class StageTimer:
    """Accumulates, per stage name in the order stages first ran, wall-clock seconds and the CPU seconds of this
    process (all its threads; not its workers': with an engine's workers or executors, what the main process or the
    driver itself spends)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        began = self.clock()
        try:
            yield
        finally:
            self.add_since(stage, began)

    @staticmethod
    def clock() -> Clock:
        """Now, as `add_since` takes it."""
        return time.perf_counter(), time.process_time()

    def add_since(self, stage: str, began: Clock) -> None:
        """Count the time since `began` (`clock`) against `stage`."""
        wall, cpu = self.clock()
        self.add(stage, wall - began[0], cpu - began[1])

    def add(self, stage: str, seconds: float, cpu: float = 0.0) -> None:
        """Count `seconds` more (and `cpu` seconds of this process) against `stage`."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu

    def rounded(self) -> dict[str, float]:
        """Seconds per stage, to the millisecond, with the total."""
        return _rounded(self.seconds)

    def cpu_rounded(self) -> dict[str, float]:
        """This process's CPU seconds per stage, to the millisecond, with the total."""
        return _rounded(self.cpu)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    out = {stage: round(value, 3) for stage, value in values.items()}
    out["total"] = round(sum(values.values()), 3)
    return out
