"""The work directory: checkpoints of finished work, so that a run killed at any stage can resume.

Layout::

    manifest.json           inputs (path, size, modification time) and every parameter that shapes results
    tokens/NNNNNN.npz       one per batch of the reading pass: tokens and lines
    boilerplate.npy         the learned boilerplate line keys
    fingerprint/NNNNNN.npz  one per batch: shingles, anchors, the match table
    candidates.npz          candidate pairs
    align/NNNNNN.npz        one per alignment batch
    verify/NNNNNN.npz       one per batch of pairs aligned to link clusters to their canonical member
    index/                  the match index, for worker processes to map (rebuilt on every run)

A checkpoint is written under a temporary name and renamed, so one that exists is complete. Resuming with
other inputs or parameters is refused: the checkpoints would not match.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from reprints.errors import ReprintsError

log = logging.getLogger(__name__)


class ResumeError(ReprintsError):
    """The work directory was made by a run with other inputs or parameters."""


def input_manifest(files: list[Path], parameters: dict[str, Any]) -> dict[str, Any]:
    """What a work directory's checkpoints depend on."""
    inputs = []
    for path in files:
        stat = path.stat() if path.exists() else None
        inputs.append([str(path.resolve()), stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return {"format": 1, "inputs": inputs, "parameters": parameters}


class WorkDir:
    """Checkpoint folders of one run."""

    def __init__(self, path: Path, manifest: dict[str, Any], *, resume: bool) -> None:
        self.path = path
        self.resumed = False
        written = path / "manifest.json"
        if resume and written.exists():
            before = json.loads(written.read_text(encoding="utf-8"))
            if before != json.loads(json.dumps(manifest)):
                changed = [key for key in ("inputs", "parameters") if before.get(key) != manifest.get(key)]
                raise ResumeError(
                    f"cannot resume from {path}: the {' and '.join(changed) or 'format'} changed since "
                    "that run; run without --resume to start over"
                )
            self.resumed = True
            log.info("resuming from %s", path)
        else:
            if resume:
                log.warning("%s holds no earlier run; starting from the beginning", path)
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            temporary = path / ".manifest.json.partial"
            temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            temporary.replace(written)
        for folder in ("tokens", "fingerprint", "align", "verify", "index"):
            (path / folder).mkdir(exist_ok=True)

    def batch(self, stage: str, number: int) -> Path:
        """Checkpoint path of one batch of a stage."""
        return self.path / stage / f"{number:06d}.npz"

    @property
    def candidates(self) -> Path:
        """Checkpoint path of the candidate pairs."""
        return self.path / "candidates.npz"

    @property
    def index(self) -> Path:
        """Folder of the match index files."""
        return self.path / "index"

    def remove(self) -> None:
        """Delete the work directory (after a successful run)."""
        shutil.rmtree(self.path, ignore_errors=True)
