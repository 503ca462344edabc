"""Experiment configs: TOML files validated by pydantic (unknown keys are errors, with a "did you mean").

A config has the tables ``[data]``, ``[model]``, ``[train]``, and optional ``[gradcheck]``,
``[search]`` and ``[ensemble]``. Configs are a union keyed on ``[model] kind``: each kind's task
module (``handgrad/tasks/``) registers its config class, which lists only the fields that kind uses
(built from ``config/tables.py``). ``--set key=value`` overrides use dotted keys
(``train.lambda=0.1``; ``key=null`` unsets one) and are applied to the raw TOML before validation, so
they get the same checks and messages. ``handgrad config keys`` lists every key (``config/reference.py``).
"""

from __future__ import annotations

import difflib
import importlib
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from handgrad.config.tables import ConfigBase
from handgrad.errors import HandgradError
from handgrad.readers import read_text

Config = ConfigBase  # the type of any kind's config


#: model kind -> its config class, registered by the task modules (``handgrad/tasks/``)
KINDS: dict[str, type[ConfigBase]] = {}
#: the kind of a config that names none
DEFAULT_KIND = "linear"


def register(kind: str, cls: type[ConfigBase]) -> type[ConfigBase]:
    """Make ``[model] kind = "<kind>"`` configs validate as ``cls`` (a task module's config class)."""
    KINDS[kind] = cls
    return cls


def kinds() -> dict[str, type[ConfigBase]]:
    """Every model kind and its config class (the task modules register them when imported)."""
    importlib.import_module("handgrad.tasks")  # the registry's entries: every task module
    return KINDS


def parse_value(text: str) -> Any:
    """A --set value: TOML syntax when it parses (numbers, booleans, lists), ``null`` for None (which
    unsets the key: its default applies), else a plain string."""
    if text == "null":
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(raw: dict, dotted: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for 'a.b', creating tables as needed; None removes the key, so
    its default applies (``--set train.n_updates=null --set train.n_epochs=5``)."""
    *path, last = dotted.split(".")
    node = raw
    for p in path:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise HandgradError(f"cannot set {dotted!r}: {p!r} is a value, not a table")
        node = nxt
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """['train.eta=0.01', ...] -> {'train.eta': 0.01, ...}; a bad item names itself."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise HandgradError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(v.strip())
    return out


def _format_errors(e: ValidationError, source: str, kind: str, cls: type[BaseModel]) -> str:
    lines = [f"invalid config {source}:"]
    for err in e.errors():
        # a union of data tables adds the member's tag to the location: keep the config's keys only
        key = ".".join(str(p) for p in err["loc"] if str(p) not in ("cifar10", "surnames", "text")) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = (f"unknown key for model kind {kind!r}{did_you_mean(key, cls)} (`handgrad config keys` lists "
                   "every key of every kind)")
        got = err.get("input")
        got_s = "" if isinstance(got, dict) or err["type"] == "extra_forbidden" else f" (got {got!r})"
        lines.append(f"  {key}: {msg}{got_s}")
    return "\n".join(lines)


def did_you_mean(dotted: str, cls: type[BaseModel]) -> str:
    """'; did you mean train.lambda?' for a misspelt or misplaced key of a config of class ``cls``;
    for a key another model kind has, which kind; or ''."""
    near = _near(dotted, [k for k, _ in fields(cls)])
    if near:
        return f"; did you mean {near}?"
    for kind, other in KINDS.items():
        near = _near(dotted, [k for k, _ in fields(other)])
        if other is not cls and near:
            return f"; did you mean {near}? (a key of model kind {kind!r})"
    return ""


def _near(dotted: str, keys: list[str]) -> str | None:
    """The key of ``keys`` that ``dotted`` most likely meant: the same name in another table, a close
    spelling of the whole key, or a close spelling of the name in the same table."""
    keys = keys + sorted({k.rpartition(".")[0] for k in keys if "." in k})  # the tables themselves
    if dotted in keys:
        return dotted
    table, _, name = dotted.rpartition(".")
    same_name = [k for k in keys if k.rpartition(".")[2] == name]
    close = difflib.get_close_matches(dotted, keys, n=1, cutoff=0.75)
    in_table = difflib.get_close_matches(name, [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == table],
                                         n=1, cutoff=0.6)
    near = same_name or close or [f"{table}.{k}" if table else k for k in in_table]
    return near[0] if near else None


def from_dict(raw: dict, source: str = "<dict>", overrides: dict[str, Any] | None = None) -> ConfigBase:
    """Validate a config's raw tables (with ``overrides`` applied) as its kind's config class."""
    raw = json.loads(json.dumps(raw))  # deep copy; tomllib output is JSON-able
    for k, v in (overrides or {}).items():
        set_key(raw, k, v)
    model = raw.get("model", {})
    kind = model.get("kind", DEFAULT_KIND) if isinstance(model, dict) else DEFAULT_KIND
    known = kinds()
    if kind not in known:
        raise HandgradError(f"invalid config {source}:\n  model.kind: unknown kind {kind!r}; choose one of "
                            f"{', '.join(repr(k) for k in known)}")
    try:
        return known[kind].model_validate(raw)
    except ValidationError as e:
        raise HandgradError(_format_errors(e, source, kind, known[kind])) from None


def read_run_config(path: str | Path) -> dict:
    """A run folder's resolved config.json, checked as a config; returns its dict."""
    return load_config(path).to_dict()


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a TOML (or a run folder's config.json) config file."""
    path = Path(path)
    if not path.exists():
        raise HandgradError(f"config file not found: {path}")
    text = read_text(path)  # a folder, unreadable or non-UTF-8 file: one message naming it
    try:
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
        raise HandgradError(f"cannot parse {path}: {e}") from None
    if not isinstance(raw, dict):
        raise HandgradError(f"{path} should hold a table of settings, found {type(raw).__name__}")
    cfg = from_dict(raw, str(path), overrides)
    # a TOML's member configs are named relative to it; a run folder's config.json only records them
    if cfg.is_ensemble and cfg.ensemble.members and path.suffix != ".json":
        members = []
        for m in cfg.ensemble.members:
            mp = Path(m) if Path(m).is_absolute() else (path.parent / m).resolve()
            if not mp.is_file():
                raise HandgradError(f"{path}: ensemble member config {m!r} not found (looked for {mp})")
            members.append(str(mp))
        cfg.ensemble.members = members
    return cfg


def fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, pydantic FieldInfo) of every key of a config class (or a table's), in the order the
    schema declares them; a union of tables (the [data] of a linear model) contributes each member's
    keys once (``config/reference.py`` turns them into the reference)."""
    out, seen = [], set()
    for name, f in model.model_fields.items():
        key = prefix + (f.alias or name)
        tables = [t for t in _members(f.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        if not tables:
            out.append((key, f))
            continue
        for t in tables:
            for k, sub in fields(t, key + "."):
                if k not in seen:
                    seen.add(k)
                    out.append((k, sub))
    return out


def _members(annotation) -> tuple:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return (annotation,)


def toml_value(v) -> str:
    """A value in the TOML syntax ``--set`` parses."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        raise ValueError("TOML has no null")
    return str(v)
