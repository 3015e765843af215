"""A comparison of two documents, rendered for a person at a terminal."""

from __future__ import annotations

import re
import shutil

from reprints.types import Pair

CONTEXT_WORDS = 3


def _words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _edge_views(text: str, start: int, end: int) -> tuple[str, str]:
    """`before ▸first words` and `last words◂ after` for the passage `text[start:end]`."""
    inside = _words(text[start:end])
    before = " ".join(_words(text[:start])[-CONTEXT_WORDS:])
    after = " ".join(_words(text[end:])[:CONTEXT_WORDS])
    head = " ".join(inside[: CONTEXT_WORDS * 2])
    tail = " ".join(inside[-CONTEXT_WORDS * 2 :])
    return f"{before} ▸{head}".strip(), f"{tail}◂ {after}".strip()


def describe(pair: Pair, text_a: str, text_b: str) -> str:
    """A few lines saying how two documents relate, with each aligned passage side by side."""
    width = shutil.get_terminal_size((120, 24)).columns
    column = max(30, (width - 12) // 2)
    lines = []
    if pair.relation == "contained":
        inner = pair.b if pair.container == pair.a else pair.a
        lines.append(f"relation: contained ({inner} is contained in {pair.container})")
    elif not pair.spans:
        lines.append(f"relation: {pair.relation} (no shared passage)")  # as `--json` and the API say it
    else:
        lines.append(f"relation: {pair.relation}")
    lines.append(f"coverage: {pair.a} {pair.coverage_a:.1%} · {pair.b} {pair.coverage_b:.1%}")
    for number, span in enumerate(pair.spans, start=1):
        a_head, a_tail = _edge_views(text_a, span.a_start, span.a_end)
        b_head, b_tail = _edge_views(text_b, span.b_start, span.b_end)
        lines.append("")
        lines.append(f"passage {number} of {len(pair.spans)}")
        rows = [
            ("", pair.a, pair.b),
            ("chars", f"{span.a_start}–{span.a_end}", f"{span.b_start}–{span.b_end}"),
            ("begins", a_head, b_head),
            ("ends", a_tail, b_tail),
        ]
        for label, left, right in rows:
            lines.append(f"  {label:<8}{_clip(left, column):<{column}}  {_clip(right, column)}")
    return "\n".join(lines)
