"""Align a batch of candidate pairs: the unit of work an engine hands to a worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reprints.align.chain import MatchIndex, Regions, align, coverage
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


@dataclass(frozen=True, slots=True)
class AlignTask:
    """A picklable aligner over a match index saved in `folder` (see `Corpus.save_index`)."""

    folder: Path
    shingle_size: int
    min_passage: int
    max_gap: int

    def __call__(self, pairs: tuple[I64, I64]) -> AlignedBatch:
        from reprints.fingerprint.corpus import load_index

        a, b = pairs
        index = load_index(self.folder)
        return align_batch(
            index,
            np.asarray(a),
            np.asarray(b),
            shingle_size=self.shingle_size,
            min_passage=self.min_passage,
            max_gap=self.max_gap,
        )
