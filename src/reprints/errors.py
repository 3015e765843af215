"""Errors raised by reprints.

Every error the library raises on purpose derives from one base, so a caller can catch them all::

    ReprintsError
    ├── ConfigError        a parameter is out of range or inconsistent with another
    ├── InputError         an input path is missing, unreadable or of an unknown format
    │   ├── IndexDamaged   what an index holds on disk fails its own checks
    │   └── IndexReadOnly  a change asked of an index on a disk or folder this process cannot write
    ├── OutputError        the output folder cannot be created or written
    └── EngineError        the engine cannot start, or one of its tasks failed

The CLI turns each into one line on stderr and a non-zero exit status.
"""

from __future__ import annotations


class ReprintsError(Exception):
    """Base class of every error reprints raises on purpose."""


class ConfigError(ReprintsError, ValueError):
    """A parameter is out of range or inconsistent with another parameter."""


class InputError(ReprintsError):
    """An input cannot be found, opened or parsed."""


class IndexDamaged(InputError):
    """What an index holds on disk fails its own checks (a seal or digest, a length): its database is damaged.
    The service answers 500, not 400: the request was not at fault."""


class IndexReadOnly(InputError):
    """A change (an add, a removal, an upgrade of its format) asked of an index on a disk or in a folder this
    process cannot write. Such an index answers queries; the service answers 403 to a change."""


class OutputError(ReprintsError):
    """The output folder cannot be created or written."""


class EngineError(ReprintsError):
    """The engine cannot start (a missing Spark or Java, a bad master URL) or one of its tasks failed."""


# What a SQLite error of an index means for its user, by SQLite's primary result code: most say nothing is wrong
# with the index itself, and the advice for a damaged one (restore or rebuild it) would be the wrong step.
# Python 3.10 names no code; SQLite's own message for each code names it there.
SQLITE_KINDS = {
    "SQLITE_BUSY": "busy",
    "SQLITE_LOCKED": "busy",
    "SQLITE_FULL": "full",
    "SQLITE_IOERR": "disk",
    "SQLITE_READONLY": "access",
    "SQLITE_CANTOPEN": "access",
    "SQLITE_PERM": "access",
    "SQLITE_AUTH": "access",
}
SQLITE_MESSAGES = {
    "database is locked": "SQLITE_BUSY",
    "database table is locked": "SQLITE_LOCKED",
    "database schema is locked": "SQLITE_LOCKED",
    "database or disk is full": "SQLITE_FULL",
    "disk I/O error": "SQLITE_IOERR",
    "attempt to write a readonly database": "SQLITE_READONLY",
    "unable to open database file": "SQLITE_CANTOPEN",
    "access permission denied": "SQLITE_PERM",
}
# Each kind: the HTTP status the service answers with, and what the user should know (after SQLite's message).
DATABASE_FAILURES = {
    "busy": (
        503,
        "another process has been writing to the index for longer than this one waits; try again when it has "
        "finished (`index add` and `index remove` wait --wait seconds)",
    ),
    "full": (
        507,
        "the disk holding the index is full; the write that failed was rolled back, what was stored before it "
        "stays: free space and run it again",
    ),
    "disk": (503, "the disk holding the index failed to read or write; the index may well be intact: check the disk"),
    "access": (
        503,
        "the index's files cannot be opened or written (their permissions, or a disk made read-only while the "
        "index was open): check them; an index on a read-only disk is opened read-only from the start",
    ),
    "damaged": (
        500,
        "the index is damaged, or not an index; restore it from a copy, or build it again with `reprints index add`",
    ),
}


def database_failure(exc: Exception) -> tuple[str, int, str]:
    """The kind of a `sqlite3.DatabaseError` raised by an index (busy, full, disk, access or damaged; for SQLite
    out of memory Python raises MemoryError), the HTTP status the service answers with, and one sentence for the
    user naming the cause and what to do."""
    name = getattr(exc, "sqlite_errorname", None)  # (Python 3.11+)
    if name is None:
        name = next((code for text, code in SQLITE_MESSAGES.items() if str(exc).startswith(text)), "")
    primary = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE: SQLITE_IOERR
    kind = SQLITE_KINDS.get(primary, "damaged")
    status, advice = DATABASE_FAILURES[kind]
    failed = "cannot be read" if kind == "damaged" else "failed"
    return kind, status, f"the index's database {failed} ({exc}): {advice}"
