"""Checkpoint files: named NumPy arrays saved atomically, so a killed run never leaves a half-written one; and
letting go of the pages of memory-mapped arrays."""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import zipfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
log = logging.getLogger(__name__)


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """Write arrays to `path` (`.npz`) through a temporary file renamed into place."""
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("wb") as handle:
        named: dict[str, Any] = {name: np.asarray(value) for name, value in arrays.items()}
        np.savez(handle, **named)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays saved at `path`, or None if there is no such checkpoint (or it is damaged: then it is deleted
    with a warning, to be computed again)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as saved:
            return {name: saved[name] for name in saved.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("discarding damaged checkpoint %s (%s); computing it again", path, exc)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def save_dataclass(path: Path, value: DataclassInstance) -> None:
    """Save a dataclass whose fields are arrays or numbers."""
    save_arrays(path, {f.name: getattr(value, f.name) for f in fields(value)})


def load_dataclass(path: Path, kind: type[T]) -> T | None:
    """Load a dataclass saved by `save_dataclass`, or None if there is no such checkpoint."""
    arrays = load_arrays(path)
    if arrays is None:
        return None
    if any(f.name not in arrays for f in fields(kind)):
        log.warning("discarding checkpoint %s of another layout; computing it again", path)
        path.unlink(missing_ok=True)
        return None
    values = {f.name: arrays[f.name] if arrays[f.name].ndim else arrays[f.name].item() for f in fields(kind)}
    return kind(**values)


def checkpointed(path: Path, kind: type[T], compute: Callable[[], T]) -> tuple[T, bool]:
    """The dataclass checkpointed at `path` if there is one, else `compute()` saved there; and whether it was
    loaded."""
    done = load_dataclass(path, kind)
    if done is not None:
        return done, True
    value = compute()
    save_dataclass(path, value)
    return value, False


def drop_pages(*arrays: Any) -> None:
    """Drop the pages of memory-mapped arrays (or views of them) from this process's resident set; they stay in
    the operating system's file cache. Arrays held in memory are left alone."""
    for array in arrays:
        base = array
        while base is not None and not hasattr(base, "_mmap"):
            base = getattr(base, "base", None)
        mapping = getattr(base, "_mmap", None)
        if mapping is not None:
            with contextlib.suppress(OSError, ValueError):
                mapping.madvise(mmap.MADV_DONTNEED)
