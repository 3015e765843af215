"""Plain JSON Lines files cut into byte ranges that the workers read themselves.

The main process (the Spark driver) only learns each file's size and hands out ranges; the workers count the
line breaks in each range (so that every line keeps its number in the file), then read, parse and tokenize the
lines of their ranges, and read them again to write the outputs. A range owns the lines that start inside it (a
line starts at byte 0 and after each "\\n"), so the ranges of a file hold each of its lines exactly once,
whatever their size; `lines_of` gives the same items, with the same numbers, as `reprints.io.jsonl.raw_jsonl`.
Compressed files cannot be read from the middle: their lines are read by the main process, as before.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from reprints.errors import InputError

BLOCK = 1 << 20  # bytes read at once while counting


@dataclass(frozen=True, slots=True)
class Slice:
    """The lines of the JSON Lines file `path` (as given: it names the lines' records) that start in its bytes
    [start, end); `newlines`: how many "\\n" bytes the file holds before `start` (-1 until counted), so its first
    line's number is known; `file`: the file's absolute path, which a worker (whatever its folder) opens."""

    path: str
    start: int
    end: int
    newlines: int = -1
    file: str = ""


def sliceable(path: Path) -> bool:
    """Whether a file can be read by ranges: plain (not compressed) JSON Lines, a regular file that is there."""
    name = path.name.lower()
    return name.endswith(".jsonl") and path.is_file()


def cut(path: Path, size: int) -> list[Slice]:
    """The ranges of about `size` bytes a plain JSON Lines file is read in (none for an empty file)."""
    length = path.stat().st_size
    file = str(path.resolve())
    return [Slice(str(path), at, min(at + size, length), file=file) for at in range(0, length, max(1, size))]


@dataclass(frozen=True, slots=True)
class Counted:
    """What `count_slices` finds in a range: its "\\n" bytes, whether it holds anything but blanks, and why it
    could not be read (None: it could)."""

    newlines: int
    blank: bool
    error: str | None = None


def count_slices(slices: Sequence[Slice]) -> list[Counted]:
    """Count the line breaks of each range (a task run in a worker; the ranges' bytes never reach the caller).

    A range that cannot be opened or read says why (`Counted.error`): its file is then read line by line as a
    compressed one is, which makes the failure one unreadable record, as for any file that breaks off.

    Raises:
        InputError: a file is shorter than its range (it changed since it was listed).
    """
    counted = []
    for piece in slices:
        newlines, blank = 0, True
        try:
            with open(piece.file or piece.path, "rb") as handle:
                mark = len(codecs.BOM_UTF8) if piece.start < 3 and handle.read(3) == codecs.BOM_UTF8 else 0
                handle.seek(piece.start)
                position = piece.start
                while position < piece.end:
                    block = handle.read(min(BLOCK, piece.end - position))
                    if not block:
                        raise InputError(_changed(piece, "it is shorter than when it was listed"))
                    content = block[max(0, mark - position) :]  # a byte-order mark is no record
                    position += len(block)
                    newlines += block.count(b"\n")
                    blank = blank and (not content or content.isspace())
        except OSError as exc:
            counted.append(Counted(0, True, f"{type(exc).__name__}: {exc}"))
            continue
        counted.append(Counted(newlines, blank))
    return counted


def numbered(slices: Sequence[Slice], counted: Sequence[Counted]) -> list[Slice]:
    """The ranges of one file (`cut`), with `newlines` set from their counts."""
    out = []
    before = 0
    for piece, count in zip(slices, counted, strict=True):
        out.append(replace(piece, newlines=before))
        before += count.newlines
    return out


def lines_of(piece: Slice) -> list[tuple[str, bytes, int]]:
    """The non-blank lines starting in a range, as `(path, line, number)` (what `raw_jsonl` yields for them).

    Raises:
        InputError: the file is gone or shorter than the range.
    """
    if piece.newlines < 0:
        raise ValueError("a range's line breaks must be counted before its lines are read")
    with _opened(piece) as handle:
        if os.fstat(handle.fileno()).st_size < piece.end:
            raise InputError(_changed(piece, "it is shorter than when it was listed"))
        begin, newlines = piece.start, piece.newlines
        if begin > 0:
            handle.seek(begin - 1)
            if handle.read(1) != b"\n":  # inside a line that starts before the range: it is the range before's
                begin = _next_line(handle, begin, piece.end)
                newlines += 1
        if begin >= piece.end:
            return []
        handle.seek(begin)
        data = handle.read(piece.end - begin)
        if not data.endswith(b"\n"):  # the last line goes on past the range (or ends the file)
            data += handle.readline()
    parts = data.split(b"\n")
    out = []
    for offset, part in enumerate(parts):
        last = offset == len(parts) - 1
        if last and not part:
            break
        number = newlines + offset + 1
        line = part if last else part + b"\n"
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if line.strip():
            out.append((piece.path, line, number))
    return out


def _next_line(handle: BinaryIO, begin: int, end: int) -> int:
    """Where the first line starting in [begin, end) starts (`end` if none does), `handle` at `begin`: a line
    longer than many ranges is read once, by the range it starts in, not to its end by each range it crosses."""
    position = begin
    while position < end:
        block = handle.read(min(BLOCK, end - position))
        if not block:
            return end
        found = block.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(block)
    return end


def _opened(piece: Slice) -> BinaryIO:
    try:
        return open(piece.file or piece.path, "rb")
    except OSError as exc:
        raise InputError(
            f"input {piece.path} cannot be read here ({exc.strerror or exc}): it changed while reprints was running, "
            "or, on a cluster, it is not on a folder every executor sees at the same path; nothing was published"
        ) from exc


def _changed(piece: Slice, how: str) -> str:
    return (
        f"input {piece.path} changed while reprints was running ({how}); nothing was published: run again on "
        "inputs that stay put"
    )
