"""reprints: find every copy of every passage in a corpus of news and web text.

The public API::

    reprints.compare(text_a, text_b) -> Pair      how two texts relate, with aligned spans
    reprints.dedup(inputs, out_dir, **options) -> Summary
                                                  every copy in a corpus, deduplicated keep-first
    reprints.boilerplate_lines(inputs, **options) -> list[BoilerplateLine]
                                                  the lines learned as boilerplate
"""

from reprints.config import Config
from reprints.errors import ConfigError, InputError, OutputError, ReprintsError
from reprints.pipeline import boilerplate_lines, compare, dedup
from reprints.types import BoilerplateLine, Decision, Document, Pair, Removed, Span, Summary

__version__ = "0.1.0"

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
