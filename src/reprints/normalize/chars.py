"""What each character is to the tokenizer, as lookup tables over code points.

Every character is one of three kinds:

- a *base* word character (a letter or digit), which starts or continues a token;
- an *attached* character: a combining mark (accents, Indic vowel signs, Arabic tashkeel), a variation
  selector, a joiner (ZWJ, ZWNJ, word joiner, soft hyphen) or the Arabic tatweel. It belongs to the token of
  the base character before it and never starts a token: after a space or a symbol it is a separator, so an
  emoji's variation selector (U+FE0F) is never a token;
- a *separator*: everything else (white space, punctuation, quotes, dashes, symbols).

Each character folds to the code points that stand for it in a token's hash: its compatibility decomposition
(NFKD) after case folding, so a precomposed `é` and `e` + U+0301 fold alike, `ﬁ` folds to `fi` and full-width
letters to ASCII. Joiners, tatweel, variation selectors, Arabic tashkeel and Hebrew points fold to nothing.

Characters of scripts written without spaces between words (Han, Hiragana, Katakana, Bopomofo, Yi, Thai,
Lao, Khmer, Myanmar) are *split*: each one, with the marks attached to it, is a token of its own.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import unicodedata
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAX_FOLD = 4  # code points kept of one character's fold
BMP = 0x10000
SEPARATOR, BASE, ATTACHED = 0, 1, 2

# Characters that join or decorate a word without being part of its spelling.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x0591, 0x05C7),  # Hebrew cantillation marks and points
    (0x0610, 0x061A),  # Arabic signs above and below
    (0x0640, 0x0640),  # Arabic tatweel
    (0x064B, 0x065F),  # Arabic tashkeel (harakat, tanwin, shadda, sukun...)
    (0x0670, 0x0670),  # Arabic superscript alef
    (0x06D6, 0x06ED),  # Arabic Quranic annotation signs
    (0x200C, 0x200D),  # zero-width non-joiner, joiner
    (0x2060, 0x2060),  # word joiner
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space (a BOM inside a text)
    (0xE0100, 0xE01EF),  # variation selectors supplement
)

_SPLIT_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # ideographic iteration mark, closing mark, number zero
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x3038, 0x303C),  # more ideographic marks
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31FF),  # Bopomofo extended, Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA000, 0xA4CF),  # Yi
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x16FE0, 0x16FFF),  # ideographic symbols
    (0x1B000, 0x1B16F),  # kana supplement and extensions
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _in(ranges: tuple[tuple[int, int], ...], cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def is_ignorable(cp: int) -> bool:
    """A character that belongs to a word but not to its spelling (folds to nothing)."""
    return _in(_IGNORABLE_RANGES, cp)


def is_split(cp: int) -> bool:
    """A character of a script written without spaces: one token per character."""
    return _in(_SPLIT_RANGES, cp)


def kind_of(ch: str) -> int:
    """SEPARATOR, BASE or ATTACHED."""
    cp = ord(ch)
    if 0xD800 <= cp < 0xE000:
        return SEPARATOR
    if is_ignorable(cp) or unicodedata.category(ch)[0] == "M":
        return ATTACHED
    if ch.isalnum():
        return BASE
    return SEPARATOR


def fold(ch: str) -> str:
    """The code points that stand for a character in a token's hash (see the module docstring)."""
    if is_ignorable(ord(ch)):
        return ""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
    kept = "".join(
        c for c in decomposed if not is_ignorable(ord(c)) and (c.isalnum() or unicodedata.category(c)[0] == "M")
    )
    if kind_of(ch) == BASE and not kept:
        kept = ch
    return kept[:MAX_FOLD]


@dataclass(frozen=True, slots=True)
class CharTables:
    """Per-code-point tables for the Basic Multilingual Plane (astral characters are looked up one by one)."""

    kind: npt.NDArray[np.uint8]
    split: npt.NDArray[np.bool_]
    is_space: npt.NDArray[np.bool_]
    fold_len: npt.NDArray[np.uint8]
    fold: npt.NDArray[np.uint32]


CACHE_FORMAT = 1


def _cache_path() -> Path | None:
    """Where the built tables are kept between processes: the user's cache folder, under a name that changes
    with this module's source, the Unicode version and NumPy's major version (None: no home folder)."""
    root = os.environ.get("XDG_CACHE_HOME") or (str(Path.home() / ".cache") if Path.home() != Path("/") else "")
    if not root:
        return None
    source = Path(__file__).read_bytes()
    tag = hashlib.sha256(source + f"{unicodedata.unidata_version}/{np.__version__.split('.')[0]}".encode()).hexdigest()
    return Path(root) / "reprints" / f"chars-{CACHE_FORMAT}-{tag[:16]}.npz"


@functools.lru_cache(maxsize=1)
def tables() -> CharTables:
    """The lookup tables: built once (about 0.3 s) and kept in the user's cache folder, so later processes (and
    every worker) load them in a few milliseconds. A cache that cannot be read or written is built anew."""
    path = _cache_path()
    if path is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile), np.load(path) as saved:
            return CharTables(*(saved[f.name] for f in fields(CharTables)))
    built = _build_tables()
    if path is not None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
            with temporary.open("wb") as handle:
                np.savez(handle, **{f.name: getattr(built, f.name) for f in fields(CharTables)})
            os.replace(temporary, path)
    return built


def _build_tables() -> CharTables:
    kind = np.zeros(BMP, dtype=np.uint8)
    split = np.zeros(BMP, dtype=np.bool_)
    is_space = np.array([chr(cp).isspace() for cp in range(BMP)], dtype=np.bool_)
    fold_len = np.ones(BMP, dtype=np.uint8)
    folded_units = np.zeros((BMP, MAX_FOLD), dtype=np.uint32)
    folded_units[:, 0] = np.arange(BMP, dtype=np.uint32)
    for cp in range(BMP):
        ch = chr(cp)
        kind[cp] = kind_of(ch)
        if kind[cp] == SEPARATOR:
            continue
        split[cp] = is_split(cp)
        units = fold(ch)
        fold_len[cp] = len(units)
        folded_units[cp, : len(units)] = [ord(c) for c in units]
    return CharTables(kind, split, is_space, fold_len, folded_units)


def astral_lookup(cps: npt.NDArray[np.uint32]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Kind and split flag of astral code points (outside the tables), computed once per distinct value."""
    distinct, inverse = np.unique(cps, return_inverse=True)
    kinds = np.array([kind_of(chr(int(c))) for c in distinct], dtype=np.uint8)
    splits = np.array([is_split(int(c)) for c in distinct], dtype=np.bool_)
    return kinds[inverse], splits[inverse]


def astral_fold(cp: int) -> list[int]:
    """Fold units of one astral code point."""
    return [ord(c) for c in fold(chr(cp))]
