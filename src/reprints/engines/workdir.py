"""The work directory: checkpoints of finished work, so that a run killed at any stage can resume.

Layout::

    .reprints-work          the marker: reprints made this folder and may delete what is in it
    .reprints.lock          locked while a run uses the folder (`reprints.io.folders.Lock`)
    manifest.json           inputs (path, size, modification time) and every parameter that shapes results
    checksums.json          a checksum of each batch of records the reading pass read (`reprints.io.verify`)
    reading/NNNNNN.arrays   one per batch of the reading pass: its lines, document hashes and sketches
    tokens/NNNNNN.arrays    one per batch of the reading pass: tokens and lines, deleted once fingerprinted
    boilerplate.npy         the learned boilerplate line keys
    index/                  the fingerprints of every document (offsets, the match index, anchors), appended
                            batch by batch; `index/progress.json` records the batches in it (the fingerprint
                            pass's checkpoint: see `reprints.fingerprint.corpus.CorpusWriter`)
    candidates.arrays       candidate pairs
    align/NNNNNN.arrays     one per alignment batch
    verify/NNNNNN.arrays    one per batch of pairs aligned to link clusters to their canonical member
    results/<map>/          large task results on their way from a worker to this process (`reprints.engines.spill`),
                            removed when their map ends

The work directory holds at most the token checkpoints of the batches not yet fingerprinted plus the index:
each batch's tokens are deleted as it enters the index.

A checkpoint is written under a temporary name, flushed to disk and renamed, so one that exists is complete; one
that cannot be read all the same (a disk fault) is discarded with a warning and recomputed. Resuming with other
inputs or parameters is refused: the checkpoints would not match. A folder that exists without the marker is
never used (nor deleted), unless it is empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from reprints.errors import InputError, ReprintsError
from reprints.io.arrays import CHECKPOINT, batch_file
from reprints.io.folders import LOCK, WORK_MARKER, Lock, claim_work_dir, clear_work_dir
from reprints.io.verify import file_states
from reprints.io.writers import write_json

log = logging.getLogger(__name__)


class ResumeError(ReprintsError):
    """The work directory was made by a run with other inputs or parameters."""


def input_manifest(files: list[Path], parameters: dict[str, Any]) -> dict[str, Any]:
    """What a work directory's checkpoints depend on."""
    return {"format": 8, "inputs": file_states(files), "parameters": parameters}


def _changes(before: dict[str, Any], now: dict[str, Any], shown: int = 3) -> str:
    """What differs between two manifests, for the user: each parameter changed with its two values, the inputs
    added, removed or changed (a few named), or the format."""
    said = []
    old, new = before.get("parameters") or {}, now.get("parameters") or {}
    names = sorted(name for name in {*old, *new} if old.get(name) != new.get(name))
    if names:
        values = ", ".join(f"{name} {old.get(name)!r} -> {new.get(name)!r}" for name in names[:shown])
        said.append(f"the parameters changed ({values}{', ...' if len(names) > shown else ''})")
    if before.get("inputs") != now.get("inputs"):
        states = {str(state[0]): state for state in before.get("inputs") or [] if state}
        current = {str(state[0]): state for state in now.get("inputs") or [] if state}
        kinds = (
            ("added", [name for name in current if name not in states]),
            ("removed", [name for name in states if name not in current]),
            ("changed", [name for name in current if name in states and current[name] != states[name]]),
        )
        listed = [
            f"{kind}: {', '.join(files[:shown])}{', ...' if len(files) > shown else ''}"
            for kind, files in kinds
            if files
        ]
        said.append(f"the inputs changed ({'; '.join(listed) or 'their order'})")
    if before.get("format") != now.get("format"):
        said.append(f"the work directory's format changed ({before.get('format')} -> {now.get('format')})")
    return " and ".join(said) or "the work directory's manifest changed"


class WorkDir:
    """Checkpoint folders of one run, locked while it runs."""

    def __init__(self, path: Path, manifest: dict[str, Any], *, resume: bool) -> None:
        self.path = path
        self.resumed = False
        self.created = claim_work_dir(path)
        self.lock = Lock(path, "--work-dir")
        written = path / "manifest.json"
        before = _read_json(written) if resume else None
        if before is not None:
            now = json.loads(json.dumps(manifest))  # (as it reads back: lists, not tuples)
            if before != now:
                self.lock.release()
                raise ResumeError(
                    f"cannot resume from {path}: {_changes(before, now)} since that run; run without --resume to "
                    "start over"
                )
            self.resumed = True
            log.info("resuming from %s", path)
        else:
            if resume:
                log.warning("%s holds no earlier run; starting from the beginning", path)
            clear_work_dir(path, remove_folder=False)
            write_json(written, manifest)
        for folder in ("reading", "tokens", "align", "verify", "index"):
            (path / folder).mkdir(exist_ok=True)

    def check_checksums(self, checksums: list[int]) -> None:
        """Save the reading pass' batch checksums, or check them against those of the run being resumed.

        Raises:
            InputError: an input read differently from the interrupted run's reading.
        """
        saved = self.path / "checksums.json"
        before = _read_json(saved)
        if before is not None and before.get("checksums") != checksums:
            raise InputError(
                f"the inputs changed since the interrupted run in {self.path} (their records differ); "
                "run without --resume to start over"
            )
        if before is None:
            write_json(saved, {"checksums": checksums})

    def release(self) -> None:
        """Let go of the work directory's lock."""
        self.lock.release()

    close = release

    def batch(self, stage: str, number: int) -> Path:
        """Checkpoint path of one batch of a stage."""
        return batch_file(self.path / stage, number)

    @property
    def candidates(self) -> Path:
        """Checkpoint path of the candidate pairs."""
        return self.path / f"candidates{CHECKPOINT}"

    @property
    def index(self) -> Path:
        """Folder of the match index files."""
        return self.path / "index"

    @property
    def pages(self) -> Path:
        """The pages extracted by the reading pass, for the writing pass (`reprints.io.pages`)."""
        return self.path / "pages.jsonl"

    def remove(self) -> None:
        """Delete what the run wrote in its work directory (after a successful run), and the folder if the run
        made it."""
        clear_work_dir(self.path, remove_folder=self.created)
        if not self.created:
            for name in (WORK_MARKER, LOCK):
                with contextlib.suppress(OSError):
                    (self.path / name).unlink()
        self.release()


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON checkpoint, or None if there is none or it is damaged (then with a warning)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("discarding damaged checkpoint %s (%s)", path, exc)
        return None
    return value if isinstance(value, dict) else None
