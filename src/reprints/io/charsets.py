"""Charset labels read as browsers read them: the WHATWG Encoding Standard's table of labels
(https://encoding.spec.whatwg.org/#names-and-labels, 228 labels of 40 encodings), each encoding decoded by a
Python codec.

The table is a whitelist. A name that is not one of its labels names no encoding, as in a browser, even when
Python has a codec of that name: `hex`, `base64`, `rot13`, `zip`, `idna` or `punycode` are not text encodings,
and `utf-7`, `unicode_escape`, `charmap` or `palmos` are not encodings a browser reads a page in.

Labels mean what they mean to browsers, not to Python: `iso-8859-1`, `latin1` and `us-ascii` are Windows-1252,
`gb2312` is GBK (read by gb18030's decoder, as the standard reads it), `shift_jis` Windows-932, `euc-kr`
Windows-949, `big5` Big5-HKSCS, `utf-16` (without a byte-order mark) UTF-16LE, except in a page's own
declaration, where UTF-16 means UTF-8 and x-user-defined Windows-1252. Two encodings have no Python codec:
`replacement` (the labels of ISO-2022-KR, ISO-2022-CN and HZ-GB-2312, which browsers refuse to decode: the whole
input reads as one U+FFFD) and `x-user-defined` (bytes 0x80-0xFF as U+F780-U+F7FF); `decode_as` decodes them.
Where a Python codec differs from the standard's index it is in a few rare characters (KOI8-U's 0xAE and 0xBE are
box drawing in Python, ў and Ў in the standard).
"""

from __future__ import annotations

REPLACEMENT = "replacement"  # a pseudo-codec: the input reads as one U+FFFD
USER_DEFINED = "x-user-defined"  # a pseudo-codec: ASCII, and bytes 0x80-0xFF as U+F780-U+F7FF

# The standard's table: (Python codec, the encoding's labels separated by spaces), in the standard's order: its
# legacy single-byte encodings, then the others.
_SINGLE_BYTE_ENCODINGS: tuple[tuple[str, str], ...] = (
    ("cp866", "866 cp866 csibm866 ibm866"),
    ("iso8859-2", "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2"),
    ("iso8859-3", "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3"),
    ("iso8859-4", "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4"),
    ("iso8859-5", "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988"),
    (
        "iso8859-6",
        "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e "
        "iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    ),
    (
        "iso8859-7",
        "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 iso_8859-7 "
        "iso_8859-7:1987 sun_eu_greek",
    ),
    (
        "iso8859-8",
        "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 "
        "iso_8859-8 iso_8859-8:1988 visual",
    ),
    ("iso8859-8", "csiso88598i iso-8859-8-i logical"),  # ISO-8859-8-I: the bytes of ISO-8859-8, in logical order
    ("iso8859-10", "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6"),
    ("iso8859-13", "iso-8859-13 iso8859-13 iso885913"),
    ("iso8859-14", "iso-8859-14 iso8859-14 iso885914"),
    ("iso8859-15", "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9"),
    ("iso8859-16", "iso-8859-16"),
    ("koi8-r", "cskoi8r koi koi8 koi8-r koi8_r"),
    ("koi8-u", "koi8-ru koi8-u"),
    ("mac-roman", "csmacintosh mac macintosh x-mac-roman"),
    ("cp874", "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874"),
    ("cp1250", "cp1250 windows-1250 x-cp1250"),
    ("cp1251", "cp1251 windows-1251 x-cp1251"),
    (
        "cp1252",
        "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 "
        "iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    ),
    ("cp1253", "cp1253 windows-1253 x-cp1253"),
    (
        "cp1254",
        "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5 "
        "windows-1254 x-cp1254",
    ),
    ("cp1255", "cp1255 windows-1255 x-cp1255"),
    ("cp1256", "cp1256 windows-1256 x-cp1256"),
    ("cp1257", "cp1257 windows-1257 x-cp1257"),
    ("cp1258", "cp1258 windows-1258 x-cp1258"),
    ("mac-cyrillic", "x-mac-cyrillic x-mac-ukrainian"),
)
_OTHER_ENCODINGS: tuple[tuple[str, str], ...] = (
    ("utf-8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8"),
    # GBK's labels with gb18030's: the standard decodes GBK with the gb18030 decoder (Python's gbk lacks the euro
    # sign at 0xA2E3 and the four-byte sequences pages labelled GBK or GB2312 carry)
    ("gb18030", "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk gb18030"),
    ("big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5"),
    ("euc_jp", "cseucpkdfmtjapanese euc-jp x-euc-jp"),
    ("iso2022_jp_ext", "csiso2022jp iso-2022-jp"),  # _ext: with the half-width katakana browsers read
    ("cp932", "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis"),
    (
        "cp949",
        "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 windows-949",
    ),
    (REPLACEMENT, "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement"),
    ("utf-16-be", "unicodefffe utf-16be"),
    ("utf-16-le", "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le"),
    (USER_DEFINED, "x-user-defined"),
)
_ENCODINGS = _SINGLE_BYTE_ENCODINGS + _OTHER_ENCODINGS
CODEC_OF_LABEL: dict[str, str] = {label: codec for codec, labels in _ENCODINGS for label in labels.split()}
CODECS: frozenset[str] = frozenset(codec for codec, _ in _ENCODINGS)
SINGLE_BYTE: frozenset[str] = frozenset(codec for codec, _ in _SINGLE_BYTE_ENCODINGS) | {USER_DEFINED}
UTF16 = frozenset({"utf-16-le", "utf-16-be"})
_ASCII_WHITESPACE = "\t\n\f\r "
_USER_DEFINED_TABLE = {byte: 0xF780 + byte - 0x80 for byte in range(0x80, 0x100)}


def codec_for(label: str, *, in_page: bool = False) -> str | None:
    """The Python codec (or `REPLACEMENT`, `USER_DEFINED`) a browser reads a charset label as, or None when the
    label names no encoding. `in_page`: the label is the page's own (meta tag or XML declaration), where UTF-16
    means UTF-8 and x-user-defined Windows-1252 (HTML's rule: the declaration was read as ASCII, so the bytes are
    not UTF-16)."""
    name = label.strip(_ASCII_WHITESPACE)
    if not name.isascii():  # labels are matched ASCII case-insensitively: the Kelvin sign is no `k`
        return None
    codec = CODEC_OF_LABEL.get(name.lower())
    if in_page and codec in UTF16:
        return "utf-8"
    if in_page and codec == USER_DEFINED:
        return "cp1252"
    return codec


def decode_as(data: bytes, codec: str, errors: str = "strict") -> str:
    """`data` decoded with a codec `codec_for` returned (the pseudo-codecs included).

    Raises:
        UnicodeDecodeError: `errors` is strict and `data` is not valid in `codec`.
    """
    if codec == REPLACEMENT:
        return "\ufffd" if data else ""
    if codec == USER_DEFINED:
        return data.decode("latin-1").translate(_USER_DEFINED_TABLE)
    return data.decode(codec, errors)
