"""YAML loading that remembers the line of every key, so config errors can name it.

Configs are shared files, so they are hostile input: YAML aliases can expand a
few hundred bytes into millions of nodes ("billion laughs") or refer to
themselves. Expansion is bounded (:data:`MAX_NODES`) and self-reference is
refused, each with a one-line error naming the line, before anything else
reads the document. A key given twice in one mapping is refused naming both
lines (YAML loaders otherwise keep the last one silently), and so is a file
that is not UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from herdsman.errors import InputError

Loc = tuple[str | int, ...]
#: Nodes a config may expand to (aliases counted as often as they are used).
MAX_NODES = 20_000


@dataclass
class LinedYaml:
    """A parsed YAML document plus the 1-based line of each key path."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of ``loc`` or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, path: Path, lines: dict[Loc, int]) -> None:
    """Record the line of every key path, bounding alias expansion and refusing cycles."""
    seen = 0
    stack: list[tuple[yaml.Node, Loc, frozenset[int]]] = [(node, (), frozenset())]
    while stack:
        current, loc, ancestors = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise InputError(
                str(path),
                current.start_mark.line + 1,
                f"the YAML expands to more than {MAX_NODES:,} nodes (aliases used too often?)",
            )
        if id(current) in ancestors:
            raise InputError(
                str(path), current.start_mark.line + 1, "a YAML alias refers to itself"
            )
        inside = ancestors | {id(current)}
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                child = (*loc, str(key.value))
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if str(key.value) in first:
                        where = ".".join(map(str, child))
                        raise InputError(
                            str(path),
                            line,
                            f"key '{where}' is given twice (lines {first[str(key.value)]} "
                            f"and {line}); keep one",
                        )
                    first[str(key.value)] = line
                lines[child] = line
                stack.append((value, child, inside))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                lines[(*loc, i)] = item.start_mark.line + 1
                stack.append((item, (*loc, i), inside))


def load_yaml_with_lines(path: Path) -> LinedYaml:
    """Parse a YAML file; keys' lines are recorded by path (``("generate", "sampling")``).

    Raises:
        InputError: Unreadable or non-UTF-8 file, a YAML syntax error or a duplicate
            key (with its line).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        guess = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise InputError(
            str(path), line, f"not UTF-8 text{guess}: save the config as UTF-8"
        ) from None
    lines: dict[Loc, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            lines[()] = node.start_mark.line + 1
            _walk(node, path, lines)  # bounded: raises before anything expands
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            str(path), mark.line + 1 if mark else None, f"invalid YAML: {problem}"
        ) from None
    return LinedYaml(data, lines)
