"""Reading handgrad's own files as hostile input.

Every file handgrad reads back (a run folder's ``model.json`` + ``model.npz``, ``metrics.json``,
``history.json``, ``config.json``, ``reproduce.json``, a search's ``ledger.jsonl`` and
``results.json``, a report's ``manifest.json``) may have been cut short, edited, or replaced by
something crafted. Each reader here checks what it reads (JSON syntax, keys, types, array
dtypes and shapes, that the JSON describes the arrays, that layer shapes chain) and turns every
failure into one :class:`HandgradError` naming the file and what is wrong. No reader ever enables
pickle: ``.npz`` members are checked from their headers before NumPy reads them with
``allow_pickle=False``, so an object array is refused before any byte of it is unpickled.
Config files (a run folder's ``config.json`` too) are read with :func:`read_text` and checked by
:mod:`handgrad.config` (``load_config``, ``read_run_config``), which owns their schema.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from handgrad.errors import HandgradError
from handgrad.schemas import (MODEL_FORMAT_VERSION, HistoryFile, Manifest, Metrics, ModelFile, RunMeta, Trial,
                              arrays_checksum, is_number)

#: what a broken or crafted file can make the standard library and NumPy raise while reading it
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError,
               zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, NotImplementedError,
               RuntimeError, SyntaxError, OverflowError, MemoryError, RecursionError)

#: array dtypes a model folder may hold: booleans, integers and floats (never objects or records)
ARRAY_KINDS = "buif"


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


# --------------------------------------------------------------------------------------------
# Model folders: model.json + model.npz
# --------------------------------------------------------------------------------------------


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, refusing object, record and oversized arrays unread."""
    path = Path(path)
    if not path.is_file():
        raise HandgradError(f"missing file: {path}" if not path.exists() else f"{path} is not a file")
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"PK":  # a bare .npy or anything else: np.load would try other formats
                raise HandgradError(f"{path} is not an .npz archive (no zip header)")
        out = {}
        with np.load(path, allow_pickle=False) as z:
            for name in z.files:
                info = z.zip.getinfo(name + ".npy")
                with z.zip.open(info) as member:
                    _check_npy_header(member, info, path, name)
                out[name] = z[name]
        return out
    except HandgradError:
        raise
    except READ_ERRORS as e:
        raise HandgradError(f"{path} is not a valid .npz file ({type(e).__name__}: {e})"[:300]) from None


def _check_npy_header(f, info: zipfile.ZipInfo, path: Path, name: str) -> None:
    """Read one member's .npy header; refuse what must not be loaded, before NumPy loads it."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise HandgradError(f"{path}: array {name!r} has .npy format {version}, which handgrad does not write")
    except HandgradError:
        raise
    except Exception as e:  # noqa: BLE001 - the header is text NumPy parses with ast and tokenize:
        # a damaged one can raise anything they raise (tokenize.TokenError, SystemError, ...)
        raise HandgradError(f"{path}: array {name!r} has a damaged .npy header "
                            f"({type(e).__name__}: {e})"[:300]) from None
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS or dtype.fields is not None:
        raise HandgradError(f"{path}: array {name!r} has dtype {dtype}; only numbers are allowed "
                            "(an object array would need pickle, which handgrad never enables)")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes != info.file_size - f.tell():
        raise HandgradError(f"{path}: array {name!r} declares {nbytes} bytes of data but holds "
                            f"{info.file_size - f.tell()}")


def read_model(run_dir: str | os.PathLike):
    """(model, extra arrays, meta) of a model folder, every part checked.

    model.json: format version (a newer one is refused), architecture, meta, each array's dtype
    and shape, the arrays' checksum. model.npz: numbers only, exactly the arrays model.json lists,
    with its checksum. The layers must chain and each parameter have the shape its layer implies
    (:meth:`Model.from_config`); the class names, when given, must match the output size.
    """
    from handgrad.language_model import CharRNN
    from handgrad.models import Model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HandgradError(f"run folder {run_dir} does not exist" if not run_dir.exists()
                            else f"{run_dir} is not a folder")
    jpath, npath = run_dir / "model.json", run_dir / "model.npz"
    for p in (jpath, npath):
        if not p.exists():
            raise HandgradError(f"missing file: {p} (is {run_dir} a handgrad run folder?)")
    info = read_json(jpath)
    version = info.get("format_version", 1)
    if is_number(version) and version > MODEL_FORMAT_VERSION:
        raise HandgradError(f"{jpath} has model format version {version}, written by a newer handgrad; this one "
                            f"reads versions up to {MODEL_FORMAT_VERSION}: upgrade handgrad to load it")
    validate(info, ModelFile, str(jpath))
    if version < 1:
        raise HandgradError(f"{jpath}: format_version must be >= 1, got {version}")
    arrays = read_npz(npath)
    if info.get("arrays") is not None:
        listed = info["arrays"]
        if set(listed) != set(arrays):
            raise HandgradError(f"{npath} does not match {jpath}: arrays {sorted(arrays)} in the file, "
                                f"{sorted(listed)} listed")
        for k, spec in listed.items():
            a = arrays[k]
            if a.dtype.str != spec["dtype"] or list(a.shape) != spec["shape"]:
                raise HandgradError(f"{npath} does not match {jpath}: array {k} is {a.dtype.str} {list(a.shape)}, "
                                    f"listed as {spec['dtype']} {spec['shape']}")
    if info.get("checksum") is not None and arrays_checksum(arrays) != info["checksum"]:
        raise HandgradError(f"{npath} does not match the checksum in {jpath}: the arrays changed after they "
                            "were saved (or the two files come from different runs)")
    unknown = [k for k in arrays if not k.startswith(("param/", "buffer/", "extra/"))]
    if unknown:
        raise HandgradError(f"{npath}: unexpected arrays {', '.join(unknown)}")
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    buffers = {k[len("buffer/"):]: v for k, v in arrays.items() if k.startswith("buffer/")}
    extra = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
    cls = CharRNN if info["model"].get("kind") == "char_rnn" else Model
    model = cls.from_config(info["model"], params, buffers, source=str(npath))
    meta = info.get("meta", {})
    _check_meta(meta, model, jpath)
    return model, extra, meta


def _check_meta(meta: dict, model, jpath: Path) -> None:
    """Class names and the alphabet must fit the network they describe."""
    K = next((layer.sizes(layer.config())[1] for layer in reversed(model.layers)
              if layer.sizes(layer.config()) is not None), None)
    classes = meta.get("classes")
    if classes is not None and K is not None and len(classes) != K:
        raise HandgradError(f"{jpath}: meta.classes names {len(classes)} classes but the model has {K} outputs")
    enc = meta.get("encoder") or meta
    first = model.layers[0].config() if model.layers else {}
    if first.get("type") == "RNN":
        alphabet = meta.get("alphabet")
        if alphabet is not None and len(alphabet) != first["K"]:
            raise HandgradError(f"{jpath}: the alphabet has {len(alphabet)} characters but the RNN takes {first['K']}")
        if not isinstance(meta.get("preamble", ""), str) or set(meta.get("preamble", "")) - set(alphabet or ""):
            raise HandgradError(f"{jpath}: meta.preamble must be text in the model's alphabet")
    if first.get("type") == "Conv1D":
        alphabet, n_len = enc.get("alphabet"), enc.get("n_len")
        if alphabet is not None and (not isinstance(alphabet, str) or len(alphabet) != first["C"]):
            raise HandgradError(f"{jpath}: the alphabet has {len(alphabet) if isinstance(alphabet, str) else '?'} "
                                f"characters but the first layer takes {first['C']}")
        if n_len is not None and n_len != first["n_len"]:
            raise HandgradError(f"{jpath}: n_len is {n_len!r} but the first layer takes {first['n_len']} positions")
