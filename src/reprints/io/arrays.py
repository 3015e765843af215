"""Checkpoint files: named NumPy arrays saved atomically, so a killed run never leaves a half-written one."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """Write arrays to `path` (`.npz`) through a temporary file renamed into place."""
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("wb") as handle:
        named: dict[str, Any] = {name: np.asarray(value) for name, value in arrays.items()}
        np.savez(handle, **named)
    os.replace(temporary, path)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays saved at `path`, or None if there is no such checkpoint."""
    if not path.exists():
        return None
    with np.load(path) as saved:
        return {name: saved[name] for name in saved.files}


def save_dataclass(path: Path, value: DataclassInstance) -> None:
    """Save a dataclass whose fields are arrays or numbers."""
    save_arrays(path, {f.name: getattr(value, f.name) for f in fields(value)})


def load_dataclass(path: Path, kind: type[T]) -> T | None:
    """Load a dataclass saved by `save_dataclass`, or None if there is no such checkpoint."""
    arrays = load_arrays(path)
    if arrays is None:
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
