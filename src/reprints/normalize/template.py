"""Template text: the words of a page that belong to its site or to a vendor's widget, not to its content.

Whole-page text dumps carry navigation menus, archive lists, calendars, footers, cookie notices, comment forms
and share buttons. Two pages of a site, or two sites using one vendor's widget, share such passages; they
must not be linked for it, even when a site has a single page in the corpus (so nothing can be learned from
repetition, as `reprints.normalize.boilerplate` does). Each token of each document is marked *template* by
rules that look at the document alone:

- **Lists without sentences.** Running text in any language is about a third function words (articles,
  prepositions, pronouns, auxiliaries; `data/function_words.txt` lists them for 15 languages); menus, archive
  lists, calendars, tag clouds and tables of figures have almost none. A token is template when the window of
  `WINDOW` tokens around it has a share of function words below `LOW_DENSITY`. The rule applies only to a
  document in which some stretch of `GATE_WINDOW` tokens reaches `GATE_DENSITY` (its language is one the list
  knows): otherwise every window would look like a list.
- **Notices.** Cookie and privacy notices, consent dialogs, newsletter sign-ups and rights notices are worded
  differently on every site, but with the same few words (`data/notice_words.txt`: "cookies", "newsletter",
  "Datenschutzerklärung", "reservados"...). A token is template when some window of `WINDOW` tokens holding
  it holds at least `NOTICE_WORDS` of them.
- **Widgets.** `data/widgets.txt` lists texts that vendors put on pages all over the web: comment, login and
  newsletter forms, share and e-mail buttons, cookie notices, affiliate and legal notices, web-archive banners.
  A token covered by any run of `WIDGET_GRAM` consecutive tokens that one of those texts holds is template.
- **Gaps.** Fewer than `GAP` content tokens between template tokens (the site names between "this link opens in
  a new tab" buttons) are template too.

The marks never change tokens, hashes, anchors or coverage; they weigh the evidence of a link
(`reprints.decide.links`): a pair that shares less than a passage of content is not linked.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64, mix64
from reprints.io.arrays import ranges
from reprints.normalize.tokens import I64, tokenize

WINDOW = 15
LOW_DENSITY = 0.15
GATE_WINDOW = 50
GATE_DENSITY = 0.25
NOTICE_WORDS = 2
WIDGET_GRAM = 4
GAP = 4
COMPILED_FROM = 20_000  # tokens in one batch from which the compiled pass is worth loading
GRAM_SEED = np.uint64(0x7E3A)  # chains the hashes of a widget gram's tokens

Mask = npt.NDArray[np.bool_]


def _texts(name: str) -> list[str]:
    """The non-comment lines of a data file shipped with the package."""
    text = resources.files("reprints.normalize").joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@functools.cache
def _word_hashes(name: str, seed: int) -> U64:
    """Sorted hashes of the words of a data file, as tokens of a document hash (seeded)."""
    return np.unique(tokenize([" ".join(_texts(name))], seed).hashes)


def function_words(seed: int) -> U64:
    """Sorted hashes of the function words."""
    return _word_hashes("function_words.txt", seed)


def notice_words(seed: int) -> U64:
    """Sorted hashes of the notice words."""
    return _word_hashes("notice_words.txt", seed)


@functools.cache
def _widget_runs(seed: int) -> tuple[U64, I64]:
    """The widget texts' token hashes, and where each of their runs of `WIDGET_GRAM` tokens starts."""
    tokens = tokenize(_texts("widgets.txt"), seed)
    return tokens.hashes, _gram_starts(tokens.offsets, WIDGET_GRAM)


@functools.cache
def widget_grams(seed: int) -> U64:
    """Sorted hashes of every run of `WIDGET_GRAM` tokens in the widget texts."""
    hashes, starts = _widget_runs(seed)
    return np.unique(_grams(hashes, starts, WIDGET_GRAM))


@functools.cache
def widget_firsts(seed: int) -> U64:
    """Sorted hashes of the first token of every run of `WIDGET_GRAM` tokens in the widget texts (a run of a page
    can be a widget gram only if its first token is one of these)."""
    hashes, starts = _widget_runs(seed)
    return np.unique(hashes[starts])


@functools.cache
def _tables(seed: int) -> tuple[U64, npt.NDArray[np.uint8], U64]:
    """The compiled pass' tables: the function words, notice words and widget grams' first words in one table with
    their kinds (`kind_table`), and the widget grams (`lookup_table`)."""
    from reprints.normalize.template_kernel import kind_table, lookup_table

    words, kinds = kind_table(function_words(seed), notice_words(seed), widget_firsts(seed))
    return words, kinds, lookup_table(widget_grams(seed))


def _gram_starts(offsets: I64, size: int) -> I64:
    """Positions where a run of `size` tokens starts without crossing into the next document."""
    count = int(offsets[-1])
    if count < size:
        return np.empty(0, dtype=np.int64)
    starts = np.arange(count - size + 1, dtype=np.int64)
    doc_end = offsets[1:][np.searchsorted(offsets, starts, side="right") - 1]
    return starts[starts + size <= doc_end]


def _grams(hashes: U64, starts: I64, size: int) -> U64:
    out = hashes[starts].copy()
    for j in range(1, size):
        out = mix64(out, int(GRAM_SEED)) ^ hashes[starts + j]
    return out


def template_mask(hashes: U64, offsets: I64, seed: int) -> Mask:
    """Which tokens are template, for a batch of documents (token `hashes`, document `offsets` into them).

    A large batch takes one compiled pass (`reprints.normalize.template_kernel`, the same marks)."""
    if len(hashes) >= COMPILED_FROM:
        return compiled_template_mask(hashes, offsets, seed)
    return numpy_template_mask(hashes, offsets, seed)


def compiled_template_mask(hashes: U64, offsets: I64, seed: int) -> Mask:
    """`template_mask` in one compiled pass (large batches)."""
    from reprints.normalize.template_kernel import compiled_marks

    parameters = (WINDOW, LOW_DENSITY, GATE_WINDOW, GATE_DENSITY, NOTICE_WORDS, WIDGET_GRAM, GAP, GRAM_SEED)
    return compiled_marks(hashes, offsets, *_tables(seed), parameters)


def numpy_template_mask(hashes: U64, offsets: I64, seed: int) -> Mask:
    """`template_mask` in NumPy (small batches; the reference the compiled pass is tested against)."""
    count = len(hashes)
    mask = np.zeros(count, dtype=np.bool_)
    if count == 0:
        return mask
    docs = len(offsets) - 1
    doc_of = np.repeat(np.arange(docs), np.diff(offsets))
    start, end = offsets[:-1][doc_of], offsets[1:][doc_of]
    position = np.arange(count, dtype=np.int64)
    function = np.isin(hashes, function_words(seed))
    before = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(function, out=before[1:])

    # The gate: the densest stretch of GATE_WINDOW tokens (the whole document if shorter), per document.
    reach = np.minimum(position + GATE_WINDOW, end)
    full = (reach - position == GATE_WINDOW) | (position == start)
    density = (before[reach] - before[position]) / np.maximum(reach - position, 1)
    densest = np.zeros(docs)
    np.maximum.at(densest, doc_of[full], density[full])
    gated = densest[doc_of] >= GATE_DENSITY

    low = np.maximum(position - WINDOW // 2, start)
    high = np.minimum(position + WINDOW // 2 + 1, end)
    mask |= gated & ((before[high] - before[low]) < LOW_DENSITY * (high - low))

    mask |= _notices(hashes, position, start, end, seed)

    grams = _gram_starts(offsets, WIDGET_GRAM)
    hit = grams[np.isin(_grams(hashes, grams, WIDGET_GRAM), widget_grams(seed))]
    for j in range(WIDGET_GRAM):
        mask[hit + j] = True
    return _fill_gaps(mask, offsets)


def _notices(hashes: U64, position: I64, start: I64, end: I64, seed: int) -> Mask:
    """Tokens inside some window of `WINDOW` tokens (in one document) holding `NOTICE_WORDS` notice words."""
    before = np.zeros(len(hashes) + 1, dtype=np.int64)
    np.cumsum(np.isin(hashes, notice_words(seed)), out=before[1:])
    reach = np.minimum(position + WINDOW, end)
    notice = before[reach] - before[position] >= NOTICE_WORDS  # the window starting at each token
    windows = np.zeros(len(hashes) + 1, dtype=np.int64)
    np.cumsum(notice, out=windows[1:])
    first = np.maximum(position - WINDOW + 1, start)  # the windows covering a token start here to its position
    return windows[position + 1] - windows[first] > 0


def _fill_gaps(mask: Mask, offsets: I64) -> Mask:
    """Runs of fewer than GAP content tokens with template on both sides (in one document) become template."""
    edges = np.diff(np.concatenate(([1], mask.view(np.int8), [1])))
    run_start, run_end = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    short = (run_end - run_start < GAP) & (run_start > 0) & (run_end < len(mask))
    run_start, run_end = run_start[short], run_end[short]
    doc_of_start = np.searchsorted(offsets, run_start, side="right") - 1
    inside = (run_start > offsets[doc_of_start]) & (run_end < offsets[doc_of_start + 1])
    out = mask.copy()
    out[ranges(run_start[inside], run_end[inside] - run_start[inside])] = True
    return out
