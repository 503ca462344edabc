"""The config reference, generated from the schema itself: every key of every model kind with its type
(and constraints), default and meaning (``handgrad config keys``, the documentation's configuration
page), and a config resolved with each of its values explained (``handgrad config show``)."""

from __future__ import annotations

import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from handgrad.config import ConfigBase, kinds, toml_value


@dataclass(frozen=True)
class Key:
    """One config key: dotted name, type (with its constraints), default and meaning."""

    key: str
    type: str
    default: Any
    meaning: str


def _type_text(annotation, metadata=()) -> str:
    """A readable type: 'int >= 1', "'sgd' | 'adam'", 'list of int >= 1', 'float or none'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:  # Annotated[int, Field(ge=1)]: the FieldInfo holds the constraints
        extra = [m for a in args[1:] for m in (getattr(a, "metadata", None) or [a])]
        return _type_text(args[0], (*metadata, *extra))
    if origin in (typing.Union, types.UnionType):  # the bounds belong to the members that are numbers
        parts = [_type_text(a, metadata if a in (int, float) else ()) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or none" if type(None) in args else "")
    bounds = " and ".join(f"{op} {getattr(m, attr)}" for m in metadata
                          for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                          if getattr(m, attr, None) is not None)
    if origin is Literal:
        text = " | ".join(repr(a) for a in args)
    elif origin is list:
        text = f"list of {_type_text(args[0])}"
    elif origin is tuple:
        text = "[" + ", ".join(_type_text(a) for a in args) + "]"
    elif origin is dict:
        text = f"table of {_type_text(args[1])}"
    elif annotation is Any:
        text = "any"
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return f"{text} {bounds}" if bounds else text


def _tables(annotation) -> list[type[BaseModel]]:
    if typing.get_origin(annotation) is Annotated:
        return _tables(typing.get_args(annotation)[0])
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    return [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]


def reference(cls: type[BaseModel] | BaseModel, prefix: str = "") -> list[Key]:
    """Every key of a config class (or a table's), in the order the schema declares them. A table that
    is one of several (a linear model's [data]: CIFAR-10 or surnames) lists every member's keys, each
    meaning tagged with the data set it belongs to where the members differ. Given a config itself,
    the tables it actually holds."""
    out: list[Key] = []
    for name, f in type(cls).model_fields.items() if isinstance(cls, BaseModel) else cls.model_fields.items():
        key = prefix + (f.alias or name)
        value = getattr(cls, name) if isinstance(cls, BaseModel) else None
        tables = [value] if isinstance(value, BaseModel) else _tables(f.annotation)
        if not tables:
            default = f.default_factory() if f.default_factory is not None else f.default
            out.append(Key(key, _type_text(f.annotation, f.metadata),
                           "(required)" if default is PydanticUndefined else default, f.description or ""))
        elif len(tables) == 1:
            out += reference(tables[0], key + ".")
        else:
            out += _union(tables, key + ".")
    return out


def _union(tables: list[type[BaseModel]], prefix: str) -> list[Key]:
    """The keys of a union of tables: one entry per key, the members' types and meanings joined
    (tagged with each member's data set) where they differ."""
    tag = {t: t.model_fields["dataset"].default for t in tables}
    by_key: dict[str, list[tuple[type, Key]]] = {}
    for t in tables:
        for k in reference(t, prefix):
            by_key.setdefault(k.key, []).append((t, k))
    out = []
    for key, items in by_key.items():
        types, meanings = {k.type for _, k in items}, {k.meaning for _, k in items}
        first = items[0][1]
        if len(items) == len(tables) and len(types) == 1 and len(meanings) == 1:
            out.append(first)
            continue
        typ = " or ".join(f"{k.type} ({tag[t]})" for t, k in items) if len(types) > 1 else first.type
        meaning = "; ".join(f"{tag[t]}: {k.meaning}" for t, k in items)
        out.append(Key(key, typ, first.default, meaning))
    return out


def _toml(v) -> str:
    return "(none)" if v is None else toml_value(list(v) if isinstance(v, tuple) else v)


def _wrap(text: str, indent: str = "      ") -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=indent)


def format_keys(kind: str | None = None) -> str:
    """``handgrad config keys``: for each model kind (or one), every key with its type, default and
    meaning, table by table."""
    known = kinds()
    lines = []
    for k, cls in known.items():
        if kind is not None and k != kind:
            continue
        lines += ["", f"=== [model] kind = {k!r}: {cls.__doc__.strip().splitlines()[0]}"]
        table = None
        for key in reference(cls):
            t = key.key.rpartition(".")[0]
            if t != table:
                table = t
                lines += ["", f"[{t}]" if t else "(top level)"]
            lines.append(f"  {key.key}  ({key.type}; default {_toml(key.default)})")
            lines += _wrap(key.meaning)
    return "\n".join(lines).lstrip("\n")


def format_resolved(cfg: ConfigBase, source: str) -> str:
    """``handgrad config show``: the resolved config, every key with its value, type, default and
    meaning; '*' marks what the file or --set gave, the rest are defaults."""
    values = cfg.to_dict()
    given = _given(cfg)
    lines = [f"# {source}, resolved (model kind {cfg.kind!r}): * = set by the file or --set, the rest are "
             "defaults"]
    table = None
    for k in reference(cfg):
        node = values
        for part in k.key.split("."):
            node = node[part]
        t = k.key.rpartition(".")[0]
        if t != table:
            table = t
            lines += ["", f"[{t}]" if t else "(top level)"]
        mark = "*" if k.key in given else " "
        lines.append(f"{mark} {k.key} = {_toml(node)}")
        lines += _wrap(f"{k.type}; default {_toml(k.default)}. {k.meaning}")
    return "\n".join(lines)


def format_markdown() -> str:
    """The configuration reference as Markdown tables, one section per model kind (the docs site's page)."""
    out = []
    for k, cls in kinds().items():
        out += [f"## `kind = \"{k}\"`", "", cls.__doc__.strip(), "", "| key | type | default | meaning |",
                "|---|---|---|---|"]
        for key in reference(cls):
            cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
            out.append(f"| `{key.key}` | {cell(key.type)} | `{cell(_toml(key.default))}` | {cell(key.meaning)} |")
        out.append("")
    return "\n".join(out)


def _given(model: BaseModel, prefix: str = "") -> set[str]:
    """Dotted keys set explicitly (by the file or --set), not left at their defaults."""
    out = set()
    for name in model.model_fields_set:
        f = type(model).model_fields[name]
        key = prefix + (f.alias or name)
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out |= _given(value, key + ".")
        else:
            out.add(key)
    return out
