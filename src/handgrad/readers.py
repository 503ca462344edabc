"""Reading handgrad's own JSON files as hostile input.

Every file handgrad reads back (a run folder's ``metrics.json``, ``history.json``, ``config.json``,
``reproduce.json``, a search's ``ledger.jsonl`` and ``results.json``, a report's ``manifest.json``)
may have been cut short, edited, or replaced by something crafted. Each reader here checks what it
reads (JSON syntax, keys, types) and turns every failure into one :class:`HandgradError` naming the
file and what is wrong. The model files (``model.json`` + ``model.npz``) are :mod:`handgrad.modelfile`'s;
config files are read with :func:`read_text` and checked by :mod:`handgrad.config`, which owns their
schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from handgrad.errors import HandgradError
from handgrad.schemas import HistoryFile, Manifest, Metrics, RunMeta, Trial, is_number

__all__ = ["is_number", "parse_json", "read_history", "read_json", "read_ledger", "read_manifest", "read_metrics",
           "read_optional", "read_run_meta", "read_text", "read_trials", "validate"]


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of ``path``; a missing, unreadable or non-UTF-8 file is a HandgradError."""
    path = Path(path)
    if path.is_dir():
        raise HandgradError(f"{path} is a folder, not a file")
    if not path.is_file():
        raise HandgradError(f"missing file: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise HandgradError(f"{path} is not UTF-8 text (bad byte at offset {e.start})") from None
    except OSError as e:
        raise HandgradError(f"cannot read {path}: {e.strerror or e}") from None


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise HandgradError(f"{source} is not valid JSON: {e}") from None
    except (ValueError, RecursionError) as e:  # e.g. an integer of 10,000 digits, [[[[...]]]]
        raise HandgradError(f"{source} is not valid JSON: {type(e).__name__}: {e}") from None


def read_json(path: str | os.PathLike, expect: type | None = dict) -> Any:
    """Parsed JSON of ``path``; with ``expect``, the top level must be of that type."""
    data = parse_json(read_text(path), str(path))
    if expect is not None and not isinstance(data, expect):
        want = {dict: "a JSON object", list: "a JSON list"}.get(expect, expect.__name__)
        raise HandgradError(f"{path} should hold {want}, found {_json_type(data)}")
    return data


def _json_type(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(v), "a number")


def validate(data: Any, schema: type[BaseModel], source: str) -> Any:
    """``data`` checked against ``schema``; returns ``data`` itself (the file's own values)."""
    try:
        schema.model_validate(data)
    except ValidationError as e:
        parts = []
        for err in e.errors()[:3]:
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = err.get("input")
            got_s = "" if isinstance(got, (dict, list)) else f" (got {got!r:.60})"
            parts.append(f"{key}: {err['msg']}{got_s}")
        more = f" (and {e.error_count() - 3} more problems)" if e.error_count() > 3 else ""
        raise HandgradError(f"{source} is not a valid {schema.__doc__.strip().rstrip('.')}: "
                            f"{'; '.join(parts)}{more}") from None
    return data


# --------------------------------------------------------------------------------------------
# Run folders: metrics.json, history.json, config.json, reproduce.json; manifest.json
# --------------------------------------------------------------------------------------------


def read_metrics(path: str | os.PathLike) -> dict:
    return validate(read_json(path), Metrics, str(path))


def read_history(path: str | os.PathLike) -> dict:
    return validate(read_json(path), HistoryFile, str(path))


def read_run_meta(path: str | os.PathLike) -> dict:
    return validate(read_json(path), RunMeta, str(path))


def read_manifest(path: str | os.PathLike) -> dict:
    return validate(read_json(path), Manifest, str(path))


def read_trials(path: str | os.PathLike) -> list[dict]:
    """A search's results.json: a list of trial records."""
    data = read_json(path, expect=list)
    for i, rec in enumerate(data):
        validate(rec, Trial, f"{path} (trial {i + 1})")
    return data


def read_optional(reader, path: str | os.PathLike):
    """``reader(path)``, or None when the file does not exist."""
    return reader(path) if Path(path).exists() else None


# --------------------------------------------------------------------------------------------
# Ledgers (JSON lines)
# --------------------------------------------------------------------------------------------


def read_ledger(path: str | os.PathLike) -> tuple[dict[str, dict], list[str]]:
    """(trials by key, problems) of a search ledger.

    A last line without its newline that does not parse was cut short by a crash mid-write: it
    is dropped and reported. Any other bad line is reported with its line number and skipped;
    the good trials are kept (a later line of the same key wins).
    """
    path = Path(path)
    if not path.exists():
        return {}, []
    if not path.is_file():
        raise HandgradError(f"{path} is a folder, not a ledger file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HandgradError(f"cannot read {path}: {e.strerror or e}") from None
    lines = raw.split(b"\n")
    complete = lines[:-1]  # the piece after the last newline is a line in flight, if not empty
    tail = lines[-1]
    out, problems = {}, []
    for n, line in enumerate(complete + ([tail] if tail.strip() else []), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
            rec = validate(parse_json(text, "line"), Trial, "line")
        except (UnicodeDecodeError, HandgradError) as e:
            if n > len(complete):
                problems.append(f"{path} line {n}: cut short (a crash while writing it?); ignored")
            else:
                why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e).removeprefix("line ")
                problems.append(f"{path} line {n}: {why}; skipped")
            continue
        out[rec["key"]] = rec
    return out, problems
