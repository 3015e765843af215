"""Task results handed over through files instead of a pipe or a result channel.

A worker's result (a fingerprinted batch is about 20 bytes a token; a batch of output rows, its text) is pickled
with its arrays' bytes kept out of the pickle (protocol 5), and written to a file: the pickle, then each array's
bytes at an offset that is a multiple of 64. The reader reads each array's bytes into a buffer of its own and
unpickles the arrays over them. Against a pipe (64 KB at a time, each side waiting on the other) that is about half
the time and CPU, for both processes; against Spark's result channel, it keeps `spark.driver.maxResultSize`
out of the way.

The local engine's workers also hand over every result, and every failure, that would not go through the pool's
pipe in one write() this way (`SPILL_FROM`): a worker killed while writing a longer message to the pipe leaves part
of it there, and the pool's reader then waits for the rest forever instead of finding a worker gone. A write of
at most PIPE_BUF bytes to a pipe is written whole or not at all (POSIX).
"""

from __future__ import annotations

import io
import os
import pickle
import select
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprints.io.arrays import ALIGN

_WORD = 8

# Bytes of a pickled result from which the local engine hands it over through a file: what the pool's pipe takes
# in one write, less room for the pool's own wrapping of a result (a few hundred bytes).
SPILL_FROM = max(0, getattr(select, "PIPE_BUF", 512) - 1024)


def _pickled(value: Any) -> tuple[bytes, list[memoryview]]:
    """`value` pickled, and the bytes of the arrays it holds (kept out of the pickle)."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return head, [buffer.raw() for buffer in buffers]


def write_spill(head: bytes, raws: list[memoryview], folder: Path) -> Path:
    """A pickle and its arrays' bytes (`_pickled`) written to a new file of `folder`; its path."""
    path = folder / f"{uuid.uuid4().hex}.spill"
    sizes = b"".join(raw.nbytes.to_bytes(_WORD, "little") for raw in raws)
    lead = len(head).to_bytes(_WORD, "little") + len(raws).to_bytes(_WORD, "little") + sizes + head
    with path.open("wb") as handle:
        handle.write(lead)
        at = len(lead)
        for raw in raws:
            handle.write(bytes(-at % ALIGN))
            handle.write(raw)
            at += -at % ALIGN + raw.nbytes
    return path


def spill(value: Any, folder: Path) -> Path:
    """`value` written to a new file of `folder` (read back by `unspill`); the file's path."""
    return write_spill(*_pickled(value), folder)


def unspill(path: Path) -> Any:
    """The value `spill` wrote at `path`; the file is deleted. Each of its arrays has a buffer of its own, writable:
    an array the caller keeps keeps only its own bytes (views of one buffer for the whole value would keep all of
    it, as the reading pass's kept per-document arrays once kept their whole batch).

    Raises:
        OSError: the file cannot be read, or it is shorter than it says.
    """
    try:
        with path.open("rb") as handle:
            head_size, count = (int.from_bytes(_exactly(handle, _WORD), "little") for _ in range(2))
            sizes = [int.from_bytes(_exactly(handle, _WORD), "little") for _ in range(count)]
            head = _exactly(handle, head_size)
            buffers = []
            for size in sizes:
                handle.seek(-handle.tell() % ALIGN, os.SEEK_CUR)
                buffers.append(_exactly(handle, size))
    finally:
        path.unlink(missing_ok=True)
    return pickle.loads(head, buffers=buffers)


def _exactly(handle: io.BufferedReader, size: int) -> bytearray:
    """The next `size` bytes of `handle`, in a buffer of their own.

    Raises:
        OSError: the file ends before them.
    """
    data = bytearray(size)
    if handle.readinto(data) != size:
        raise OSError(f"{handle.name} is shorter than it says")
    return data


@dataclass(frozen=True, slots=True)
class Spilled:
    """What a worker returns in place of a large result: the file `spill` left it in."""

    path: Path


@dataclass(frozen=True, slots=True)
class Pickled:
    """What a worker returns in place of a small result: the result already pickled (to learn its size), sent
    through the pipe as bytes rather than pickled a second time."""

    head: bytes
    raws: tuple[bytearray, ...]  # writable: the arrays unpickled from them are too


class RemoteTraceback(Exception):
    """Where a task failed in its worker: the cause of its exception, raised again by `received` (as the process
    pool itself shows it)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Raised:
    """A task's failure, handed over as a result: its exception and its traceback in the worker, as text."""

    error: BaseException
    traceback: str


class Spilling:
    """A picklable wrapper that hands a task's result, or its failure (a `Raised`), over through a file of `folder`
    unless it is short (`SPILL_FROM` bytes pickled; a `Spilled`), and pickled through the pipe otherwise (a
    `Pickled`); `received` takes either."""

    def __init__(self, function: Any, folder: Path) -> None:
        self.function = function
        self.folder = folder

    def __call__(self, task: Any) -> Any:
        try:
            result = self.function(task)
        except BaseException as error:  # (as the pool would: it sends any exception back)
            text = "".join(traceback.format_exception(error))
            try:
                head, raws = _pickled(Raised(error, text))
            except Exception:  # an exception that cannot be pickled: its kind and message
                head, raws = _pickled(Raised(RuntimeError(f"{type(error).__name__}: {error}"), text))
        else:
            head, raws = _pickled(result)
        if len(head) + sum(raw.nbytes for raw in raws) < SPILL_FROM:
            return Pickled(head, tuple(bytearray(raw) for raw in raws))
        return Spilled(write_spill(head, raws, self.folder))


def received(result: Any) -> Any:
    """A result as the task returned it, from what `Spilling` handed over; a failure raised again.

    Raises:
        BaseException: the task's, its traceback in the worker as its cause (a `RemoteTraceback`).
    """
    if isinstance(result, Spilled):
        result = unspill(result.path)
    elif isinstance(result, Pickled):
        result = pickle.loads(result.head, buffers=result.raws)
    if isinstance(result, Raised):
        error = result.error
        error.__cause__ = RemoteTraceback(f'\n"""\n{result.traceback}"""')
        raise error
    return result
