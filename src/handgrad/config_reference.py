"""The config reference, generated from the schema itself: every key with its type (and
constraints), default and meaning (``handgrad config keys``), and a config resolved with each of
its values explained (``handgrad config show``)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from handgrad.config import Config, fields, toml_value


@dataclass(frozen=True)
class Key:
    """One config key: dotted name, type (with its constraints), default and meaning."""

    key: str
    type: str
    default: Any
    meaning: str
def _type_text(annotation, metadata=()) -> str:
    """A readable type: 'int >= 1', "'sgd' | 'adam'", 'list of int >= 1', 'float or none'."""
    import types
    import typing

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


def reference(model: type[BaseModel] | None = None) -> list[Key]:
    """Every key of a config (or of one table's class), in the order the schema declares them."""
    return [Key(key, _type_text(f.annotation, f.metadata),
                f.default_factory() if f.default_factory is not None else f.default, f.description or "")
            for key, f in fields(model)]


def _toml(v) -> str:
    return "(none)" if v is None else toml_value(list(v) if isinstance(v, tuple) else v)


def format_keys() -> str:
    """``handgrad config keys``: every key with its type, default and meaning, table by table."""
    lines, table = [], None
    for k in reference():
        t = k.key.rpartition(".")[0]
        if t != table:
            table = t
            lines += ["", f"[{t}]" if t else "(top level)"]
        lines.append(f"  {k.key}  ({k.type}; default {_toml(k.default)})")
        lines += textwrap.wrap(k.meaning, 100, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines).lstrip("\n")


def format_resolved(cfg: Config, source: str) -> str:
    """``handgrad config show``: the resolved config, every key with its value, type, default and
    meaning; '*' marks what the file or --set gave, the rest are defaults."""
    values = cfg.to_dict()
    given = _given(cfg)
    lines = [f"# {source}, resolved: * = set by the file or --set, the rest are defaults", ""]
    table = None
    for k in reference():
        t = k.key.rpartition(".")[0]
        if t != table:
            table = t
            lines += ["" if lines[-1] else None, f"[{t}]" if t else None]
            lines = [x for x in lines if x is not None]
        node = values
        for part in k.key.split("."):
            node = node[part]
        mark = "*" if k.key in given else " "
        lines.append(f"{mark} {k.key} = {_toml(node)}")
        lines += textwrap.wrap(f"{k.type}; default {_toml(k.default)}. {k.meaning}", 100,
                               initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


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
