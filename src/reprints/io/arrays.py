"""Checkpoint files: named NumPy arrays saved atomically, so a killed run never leaves a half-written one; and
letting go of memory: the pages of memory-mapped arrays, and memory freed but kept by the allocator."""

from __future__ import annotations

import array as arraymodule
import contextlib
import json
import logging
import mmap
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, overload

import numpy as np
import numpy.typing as npt
import xxhash

from reprints.allocator import libc_function

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
R = TypeVar("R")
log = logging.getLogger(__name__)


CHECKPOINT = ".arrays"  # the suffix of a checkpoint file (`save_arrays`)
_MAGIC = b"reprints arrays 1\n"


def batch_file(folder: Path, number: int) -> Path:
    """The checkpoint file of batch `number` in `folder`: `NNNNNN.arrays`."""
    return folder / f"{number:06d}{CHECKPOINT}"


ALIGN = 64  # bytes: where each array starts in the file, and so in the buffer it is read into (`read_whole`)
_DIGEST = 8  # bytes: the xxh3-64 digest of everything before it, at the end of the file


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """Write named arrays (or numbers) to `path` through a temporary file renamed into place.

    The file: a line naming the format, the header's length (8 bytes), the header (JSON: each array's name,
    dtype, shape and where its bytes start), the arrays' bytes one after another (each at a multiple of 64
    bytes), and a digest of all that (xxh3-64), so that a damaged file is known (`load_arrays`). Nothing is
    compressed: writing and reading cost a copy and a pass of the digest.

    The file is not synced to disk (`os.fsync`): a killed process leaves it whole (the operating system holds
    what was written), and what a crash of the machine can leave (the file missing, cut short, or its blocks
    zeroed) fails the digest, so a resumed run computes the batch again. Syncing each batch's checkpoints cost
    the workers of a run about 6% of its time, for work a resumed run redoes in seconds.
    """
    named = {name: np.asarray(value) for name, value in arrays.items()}
    named = {name: array if array.flags.c_contiguous else array.copy() for name, array in named.items()}
    if any(array.dtype.hasobject for array in named.values()):
        raise TypeError(f"{path.name}: arrays of Python objects cannot be checkpointed")
    entries, at = [], 0
    for name, array in named.items():
        entries.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "at": at})
        at += -(-array.nbytes // ALIGN) * ALIGN
    header = json.dumps(entries, separators=(",", ":")).encode()
    start = len(_MAGIC) + 8 + len(header)
    lead = _MAGIC + len(header).to_bytes(8, "little") + header + bytes(-start % ALIGN)
    digest = xxhash.xxh3_64(lead)
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("wb") as handle:
        handle.write(lead)
        for array in named.values():
            data = array.reshape(-1).view(np.uint8).data
            pad = bytes(-array.nbytes % ALIGN)
            digest.update(data)
            digest.update(pad)
            handle.write(data)
            handle.write(pad)
        handle.write(digest.intdigest().to_bytes(_DIGEST, "little"))
    os.replace(temporary, path)


def save_npy(path: Path, value: npt.ArrayLike) -> None:
    """`np.save(path, value)` through a temporary file renamed into place: a run killed while writing leaves the
    file as it was (or, if new, no file), never cut short. (Writing the match index in place once truncated
    `doc_hashes.npy`, a column of the fingerprint checkpoint, and a run killed just then fingerprinted every batch
    again when resumed.)"""
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("wb") as handle:
        np.save(handle, value)
    os.replace(temporary, path)


class _Damaged(ValueError):
    pass


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays saved at `path` (`save_arrays`), or None if there is no such checkpoint (or it is damaged: cut
    short, changed, not of this format; then it is deleted with a warning, to be computed again).

    The file is read at once into one buffer, which the arrays view (writable, each aligned as its dtype needs).
    """
    try:
        buffer = read_whole(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        _discard(path, exc)
        return None
    try:
        return _arrays_of(buffer)
    except (_Damaged, ValueError, TypeError, KeyError) as exc:
        _discard(path, exc)
        return None


def read_whole(path: Path) -> bytearray:
    """The bytes of the file at `path`, read in one go into one buffer (arrays viewing it at multiples of
    `ALIGN` are aligned for any dtype).

    Raises:
        OSError: the file cannot be read, or it changed size while being read.
    """
    with path.open("rb") as handle:
        buffer = bytearray(os.fstat(handle.fileno()).st_size)
        if handle.readinto(buffer) != len(buffer):
            raise OSError(f"{path} changed while being read")
    return buffer


def _arrays_of(buffer: bytearray) -> dict[str, np.ndarray]:
    """The arrays in the bytes of a file written by `save_arrays` (raises `_Damaged` if they are not whole)."""
    view = memoryview(buffer)
    if len(buffer) < len(_MAGIC) + 8 + _DIGEST or not buffer.startswith(_MAGIC):
        raise _Damaged("not a checkpoint of this format")
    if xxhash.xxh3_64_intdigest(view[:-_DIGEST]) != int.from_bytes(view[-_DIGEST:], "little"):
        raise _Damaged("its digest does not match its contents")
    size = int.from_bytes(view[len(_MAGIC) : len(_MAGIC) + 8], "little")
    start = len(_MAGIC) + 8 + size
    entries = json.loads(bytes(view[len(_MAGIC) + 8 : start]))
    start += -start % ALIGN
    arrays = {}
    for entry in entries:
        dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        begin = start + int(entry["at"])
        if begin + count * dtype.itemsize > len(buffer) - _DIGEST:
            raise _Damaged(f"array {entry['name']} runs past the end")
        arrays[entry["name"]] = np.frombuffer(buffer, dtype=dtype, count=count, offset=begin).reshape(shape)
    return arrays


def _discard(path: Path, problem: Exception) -> None:
    log.warning("discarding damaged checkpoint %s (%s); computing it again", path, problem)
    with contextlib.suppress(OSError):
        path.unlink()


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


def _mapping(array: Any) -> mmap.mmap | None:
    """The memory map under an array (or a view of one), None for an array held in memory."""
    base = array
    while base is not None and not hasattr(base, "_mmap"):
        base = getattr(base, "base", None)
    return getattr(base, "_mmap", None)


def is_mapped(array: Any) -> bool:
    """Whether the array (or the array it views) is mapped from a file."""
    return _mapping(array) is not None


def offsets_of(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Where each of consecutive runs of `counts` items starts, and past the last: `[0, *cumsum(counts)]`."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def ranges(starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Concatenation of `arange(s, s + n)` for each start and length."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - first + np.repeat(starts, lengths)


def read_rows(array: np.ndarray, starts: npt.NDArray[np.int64], stops: npt.NDArray[np.int64]) -> np.ndarray:
    """The rows `array[starts[i]:stops[i]]` one after another (`starts` increasing, ranges not overlapping).

    An array mapped from a file (`np.load(..., mmap_mode="r")`) is read with positioned reads instead of through
    its mapping: a page fault maps a whole page-cache folio (up to megabytes on recent kernels), so looking up a
    few rows of each of many scattered ranges would make most of the file resident in this process; read, the
    rows cost what they hold. Adjacent ranges are read at once.
    """
    starts, stops = np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64)
    lengths = stops - starts
    total = int(lengths.sum())
    out = np.empty(total, dtype=array.dtype)
    if total == 0:
        return out
    source = _file_of(array)
    if source is None:
        out[:] = np.asarray(array)[ranges(starts, lengths)]
        return out
    path, offset = source
    joined = np.ones(len(starts), dtype=np.bool_)
    joined[1:] = starts[1:] != stops[:-1]  # a range that does not continue the previous one starts a read
    begin = np.flatnonzero(joined)
    end = np.append(begin[1:], len(starts)) - 1
    itemsize = array.dtype.itemsize
    buffer = out.data.cast("B")
    at = 0
    descriptor = os.open(path, os.O_RDONLY)
    try:
        for first_row, stop_row in zip(starts[begin].tolist(), stops[end].tolist(), strict=True):
            size = (stop_row - first_row) * itemsize
            _read_exactly(descriptor, buffer[at : at + size], offset + first_row * itemsize, path)
            at += size
    finally:
        os.close(descriptor)
    return out


def _file_of(array: np.ndarray) -> tuple[str, int] | None:
    """The file and byte offset an array was mapped from with `np.memmap`, or of a plain view of such an array
    that starts where it starts (`memmap.view(np.ndarray)`), else None."""
    mapped = array
    if not isinstance(mapped, np.memmap) and isinstance(array.base, np.memmap):
        mapped = array.base
        same = array.__array_interface__["data"][0] == mapped.__array_interface__["data"][0]
        if not same or array.dtype != mapped.dtype or not array.flags.c_contiguous:
            return None
    if isinstance(mapped, np.memmap) and isinstance(mapped.base, mmap.mmap) and mapped.filename:
        return str(mapped.filename), int(mapped.offset)
    return None


def _read_exactly(descriptor: int, into: memoryview, position: int, path: str) -> None:
    while len(into):
        got = os.preadv(descriptor, [into], position)
        if got <= 0:
            raise OSError(f"{path} ends before byte {position + len(into)}: was it changed during the run?")
        into, position = into[got:], position + got


def drop_pages(*arrays: Any) -> None:
    """Drop the pages of memory-mapped arrays (or views of them) from this process's resident set; they stay in
    the operating system's file cache. Arrays held in memory are left alone."""
    for array in arrays:
        mapping = _mapping(array)
        if mapping is not None:
            with contextlib.suppress(OSError, ValueError):
                mapping.madvise(mmap.MADV_DONTNEED)


def _malloc_trim() -> Callable[[int], int] | None:
    return libc_function("malloc_trim")


KEEP_FREE_BYTES = 128 << 20  # resident memory a process may gain between two hand-backs of freed memory
_resident_after_trim: list[int] = []  # this process's lowest resident bytes since its last hand-back


def resident_bytes() -> int | None:
    """This process's resident set size (Linux: `/proc/self/statm`; None elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * mmap.PAGESIZE
    except (OSError, IndexError, ValueError):
        return None


def release_free_memory() -> None:
    """Hand memory freed by the last batches back to the OS (glibc keeps it otherwise; elsewhere a no-op), once
    this process's resident set has grown by more than KEEP_FREE_BYTES since it last did.

    A batch allocates large temporary arrays; glibc's allocator raises its mmap threshold after the first
    ones are freed and then serves the next from a heap it never shrinks, so without this the resident
    size of a long run grows to several times its live data. Handing everything back after every batch cost
    about as much again: the next batch's arrays were new pages for the kernel to fault in and zero (tokenizing
    took 1.8 times as long; the workers of a run on the bulk corpus spent about 1 s more CPU). So freed memory
    stays for the next batch to reuse until the resident set has grown by KEEP_FREE_BYTES (and reprints' own
    processes have glibc keep more of it: `reprints.allocator.hold_freed_memory`).
    """
    trim = _malloc_trim()
    if trim is None:
        return
    resident = resident_bytes()
    if resident is not None and _resident_after_trim:
        # Counted from the lowest resident size seen since (pages of mapped files dropped lower it): what the
        # heap may hold unused stays within the budget.
        _resident_after_trim[0] = min(_resident_after_trim[0], resident)
        if resident <= _resident_after_trim[0] + KEEP_FREE_BYTES:
            return
    trim(0)
    after = resident_bytes()
    _resident_after_trim[:] = [] if after is None else [after]


class Column:
    """One corpus-wide array written batch by batch: to a `.npy` file in `folder` (its header's shape set when
    it is closed), or gathered in memory without one."""

    HEADER = 128  # bytes: room for any shape

    def __init__(
        self,
        folder: Path | None,
        name: str,
        dtype: type,
        *,
        resume_at: int | None = None,
        digest: xxhash.xxh3_64 | None = None,
    ) -> None:
        """A new column; or, with `resume_at`, the column already in `folder` continued after its first
        `resume_at` values (anything written after them is cut off), whose `digest` is that
        of those values (`prefix_digest`; computed here if not given)."""
        self.dtype = np.dtype(dtype)
        self.count = 0
        # of the values written to the file: a checkpoint records it, and a run continuing the column checks it
        self.digest = xxhash.xxh3_64()
        if folder is not None and resume_at:
            self.digest = digest.copy() if digest is not None else self.prefix_digest(folder, name, dtype, resume_at)
        self.parts: list[npt.NDArray[Any]] = []
        self.path = folder / f"{name}.npy" if folder is not None else None
        self.file: BinaryIO | None = None
        if self.path is not None and resume_at is not None:
            if not self.path.exists() and resume_at == 0:  # nothing to keep: a new file (found in review)
                self.path.touch()
            self.file = self.path.open("r+b")
            self.file.truncate(self.HEADER + resume_at * self.dtype.itemsize)
            self.file.seek(0, os.SEEK_END)
            self.count = resume_at
        elif self.path is not None:
            self.file = self.path.open("wb")
            self.file.write(self._header(0))

    @classmethod
    def prefix_digest(cls, folder: Path, name: str, dtype: type, count: int) -> xxhash.xxh3_64:
        """The digest (as `digest` keeps it) of the first `count` values of the column `name` in `folder`."""
        digest = xxhash.xxh3_64()
        left = count * np.dtype(dtype).itemsize
        if left == 0:
            return digest  # (the file may be missing: it is made again)
        with (folder / f"{name}.npy").open("rb") as handle:
            handle.seek(cls.HEADER)
            while left > 0:
                chunk = handle.read(min(left, 1 << 24))
                if not chunk:
                    raise ValueError(f"{name}.npy is shorter than recorded")
                digest.update(chunk)
                left -= len(chunk)
        return digest

    def flush(self) -> None:
        """Hand every value appended so far to the operating system, so that a process killed after a checkpoint
        (`CorpusWriter.checkpoint`) leaves them in the file. Not synced to disk: the checkpoint records a digest of
        the values, and a column a crash of the machine damaged fails it (`saved_progress`)."""
        if self.file is not None:
            self.file.flush()

    def _header(self, count: int) -> bytes:
        fields = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (count,)}
        text = repr(fields).encode("latin1")
        return b"\x93NUMPY\x01\x00" + (self.HEADER - 10).to_bytes(2, "little") + text.ljust(self.HEADER - 11) + b"\n"

    def append(self, values: npt.NDArray[Any]) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.count += len(values)
        if self.file is None:
            self.parts.append(values)
        else:
            data = values.tobytes()
            self.file.write(data)  # a full disk is an OSError here, never a SIGBUS later
            self.digest.update(data)

    def close(self) -> Any:
        """The whole array: mapped read-only from its file (a process holds only the pages it reads)."""
        if self.file is None or self.path is None:
            return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=self.dtype)
        self.file.seek(0)
        self.file.write(self._header(self.count))
        self.file.close()
        if self.count == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.load(self.path, mmap_mode="r")


def mapped_copy(folder: Path, name: str, values: np.ndarray) -> Any:
    """`values` written to `folder/name.npy` and mapped back read-only (see `Column`)."""
    column = Column(folder, name, values.dtype.type)
    column.append(values)
    return column.close()


class RowSequence(Sequence[R]):
    """A read-only sequence whose items are made on demand from columns: a subclass gives `__len__` and
    `_row(position)`; indexing takes negative positions and slices (a list) as a list does."""

    __slots__ = ()

    def _row(self, position: int) -> R:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            return [self._row(position) for position in range(len(self))[index]]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._row(position)


class Strings(RowSequence[str]):
    """A growing list of strings kept as one UTF-8 buffer and offsets: about the strings' length plus 8 bytes
    each, where a list of `str` takes about 60 bytes more (the main process keeps every document's id)."""

    __slots__ = ("_data", "_ends")

    def __init__(self, items: Iterable[str] = ()) -> None:
        self._data = bytearray()
        self._ends = arraymodule.array("q")
        for item in items:
            self.append(item)

    def append(self, item: str) -> None:
        """Add a string at the end (any string: lone surrogates are kept as they are)."""
        self._data += item.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    def _row(self, position: int) -> str:
        start = self._ends[position - 1] if position > 0 else 0
        return self._data[start : self._ends[position]].decode("utf-8", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Strings):
            return self._data == other._data and self._ends == other._ends
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:  # mutable, like a list
        raise TypeError("unhashable type: 'Strings'")

    def __repr__(self) -> str:
        return f"Strings({list(self)!r})"
