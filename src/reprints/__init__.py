"""reprints: find every copy of every passage in a corpus of news and web text.

The public API::

    reprints.compare(text_a, text_b) -> Pair      how two texts relate, with aligned spans
    reprints.dedup(inputs, out_dir, **options) -> Summary
                                                  every copy in a corpus, deduplicated keep-first
    reprints.boilerplate_lines(inputs, **options) -> list[BoilerplateLine]
                                                  the lines learned as boilerplate

The names are imported on first use, so that the command line can start its worker processes before it imports
the pipeline (`reprints.engines.server`).
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from reprints.config import Config
    from reprints.errors import ConfigError, InputError, OutputError, ReprintsError
    from reprints.pipeline import boilerplate_lines, compare, dedup
    from reprints.types import BoilerplateLine, Decision, Document, Pair, Removed, Span, Summary

__version__ = "0.1.0"

_HOMES = {
    "Config": "reprints.config",
    "ConfigError": "reprints.errors",
    "InputError": "reprints.errors",
    "OutputError": "reprints.errors",
    "ReprintsError": "reprints.errors",
    "boilerplate_lines": "reprints.pipeline",
    "compare": "reprints.pipeline",
    "dedup": "reprints.pipeline",
    "BoilerplateLine": "reprints.types",
    "Decision": "reprints.types",
    "Document": "reprints.types",
    "Pair": "reprints.types",
    "Removed": "reprints.types",
    "Span": "reprints.types",
    "Summary": "reprints.types",
}

__all__ = [
    "BoilerplateLine",
    "Config",
    "ConfigError",
    "Decision",
    "Document",
    "InputError",
    "OutputError",
    "Pair",
    "Removed",
    "ReprintsError",
    "Span",
    "Summary",
    "__version__",
    "boilerplate_lines",
    "compare",
    "dedup",
]


def __getattr__(name: str) -> _typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'reprints' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
