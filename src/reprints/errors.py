"""Errors raised by reprints.

Every error the library raises on purpose derives from one base, so a caller can catch them all::

    ReprintsError
    ├── ConfigError        a parameter is out of range or inconsistent with another
    ├── InputError         an input path is missing, unreadable or of an unknown format
    │   └── IndexDamaged   what an index holds on disk fails its own checks
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


class OutputError(ReprintsError):
    """The output folder cannot be created or written."""


class EngineError(ReprintsError):
    """The engine cannot start (a missing Spark or Java, a bad master URL) or one of its tasks failed."""
