"""Folders reprints writes: locked while a run uses them, marked when reprints made them, outputs published as a set.

- **Locks.** A run holds an exclusive `flock` on `.reprints.lock` in its output folder and its work directory; a
  second run on either fails at once, naming the first (its process id, start time and command). The operating
  system releases the lock when the process ends, however it ends.
- **Markers.** A work directory reprints creates carries `.reprints-work`; reprints deletes a work directory only
  when it carries the marker, and refuses one that exists without it (unless empty).
- **Output sets.** Outputs are written to `.reprints-staging/` inside the output folder and moved into place
  together when the run succeeds; `summary.json` goes last and is the completion mark (it is removed first, so a
  folder interrupted while publishing holds no summary). A folder holds one complete run or none.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import IO

from reprints.engines.stopping import critical
from reprints.errors import OutputError

log = logging.getLogger(__name__)

LOCK = ".reprints.lock"
WORK_MARKER = ".reprints-work"
STAGING = ".reprints-staging"
OUTPUT_NAMES = ("pairs", "documents", "clusters", "deduplicated")
OUTPUT_FORMATS = ("jsonl", "parquet")


class Lock:
    """An exclusive lock on a folder, held until `release` (or the process ends)."""

    def __init__(self, folder: Path, purpose: str) -> None:
        self.path = folder / LOCK
        self._handle: IO[str] | None = None
        try:
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot lock {folder}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = _describe(handle.read())
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OutputError(
                    f"{folder} is in use by another reprints run ({holder}); wait for it to end, or use another "
                    f"{purpose}"
                ) from exc
            raise OutputError(f"cannot lock {folder}: {exc.strerror or exc}") from exc
        handle.seek(0)
        handle.truncate()
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        handle.write(json.dumps({"pid": os.getpid(), "started": started, "command": " ".join(sys.argv)}) + "\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let go of the lock (the lock file stays: removing it would race with a run taking it)."""
        handle, self._handle = self._handle, None  # first, so a second call (or one cut short) does nothing
        if handle is not None:
            with critical():
                with contextlib.suppress(OSError, ValueError):
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()


def _describe(content: str) -> str:
    try:
        holder = json.loads(content)
        return f"process {holder['pid']}, started {holder['started']}: {holder['command']}"
    except (ValueError, KeyError, TypeError):
        return "process unknown"


def fsync_folder(folder: Path) -> None:
    """Make renames inside `folder` durable."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def claim_work_dir(path: Path) -> bool:
    """Make `path` a work directory of reprints; returns whether reprints created the folder itself (in this run
    or the interrupted run it resumes), so that it may delete the folder, not only what it wrote there.

    Raises:
        OutputError: `path` is a file, or a folder that is not empty and was not made by reprints.
    """
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"--work-dir {path} is not a folder; name a new folder for checkpoints")
    marker = path / WORK_MARKER
    if marker.exists():
        try:
            return bool(json.loads(marker.read_text(encoding="utf-8")).get("created", False))
        except (OSError, ValueError, AttributeError):
            return False
    if path.exists() and any(path.iterdir()):
        raise OutputError(
            f"--work-dir {path} exists and was not made by reprints; it is left untouched: name a new or empty "
            "folder for checkpoints"
        )
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        note = {"created": created, "what": "reprints work directory: checkpoints, deleted after a run"}
        marker.write_text(json.dumps(note) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write to --work-dir {path}: {exc.strerror or exc}") from exc
    return created


def clear_work_dir(path: Path, *, remove_folder: bool) -> None:
    """Delete what reprints wrote in its work directory (only if it carries the marker); the folder itself too
    when reprints created it. The lock file stays while the lock is held and goes with the folder."""
    if not (path / WORK_MARKER).exists():
        return
    for entry in path.iterdir():
        if entry.name in (LOCK, WORK_MARKER):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    if remove_folder:
        shutil.rmtree(path, ignore_errors=True)


def staging_folder(out: Path) -> Path:
    """An empty staging folder inside `out` for this run's outputs (a killed run's leftovers are removed)."""
    staging = out / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def publish(staging: Path, out: Path) -> None:
    """Move every output from `staging` into `out`, `summary.json` last; earlier outputs of another format go.

    `summary.json` is removed first: until the new one lands, the folder says it holds no complete run.
    """
    with critical():  # a few renames: let them finish
        _publish(staging, out)


def _publish(staging: Path, out: Path) -> None:
    summary = out / "summary.json"
    with contextlib.suppress(FileNotFoundError):
        summary.unlink()
    fsync_folder(out)
    written = {entry.name for entry in staging.iterdir()}
    for name in OUTPUT_NAMES:
        for fmt in OUTPUT_FORMATS:
            stale = out / f"{name}.{fmt}"
            if stale.name not in written:
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
    for name in sorted(written - {"summary.json"}):
        os.replace(staging / name, out / name)
    fsync_folder(out)
    if "summary.json" in written:
        os.replace(staging / "summary.json", summary)
        fsync_folder(out)
    shutil.rmtree(staging, ignore_errors=True)
