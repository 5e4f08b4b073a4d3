"""A topology file's YAML as the topology loader reads it: limits (nesting depth, values
Python refuses), duplicate keys refused, and each node's line, so that every error names
the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import TopologyError

__all__ = ["MAX_DEPTH", "line_of", "parse_yaml", "short", "value_node"]

MAX_DEPTH = 20  # YAML nesting: a real topology nests 4 levels
_SURROGATE = re.compile("[\ud800-\udfff]")


def short(text: str, limit: int = 60) -> str:
    """A user's string quoted for a message, cut if long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


class _Refused(yaml.MarkedYAMLError):
    """A YAML document refused while loading: too deep, or a value Python cannot hold."""

    def __init__(
        self, problem: str, mark: yaml.Mark | None, field: str, node: yaml.Node | None = None
    ) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.field = field
        self.node = node


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH (composing recurses) and turns
    a value Python refuses (an integer of thousands of digits, a date like 2001-02-30) into
    a YAML error at its line, with the field it sits in."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._keys: list[str] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        label = index.value if isinstance(index, yaml.ScalarNode) else index
        pushed = parent is not None and label is not None
        if pushed:
            self._keys.append(str(label))
        try:
            if len(self._keys) > MAX_DEPTH:
                raise _Refused(
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                    ".".join(self._keys[:4]) + "...",
                )
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            if pushed:
                self._keys.pop()

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise _Refused(f"unreadable value: {exc}", node.start_mark, "", node) from None
        if isinstance(value, str) and _SURROGATE.search(value):
            # "\ud800" in a double-quoted string: no character, and no UTF-8 can hold it
            raise _Refused(
                "unreadable value: a lone surrogate (\\uD800 to \\uDFFF) is no character",
                node.start_mark,
                "",
                node,
            )
        return value


def _field_of(root: yaml.Node, target: yaml.Node) -> str:
    """The dotted field of a node in the document (breadth first; aliases may loop)."""
    todo: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    seen: set[int] = set()
    while todo:
        node, keys = todo.pop(0)
        if node is target:
            return ".".join(keys)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            todo += [(v, (*keys, str(k.value))) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            todo += [(v, (*keys, str(i))) for i, v in enumerate(node.value)]
    return ""


def _refuse_duplicate_keys(root: yaml.Node) -> None:
    """YAML keeps the last of two equal keys and drops the first without a word: refused."""
    todo: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    seen: set[int] = set()
    while todo:
        node, keys = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            firsts: dict[str, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in firsts:
                        field = ".".join((*keys, str(k.value)))
                        raise _Refused(
                            f"duplicate key {short(str(k.value))} (first at line "
                            f"{firsts[k.value]})",
                            k.start_mark,
                            field,
                        )
                    firsts[k.value] = k.start_mark.line + 1
                todo.append((v, (*keys, str(getattr(k, "value", "?")))))
        elif isinstance(node, yaml.SequenceNode):
            todo += [(v, (*keys, str(i))) for i, v in enumerate(node.value)]


def parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for lines) and its data, or a TopologyError with the line."""
    root: yaml.Node | None = None
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters at once
        root = loader.get_single_node()
        if root is not None:
            _refuse_duplicate_keys(root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line: int | None = mark.line + 1 if mark is not None else None
        if isinstance(exc, yaml.reader.ReaderError):
            line = text[: exc.position].count("\n") + 1
        where = f"{path}:{line}" if line else str(path)
        field = ""
        if isinstance(exc, _Refused):
            field = exc.field
            if exc.node is not None and root is not None:
                field = _field_of(root, exc.node)
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):
            problem = f"character U+{exc.character:04X} is not allowed in YAML"
        field = f"{field}: " if field else ""
        raise TopologyError(f"{where}: {field}invalid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return root, data


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (deepest known)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == key:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
            if node is not None:
                line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line


def value_node(root: yaml.Node | None, loc: tuple[str, ...]) -> yaml.Node | None:
    """The YAML node written at a field of the document, if written there directly."""
    node = root
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == key), None)
    return node
