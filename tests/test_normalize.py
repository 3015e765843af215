from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import news_texts
from reprints.normalize.chars import ATTACHED, BASE, is_split, kind_of
from reprints.normalize.tokens import tokenize


def words(text: str) -> list[str]:
    toks = tokenize([text]).of(0)
    return [text[s:e] for s, e in zip(toks.starts.tolist(), toks.ends.tolist(), strict=True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Hello, world!", ["Hello", "world"], id="punctuation"),
        pytest.param("  two\n\tlines  ", ["two", "lines"], id="whitespace"),
        pytest.param("Putin’s “decision”", ["Putin", "s", "decision"], id="curly-quotes"),
        pytest.param("re-arm—now", ["re", "arm", "now"], id="dashes"),
        pytest.param("", [], id="empty"),
        pytest.param("!!! ...", [], id="no-words"),
        pytest.param("café naïve", ["café", "naïve"], id="accents"),
        pytest.param("a 😀 b", ["a", "b"], id="astral-symbol"),
    ],
)
def test_token_spans(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param("Don’t STOP", "don't stop", id="quote-and-case"),
        pytest.param("Straße", "STRASSE", id="sharp-s-folds"),
        pytest.param("ﬁne", "fine", id="ligature-nfkc"),
        pytest.param("ＡＢＣ１２３", "abc123", id="fullwidth-nfkc"),
        # marks and joiners fold into their base
        pytest.param("café résumé", "cafe\u0301 re\u0301sume\u0301", id="decomposed-accents"),
        pytest.param("Ångström", "A\u030angstro\u0308m", id="decomposed-ring-and-umlaut"),
        pytest.param("كتاب الطالب", "كِتَابُ الطَّالِب", id="arabic-tashkeel"),
        pytest.param("كتاب", "كـتـاب", id="arabic-tatweel"),
        pytest.param("soft hyphen", "soft hy\u00adphen", id="soft-hyphen"),
        pytest.param("می\u200cخواهم", "میخواهم", id="zero-width-non-joiner"),
    ],
)
def test_equivalent_spellings_hash_alike(left: str, right: str) -> None:
    toks = tokenize([left, right])
    assert toks.of(0).hashes.tolist() == toks.of(1).hashes.tolist()


def test_different_words_hash_apart() -> None:
    toks = tokenize(["the cat sat on the mat"])
    hashes = toks.hashes.tolist()
    assert hashes[0] == hashes[4]
    assert len(set(hashes)) == 5


def test_batch_equals_single() -> None:
    texts = ["First text here.", "", "Second, “quoted” text!", "x"]
    batch = tokenize(texts)
    for i, text in enumerate(texts):
        alone = tokenize([text]).of(0)
        part = batch.of(i)
        assert part.starts.tolist() == alone.starts.tolist()
        assert part.hashes.tolist() == alone.hashes.tolist()


def test_hash_seed_changes_hashes_and_is_stable() -> None:
    a = tokenize(["stable hashes"], seed=0).hashes
    b = tokenize(["stable hashes"], seed=1).hashes
    assert not np.array_equal(a, b)
    assert np.array_equal(a, tokenize(["stable hashes"], seed=0).hashes)


def test_glued_punctuation_widens_span() -> None:
    text = "He said: “Stop.” Then left."
    toks = tokenize([text]).of(0)
    stop = words(text).index("Stop")
    assert text[toks.lead[stop] : toks.trail[stop]] == "“Stop.”"


TYPOGRAPHY = st.sampled_from(
    [
        ("'", "’"),
        ("'", "‘"),
        ('"', "“"),
        ('"', "”"),
        ("-", "—"),
        ("-", "–"),
        (" ", "  "),
        (" ", "\n"),
        (" ", "\t"),
        (" ", "\u00a0"),
    ]
)
TEXTS = st.text(alphabet=st.sampled_from(list("abcXYZ019 '\"-.,\n")), max_size=200)


@given(TEXTS, st.lists(TYPOGRAPHY, max_size=4), st.booleans())
@settings(max_examples=200, deadline=None)
def test_typography_and_case_never_change_tokens(text: str, swaps: list[tuple[str, str]], upper: bool) -> None:
    changed = text
    for plain, fancy in swaps:
        changed = changed.replace(plain, fancy)
    if upper:
        changed = changed.upper()
    toks = tokenize([text, changed])
    assert toks.of(0).hashes.tolist() == toks.of(1).hashes.tolist()


@given(st.text(max_size=300))
@example("\u3400\u03000")  # a Han character with a mark, then a digit: two tokens, the edge between them is fine
@settings(max_examples=300, deadline=None)
def test_spans_sit_on_token_boundaries(text: str) -> None:
    toks = tokenize([text]).of(0)
    for start, end, lead, trail in zip(
        toks.starts.tolist(), toks.ends.tolist(), toks.lead.tolist(), toks.trail.tolist(), strict=True
    ):
        assert 0 <= lead <= start < end <= trail <= len(text)
        glued = text[lead:start] + text[end:trail]
        assert not any(kind_of(ch) == BASE or ch.isspace() for ch in glued), f"widened over {glued!r}"
        for edge in (lead, trail):
            assert not _inside_word(text, edge), f"span edge {edge} splits a word in {text!r}"


def _inside_word(text: str, edge: int) -> bool:
    """An edge between a letter and what belongs to it: a mark after it, or a letter of a spaced script."""
    if not 0 < edge < len(text):
        return False
    after = text[edge]
    base = edge - 1
    while base > 0 and kind_of(text[base]) == ATTACHED:
        base -= 1
    if kind_of(text[base]) != BASE:
        return False
    if kind_of(after) == ATTACHED:
        return True
    # a letter of an unspaced script is a token of its own (with its marks): its base decides, not its mark
    return kind_of(after) == BASE and not is_split(ord(after)) and not is_split(ord(text[base]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("我们在北京。", ["我", "们", "在", "北", "京"], id="han"),
        pytest.param("東京ですね", ["東", "京", "で", "す", "ね"], id="kanji-and-kana"),
        pytest.param("iPhone发布", ["iPhone", "发", "布"], id="latin-then-han"),
        pytest.param("สวัสดี", ["ส", "วั", "ส", "ดี"], id="thai-with-marks"),
        pytest.param("I ❤️ NY", ["I", "NY"], id="emoji-variation-selector"),
        pytest.param("\ufe0f\u0301 alone", ["alone"], id="marks-without-base"),
    ],
)
def test_unspaced_scripts_and_stray_marks(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_character_tables_from_the_cache_equal_freshly_built_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import fields

    from reprints.normalize import chars

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    chars.tables.cache_clear()
    try:
        written = chars.tables()  # builds and writes the cache
        assert list((tmp_path / "reprints").glob("chars-*.npz"))
        chars.tables.cache_clear()
        loaded = chars.tables()  # reads it
        (cache,) = (tmp_path / "reprints").glob("chars-*.npz")
        cache.write_bytes(b"damaged")
        chars.tables.cache_clear()
        rebuilt = chars.tables()  # a damaged cache is built anew
        for field in fields(chars.CharTables):
            assert np.array_equal(getattr(written, field.name), getattr(loaded, field.name))
            assert np.array_equal(getattr(written, field.name), getattr(rebuilt, field.name))
    finally:
        chars.tables.cache_clear()


NEWS_TEXTS = news_texts()[:60]
# Characters that exercise every branch of the tokenizer: marks with and without a base, joiners, unspaced
# scripts, astral letters, digits and symbols, folds to several units (ß, ﬁ, ŉ), spaces that are not ASCII.
ODD = [*"\u0301\u0308\u200d\u200c\u00ad\ufe0f\u0640東京タワーสวัสดีßﬁŉＡ１\u00a0\u3000“”—.,'", "\U0001d400", "\U00020000"]
ODD += ["\U0001f600", "\U000e0100", "\ud800"]


def _news_pieces(odd: list[str]) -> st.SearchStrategy[list[str]]:
    """Texts cut from real articles with the characters of `odd` dropped in anywhere."""

    def built(pieces: list[tuple[int, int, int, list[tuple[int, str]]]]) -> list[str]:
        texts = []
        for number, start, length, inserts in pieces:
            chars = list(NEWS_TEXTS[number][start : start + length])
            for at, char in inserts:
                chars.insert(min(at, len(chars)), char)
            texts.append("".join(chars))
        return texts

    piece = st.tuples(
        st.integers(min_value=0, max_value=len(NEWS_TEXTS) - 1),
        st.integers(min_value=0, max_value=2000),
        st.integers(min_value=0, max_value=600),
        st.lists(st.tuples(st.integers(min_value=0, max_value=600), st.sampled_from(odd)), max_size=30),
    )
    return st.lists(piece, min_size=1, max_size=8).map(built)


@given(_news_pieces(ODD), st.integers(min_value=0, max_value=2**64 - 1))
@settings(max_examples=150, deadline=None)
def test_compiled_tokenizer_equals_numpy_tokenizer(texts: list[str], seed: int) -> None:
    """The compiled pass (large batches) and the NumPy code (small ones) give the same tokens, bounds, hashes and
    glued punctuation: texts cut from real articles with odd characters dropped in anywhere."""
    from reprints.normalize.chars import tables
    from reprints.normalize.tokens import _CHAR_SEED, _TOKEN_BASE, _numpy_tokens, joined_code_points
    from reprints.normalize.tokens_kernel import compiled_tokens

    cps, _ = joined_code_points(texts)
    table = tables()
    plain = _numpy_tokens(cps, table, seed)
    compiled = compiled_tokens(cps, table, _CHAR_SEED, _TOKEN_BASE, seed)
    for name, left, right in zip(("starts", "ends", "hashes", "lead", "trail"), plain, compiled, strict=True):
        assert np.array_equal(left, right), name


@given(_news_pieces(["\n", "\n\n", " \n ", "\r\n", *ODD]), st.integers(min_value=0, max_value=2**64 - 1))
@settings(max_examples=150, deadline=None)
def test_compiled_lines_equal_numpy_lines(texts: list[str], seed: int) -> None:
    """Lines split by the compiled pass (large batches) are the NumPy code's: texts cut from real articles with
    newlines (runs of them, at either end, beside spaces) and odd characters dropped in anywhere, empty texts and
    texts without a word among them."""
    from reprints.normalize import lines as module
    from reprints.normalize import tokens as token_module

    tokens = tokenize(texts, seed)
    default = token_module.COMPILED_FROM
    try:
        token_module.COMPILED_FROM = 0
        compiled = module.split_lines(texts, tokens)
        token_module.COMPILED_FROM = 10**12
        plain = module.split_lines(texts, tokens)
    finally:
        token_module.COMPILED_FROM = default
    for name in module.Lines.__dataclass_fields__:
        assert getattr(compiled, name).tolist() == getattr(plain, name).tolist(), name


@given(_news_pieces(["\n", "\n\n", " \n ", *ODD]), st.integers(min_value=0, max_value=2**64 - 1))
@settings(max_examples=150, deadline=None)
def test_a_document_has_the_same_tokens_in_any_batch(texts: list[str], seed: int) -> None:
    """Each document of a batch gets the tokens it gets alone, at the same positions of its own text, whether the
    batch takes the compiled pass (which walks the batch's texts joined; each token's document and positions are
    found after) or the NumPy code: texts cut from real articles, empty ones and ones without a word among them,
    at either end of the batch too."""
    from reprints.normalize import tokens as module

    default = module.COMPILED_FROM
    try:
        module.COMPILED_FROM = 10**12
        alone = [tokenize([text], seed) for text in texts]
        for threshold in (0, 10**12):
            module.COMPILED_FROM = threshold
            batch = tokenize(texts, seed)
            for doc, own in enumerate(alone):
                for name in ("starts", "ends", "hashes", "lead", "trail"):
                    assert getattr(batch.of(doc), name).tolist() == getattr(own, name).tolist(), (doc, name)
    finally:
        module.COMPILED_FROM = default


@pytest.mark.parametrize("text", ["a " * 3000, "東京タワー" * 1000, "x.y" * 2000 + " \U0001d400" * 500])
def test_compiled_tokenizer_with_more_tokens_than_its_first_guess(text: str) -> None:
    """The compiled pass first makes room for a token per four characters; text denser in tokens (one-letter
    words, a script with one token per character) is walked again with room for every character."""
    from reprints.normalize.chars import tables
    from reprints.normalize.tokens import _CHAR_SEED, _TOKEN_BASE, _numpy_tokens, joined_code_points
    from reprints.normalize.tokens_kernel import compiled_tokens

    cps, _ = joined_code_points([text, "tail words"])
    table = tables()
    plain = _numpy_tokens(cps, table, 7)
    compiled = compiled_tokens(cps, table, _CHAR_SEED, _TOKEN_BASE, 7)
    assert len(plain[0]) > len(cps) // 4 + 64
    for name, left, right in zip(("starts", "ends", "hashes", "lead", "trail"), plain, compiled, strict=True):
        assert np.array_equal(left, right), name


def test_tokenize_takes_the_compiled_pass_for_large_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole batches through `tokenize` (compiled above the threshold) equal the NumPy path, per document."""
    from reprints.normalize import tokens as module

    texts = [*NEWS_TEXTS, "", "東京タワー \U0001d400\U0001d401 ok", "\u0301"]
    monkeypatch.setattr(module, "COMPILED_FROM", 0)
    compiled = tokenize(texts, seed=3)
    monkeypatch.setattr(module, "COMPILED_FROM", 10**12)
    plain = tokenize(texts, seed=3)
    for name in ("starts", "ends", "hashes", "offsets", "lead", "trail"):
        assert np.array_equal(getattr(compiled, name), getattr(plain, name)), name
