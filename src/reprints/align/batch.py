"""Align a batch of candidate pairs: the unit of work an engine hands to a worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reprints.align.chain import MatchIndex, Regions, align, coverage
from reprints.io.arrays import batch_file, load_arrays, save_arrays
from reprints.normalize.tokens import I64


@dataclass(frozen=True, slots=True)
class AlignedBatch:
    """Regions of a batch of pairs, and how many tokens of each side they cover."""

    a: I64
    b: I64
    regions: Regions
    covered_a: I64
    covered_b: I64


def align_batch(
    index: MatchIndex, a: I64, b: I64, *, shingle_size: int, min_passage: int, max_gap: int
) -> AlignedBatch:
    """Align the pairs `(a[p], b[p])` of a batch."""
    regions = align(index, a, b, shingle_size=shingle_size, min_passage=min_passage, max_gap=max_gap)
    covered_a, covered_b = coverage(regions, len(a))
    return AlignedBatch(a, b, regions, covered_a, covered_b)


def save_aligned(path: Path, batch: AlignedBatch) -> None:
    """Checkpoint an aligned batch."""
    r = batch.regions
    save_arrays(
        path,
        {
            "a": batch.a,
            "b": batch.b,
            "covered_a": batch.covered_a,
            "covered_b": batch.covered_b,
            "pair": r.pair,
            "a_start": r.a_start,
            "a_end": r.a_end,
            "b_start": r.b_start,
            "b_end": r.b_end,
        },
    )


def load_aligned(path: Path) -> AlignedBatch | None:
    """An aligned batch checkpointed by `save_aligned`, or None."""
    arrays = load_arrays(path)
    if arrays is None:
        return None
    regions = Regions(arrays["pair"], arrays["a_start"], arrays["a_end"], arrays["b_start"], arrays["b_end"])
    return AlignedBatch(arrays["a"], arrays["b"], regions, arrays["covered_a"], arrays["covered_b"])


@dataclass(frozen=True, slots=True)
class AlignTask:
    """A picklable aligner over a match index saved in `index_folder` (see `Corpus.save_index`).

    Each batch is checkpointed in `checkpoints` as `NNNNNN.arrays`; a batch already there is loaded, not aligned.
    """

    index_folder: Path
    checkpoints: Path
    shingle_size: int
    min_passage: int
    max_gap: int

    def __call__(self, task: tuple[int, I64, I64]) -> tuple[AlignedBatch, bool]:
        from reprints.fingerprint.corpus import load_index

        number, a, b = task
        checkpoint = batch_file(self.checkpoints, number)
        done = load_aligned(checkpoint)
        if done is not None:
            return done, True
        index = load_index(self.index_folder)
        batch = align_batch(
            index,
            np.asarray(a),
            np.asarray(b),
            shingle_size=self.shingle_size,
            min_passage=self.min_passage,
            max_gap=self.max_gap,
        )
        save_aligned(checkpoint, batch)
        return batch, False
