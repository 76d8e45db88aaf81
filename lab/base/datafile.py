"""YAML data files that remember where every value came from, read strictly into typed objects.

Topologies and scenarios are data files with strict validation. A mistake in one is an
:class:`~lab.base.errors.InputError` naming the file, the line and the fix, raised before anything
is built. This module is generic: it knows nothing about topologies.

    doc = datafile.load("topologies/sfb-cms-expressway.yaml")
    model = doc.read(TopologyFile)                 # strict conversion, driven by type hints
    raise doc.error(("segments", "internet", "subnet"), "overlaps vc-internal", fix="...")

Conversion (:meth:`Document.read`) follows the target's type hints:

* frozen dataclasses: a mapping whose keys are the field names (``field(metadata={"key": ...})``
  renames one); a field without a default is required; an unknown key is an error that suggests
  the nearest known key;
* ``str`` (any non-null scalar, taken as written), ``int`` (plain decimal), ``bool`` (``true`` /
  ``false`` only: YAML 1.1's ``yes``/``on`` are refused), ``float``, ``Literal["a", "b"]``,
  ``X | None``;
* ``tuple[X, ...]`` (a sequence; a single scalar stands for a one-item list), ``dict[str, X]``;
* ``IPv4Address``, ``IPv4Interface``, ``IPv4Network``, ``Path`` (relative to the file's folder)
  and any class with a ``from_text(str)`` classmethod raising ``ValueError``;
* :class:`Deferred`: the value is left unconverted (its key path is kept) for a second pass,
  when its type depends on another value (a node's ``settings:`` depend on its ``role:``).

The YAML scalars' own typing is never trusted for strings: ``password: 0123`` is ``"0123"``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, cast

import yaml

from lab.base.errors import InputError

T = TypeVar("T")
Key = str | int
KeyPath = tuple[Key, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

_TEXT_TYPES: dict[type, Callable[[str], object]] = {
    ipaddress.IPv4Address: ipaddress.IPv4Address,
    ipaddress.IPv4Interface: ipaddress.IPv4Interface,
    ipaddress.IPv4Network: ipaddress.IPv4Network,
}
#: What a value of each type looks like, in words with an example (never a Python type name).
_WANTED: dict[type, str] = {
    ipaddress.IPv4Address: "an IPv4 address such as 10.48.54.230",
    ipaddress.IPv4Interface: "an IPv4 address with its prefix length such as 10.48.54.230/24",
    ipaddress.IPv4Network: "an IPv4 network such as 10.48.54.0/24",
}


class Invalid(ValueError):
    """A dataclass's own ``__post_init__`` check failed on one of its keys: the error points
    at that key's line and says how to write it.

        raise Invalid("stopped_at", "must be a step of flow.md §3", fix="write 1 to 33")
    """

    def __init__(self, key: str, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.fix = fix


@dataclass(frozen=True)
class Deferred:
    """A value whose conversion waits: read it later with ``doc.read(cls, deferred.keys)``."""

    keys: KeyPath


def dotted(keys: KeyPath) -> str:
    """``("segments", "internet", "endpoints", 1)`` -> ``segments.internet.endpoints[1]``."""
    text = ""
    for key in keys:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text or "(top level)"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "empty"
    return f"{node.value!r}"


@dataclass(frozen=True)
class Document:
    """One parsed YAML file: its composed node tree, with line numbers."""

    path: Path
    root: yaml.Node

    # -- where things are -------------------------------------------------------------------
    def node_at(self, keys: KeyPath) -> yaml.Node | None:
        """The node at ``keys`` (mapping keys and list indexes), or ``None``."""
        node: yaml.Node | None = self.root
        for key in keys:
            if node is None:
                return None
            node = _child(node, key)
        return node

    def line(self, keys: KeyPath) -> int:
        """1-based line of the value at ``keys``, or of its nearest existing parent."""
        for cut in range(len(keys), -1, -1):
            node = self.node_at(keys[:cut])
            if node is not None:
                return int(node.start_mark.line) + 1
        return 1

    def key_line(self, keys: KeyPath) -> int:
        """1-based line of the *key* ``keys[-1]`` (where an unknown key is written)."""
        parent = self.node_at(keys[:-1])
        if isinstance(parent, yaml.MappingNode):
            for k, _ in parent.value:
                if isinstance(k, yaml.ScalarNode) and k.value == keys[-1]:
                    return int(k.start_mark.line) + 1
        return self.line(keys)

    def error(self, keys: KeyPath, message: str, fix: str | None = None) -> InputError:
        """An :class:`InputError` located at ``keys``; the caller raises it."""
        return InputError(f"{dotted(keys)}: {message}", self.path, self.line(keys), fix)

    def has(self, keys: KeyPath) -> bool:
        return self.node_at(keys) is not None

    # -- conversion ---------------------------------------------------------------------------
    def read(self, cls: type[T], keys: KeyPath = (), *, base: T | None = None) -> T:
        """Convert the value at ``keys`` into ``cls`` (see the module docstring).

        With ``base`` (a dataclass instance), keys absent from the file keep ``base``'s values and
        nested dataclasses merge the same way: this is how a scenario overrides a few settings.
        """
        node = self.node_at(keys)
        if node is None:
            if base is not None:
                return base
            raise self.error(keys, "is missing", fix=f"add {dotted(keys)}")
        return cast(T, _Reader(self).convert(cls, node, keys, base))


def _child(node: yaml.Node, key: Key) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return cast(yaml.Node, v)
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
        items = node.value
        return cast(yaml.Node, items[key]) if 0 <= key < len(items) else None
    return None


def load(path: Path | str) -> Document:
    """Read and compose a YAML file; syntax errors and duplicate keys are :class:`InputError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", p, fix="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file: {exc}", p) from None
    return parse(text, p)


def parse(text: str, path: Path | str = "<string>") -> Document:
    """Compose YAML ``text`` as if read from ``path`` (used by tests and by :func:`load`)."""
    p = Path(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"YAML syntax: {problem}", p, line,
                         fix="check indentation, colons and quotes at that line") from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML: {exc}", p) from None
    if root is None:
        root = yaml.MappingNode("tag:yaml.org,2002:map", [])
    doc = Document(p, root)
    _check_keys(doc, root, ())
    return doc


def _check_keys(doc: Document, node: yaml.Node, keys: KeyPath) -> None:
    """Refuse duplicate keys, merge keys and non-scalar keys anywhere in the file."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            line = int(k.start_mark.line) + 1
            if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE:
                raise InputError(f"{dotted(keys)}: keys must be plain names", doc.path, line,
                                 fix="write the key as a plain word (no '<<', lists or mappings)")
            if k.value in seen:
                raise InputError(f"{dotted((*keys, k.value))}: duplicate key (first on line "
                                 f"{seen[k.value]})", doc.path, line,
                                 fix="keep one of the two entries")
            seen[k.value] = line
            _check_keys(doc, v, (*keys, k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_keys(doc, item, (*keys, i))


def _field_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def schema_keys(cls: type) -> list[str]:
    """The YAML keys a dataclass accepts, in declaration order."""
    return [_field_key(f) for f in dataclasses.fields(cls)]


class _Reader:
    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def fail(self, node: yaml.Node, keys: KeyPath, message: str, fix: str | None) -> InputError:
        line = int(node.start_mark.line) + 1
        return InputError(f"{dotted(keys)}: {message}", self.doc.path, line, fix)

    def convert(self, tp: Any, node: yaml.Node, keys: KeyPath, base: Any = None) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (Union, types.UnionType):
            return self._union(args, node, keys, base)
        generic = {Literal: self._literal, tuple: self._tuple, dict: self._dict}.get(origin)
        if generic is not None:
            return generic(args, node, keys)
        if tp is Deferred:
            return Deferred(keys)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and not hasattr(tp, "from_text"):
            return self._dataclass(tp, node, keys, base)
        return self._scalar(tp, node, keys)

    def _union(self, args: tuple[Any, ...], node: yaml.Node, keys: KeyPath, base: Any) -> Any:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != len(args) and isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return None
        if len(rest) != 1:
            raise TypeError(f"datafile: unsupported union {args}")
        return self.convert(rest[0], node, keys, base)

    def _literal(self, args: tuple[Any, ...], node: yaml.Node, keys: KeyPath) -> str:
        choices = [str(a) for a in args]
        text = self._text(node, keys, "one of " + ", ".join(choices))
        if text not in choices:
            near = difflib.get_close_matches(text, choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self.fail(node, keys, f"{text!r} is not allowed{hint}",
                            fix="use one of: " + ", ".join(choices))
        return text

    def _tuple(self, args: tuple[Any, ...], node: yaml.Node, keys: KeyPath) -> tuple[Any, ...]:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"datafile: only tuple[X, ...] is supported, not {args}")
        if isinstance(node, yaml.ScalarNode) and node.tag != _NULL:
            return (self.convert(args[0], node, keys),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, keys, f"expected a list, found {_kind(node)}",
                            fix="write a list: [a, b] or one '- item' per line")
        return tuple(self.convert(args[0], item, (*keys, i)) for i, item in enumerate(node.value))

    def _dict(self, args: tuple[Any, ...], node: yaml.Node, keys: KeyPath) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, keys, f"expected a mapping, found {_kind(node)}",
                            fix="write 'name: value' entries under it")
        return {k.value: self.convert(args[1], v, (*keys, k.value)) for k, v in node.value}

    def _dataclass(self, cls: type, node: yaml.Node, keys: KeyPath, base: Any) -> Any:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, keys, f"expected a mapping, found {_kind(node)}",
                            fix="write the keys " + ", ".join(schema_keys(cls)) + " under it")
        fields = {_field_key(f): f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        given: dict[str, yaml.Node] = {}
        for k, v in node.value:
            if k.value not in fields:
                raise self._unknown(k, keys, list(fields))
            given[k.value] = v
        values: dict[str, Any] = {}
        for key, f in fields.items():
            if key in given:
                sub = getattr(base, f.name) if base is not None else None
                values[f.name] = self.convert(hints[f.name], given[key], (*keys, key), sub)
            elif base is not None:
                values[f.name] = getattr(base, f.name)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                doc = f.metadata.get("doc")
                raise self.fail(node, keys, f"the key {key!r} is missing",
                                fix=f"add '{key}:'" + (f" ({doc})" if doc else ""))
        try:
            return cls(**values)
        except Invalid as exc:  # a dataclass's own __post_init__ check, on one key
            at = given.get(exc.key)
            raise self.fail(at if at is not None else node, (*keys, exc.key), str(exc),
                            fix=exc.fix) from None
        except ValueError as exc:  # one on the whole mapping
            raise self.fail(node, keys, str(exc), fix=None) from None

    def _unknown(self, k: yaml.Node, keys: KeyPath, known: list[str]) -> InputError:
        near = difflib.get_close_matches(str(k.value), known, n=1)
        fix = f"did you mean {near[0]!r}? " if near else ""
        fix += "known keys here: " + ", ".join(known)
        return self.fail(k, (*keys, str(k.value)), "unknown key", fix=fix)

    def _text(self, node: yaml.Node, keys: KeyPath, wanted: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            raise self.fail(node, keys, f"expected {wanted}, found {_kind(node)}",
                            fix=f"write {wanted}")
        return str(node.value)

    def _scalar(self, tp: Any, node: yaml.Node, keys: KeyPath) -> Any:
        if tp is bool:
            text = self._text(node, keys, "true or false")
            if node.tag != _BOOL or text.lower() not in ("true", "false"):
                raise self.fail(node, keys, f"expected true or false, found {text!r}",
                                fix="write true or false")
            return text.lower() == "true"
        if tp is int:
            text = self._text(node, keys, "a whole number")
            if node.tag != _INT or not re.fullmatch(r"[-+]?[0-9]+", text):
                raise self.fail(node, keys, f"expected a whole number, found {text!r}",
                                fix="write a decimal number such as 5061")
            return int(text)
        if tp is float:
            text = self._text(node, keys, "a number")
            if node.tag not in (_INT, _FLOAT):
                raise self.fail(node, keys, f"expected a number, found {text!r}",
                                fix="write a number such as 2.5")
            return float(text)
        if tp is str:
            return self._text(node, keys, "a text value")
        if tp is Path:
            text = self._text(node, keys, "a file path")
            return (self.doc.path.parent / text).resolve()
        parser = _TEXT_TYPES.get(tp) or getattr(tp, "from_text", None)
        if parser is None:
            raise TypeError(f"datafile: no conversion for {tp!r}")
        wanted = str(getattr(tp, "WANTED", None) or _WANTED.get(tp, tp.__name__))
        text = self._text(node, keys, wanted)
        try:
            return parser(text)
        except ValueError as exc:
            raise self.fail(node, keys, f"{text!r} is not {wanted}: {exc}",
                            fix=f"write {wanted}") from None


def walk(value: object, keys: KeyPath = ()) -> Iterator[tuple[KeyPath, object]]:
    """Every (key path, value) inside a dataclass value, depth first (for cross checks)."""
    yield keys, value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name), (*keys, _field_key(f)))
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from walk(item, (*keys, i))
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from walk(item, (*keys, str(k)))
