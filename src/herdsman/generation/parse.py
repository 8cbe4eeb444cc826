"""Turn a teacher's reply into instructions, surviving what real models emit.

Handled: ``<example>`` tags with or without closing tags, numbered or
bulleted lists (when the model ignores the tags), replies of plain
paragraphs (small models often drop all structure: each paragraph that is
not a preamble such as "Sure, here are..." counts), prose before or after,
labels such as ``Instruction:`` or ``Example 3:``, an answer the model added
despite being told not to, repeated items, and a reply cut off by the length
limit (its unfinished last item is dropped).
"""

from __future__ import annotations

import re

from herdsman.generation.dedup import normalise

_OPEN = re.compile(r"<\s*example\s*>", re.I)
_CLOSE = re.compile(r"<\s*/\s*example\s*>", re.I)
_ANY_TAG = re.compile(r"<\s*/?\s*example\s*>", re.I)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}\s*[.):]|[-*•]|\(\d{1,3}\))\s+(?=\S)")
_LABEL = re.compile(r"^\s*(?:(?:example|instruction|task|question)\s*\d*\s*[:.)-]\s*)+", re.I)
_ANSWER = re.compile(r"\n\s*(?:output|response|answer|solution)\s*:", re.I)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"  # straight, back and curly quotes


def clean_item(text: str) -> str:
    """Strip list markers, labels, a trailing answer section and wrapping quotes."""
    text = _ANY_TAG.sub("", text)
    cut = _ANSWER.search(text)
    if cut:
        text = text[: cut.start()]
    text = text.strip()
    text = _LIST_ITEM.sub("", text, count=1)
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _from_tags(reply: str, truncated: bool) -> list[str]:
    pieces = _OPEN.split(reply)[1:]  # text before the first tag is prose
    items: list[str] = []
    any_closed = False
    for index, piece in enumerate(pieces):
        close = _CLOSE.search(piece)
        last = index == len(pieces) - 1
        if close:
            any_closed = True
            items.append(piece[: close.start()])
            continue
        if last and truncated:
            continue  # cut off by the length limit: unfinished
        if last and any_closed:
            # The others were closed: this one is unfinished, or is followed by prose.
            piece = piece.split("\n\n", 1)[0]
        items.append(piece)
    return items


def _from_list(reply: str, truncated: bool) -> list[str]:
    items: list[str] = []
    current: list[str] | None = None
    for line in reply.splitlines():
        if _LIST_ITEM.match(line):
            if current is not None:
                items.append("\n".join(current))
            current = [line]
        elif current is not None and line.strip() and not line.startswith(("Here", "I hope")):
            current.append(line.strip())  # continuation of a multi-line item
        elif current is not None:
            items.append("\n".join(current))
            current = None
    if current is not None and not truncated:
        items.append("\n".join(current))
    return items


_PREAMBLE = re.compile(
    r"^\s*(?:here\b|sure\b|certainly\b|of course\b|okay\b|ok\b|i\b|i'm\b|i am\b|as an ai\b|"
    r"these\b|the following\b|note\b|hope\b|let me\b|example\b)",
    re.I,
)


def _from_paragraphs(reply: str, truncated: bool) -> list[str]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", reply) if p.strip()]
    if truncated and paragraphs:
        paragraphs = paragraphs[:-1]
    return [p for p in paragraphs if not _PREAMBLE.match(p) and p[-1:] in ".?!" and "\n" not in p]


def parse_instructions(reply: str, truncated: bool = False) -> list[str]:
    """Extract the instructions from one reply, in order, without repeats.

    Args:
        reply: The teacher's text.
        truncated: The reply was cut by the length limit (``finish_reason ==
            "length"``); its last, unfinished item is dropped.

    Returns:
        Clean instruction texts (possibly empty: nothing parseable).
    """
    if _OPEN.search(reply):
        raw = _from_tags(reply, truncated)
    else:
        raw = _from_list(reply, truncated) or _from_paragraphs(reply, truncated)
    seen: set[str] = set()
    out: list[str] = []
    for item in raw:
        text = clean_item(item)
        key = normalise(text)
        if not text or key in seen:
            continue
        seen.add(key)
        out.append(text)
    return out
