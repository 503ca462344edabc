"""The model file: one module owns its format, writing, reading, validation and version.

A saved model is two files in a folder, and no pickle anywhere:

- ``model.npz``: the arrays, parameters as ``param/<layer>.<name>``, buffers (batch norm's running
  averages) as ``buffer/<...>``, and what preprocessing needs as ``extra/<key>`` (the images' mean and
  std, the n-gram vocabulary);
- ``model.json``: ``format_version`` (:data:`FORMAT_VERSION`), the architecture (``Sequential.config()``),
  ``meta`` (class names, the alphabet, ...), each array's dtype and shape, and a sha256 of the arrays.

``load`` treats both files as hostile input: every failure is one :class:`HandgradError` naming the
file and what is wrong, and nothing in them runs (each ``.npz`` member's header is read and checked
before NumPy reads the array, so an object array is refused before any byte is unpickled). A model
from a newer, incompatible handgrad is refused; a ``model.json`` without ``format_version`` (written
before versions were recorded) has version 1's layout and no checksum. Before any layer is built the
architecture is checked (layer types, sizes that chain, every parameter's shape), so a crafted file
cannot make handgrad allocate what it says; the model is then built by ``Sequential.from_config``,
which trusts what this module checked.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.alphabet import Alphabet
from handgrad.charrnn import CharRNN
from handgrad.errors import HandgradError
from handgrad.io import atomic_write_bytes, write_json
from handgrad.losses import LOSSES
from handgrad.model import Sequential
from handgrad.nn import LAYER_TYPES
from handgrad.readers import is_number, read_json, validate
from handgrad.schemas import Schema

#: version of the model folder layout; a reader refuses a newer one
FORMAT_VERSION = 1
#: array dtypes a model folder may hold: booleans, integers and floats (never objects or records)
ARRAY_KINDS = "buif"
#: what a broken or crafted file can make the standard library and NumPy raise while reading it
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError,
               zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, NotImplementedError,
               RuntimeError, SyntaxError, OverflowError, MemoryError, RecursionError)


class ArraySpec(Schema):
    """array description."""
    dtype: str
    shape: list[int]


class ModelMeta(Schema):
    """model meta."""
    dataset: str | None = None
    classes: list[str] | None = None
    alphabet: str | None = None
    n_len: int | None = None
    d: int | None = None
    encoder: dict[str, Any] | None = None
    seed: int | None = None


class ModelFile(Schema):
    """model description."""
    format_version: int = 1
    model: dict[str, Any]
    meta: ModelMeta = ModelMeta()
    arrays: dict[str, ArraySpec] | None = None
    checksum: str | None = None


def arrays_checksum(arrays: dict) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order (C order bytes)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode() + b"\0")
        h.update(a.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def save(folder: str | os.PathLike, model: Sequential, arrays: dict | None = None, meta: dict | None = None) -> None:
    """Write ``model.npz`` and ``model.json`` into ``folder`` (each atomically); ``arrays``: what
    preprocessing needs beside the model, ``meta``: JSON-able facts (class names, the alphabet)."""
    folder = Path(folder)
    payload = {f"param/{k}": np.asarray(v) for k, v in model.get_params().items()}
    payload.update({f"buffer/{k}": np.asarray(v) for k, v in model.get_buffers().items()})
    payload.update({f"extra/{k}": np.asarray(v) for k, v in (arrays or {}).items()})
    buf = _io.BytesIO()
    np.savez(buf, **payload)
    atomic_write_bytes(folder / "model.npz", buf.getvalue())
    write_json(folder / "model.json", {
        "format_version": FORMAT_VERSION, "model": model.config(), "meta": meta or {},
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in payload.items()},
        "checksum": arrays_checksum(payload)})


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
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


def load(folder: str | os.PathLike) -> tuple[Sequential, dict[str, np.ndarray], dict]:
    """(model, extra arrays, meta) of a model folder, every part checked (see the module doc). A
    character RNN comes back as a :class:`CharRNN` that knows its alphabet and preamble."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HandgradError(f"run folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder")
    jpath, npath = folder / "model.json", folder / "model.npz"
    for p in (jpath, npath):
        if not p.exists():
            raise HandgradError(f"missing file: {p} (is {folder} a handgrad run folder?)")
    info = read_json(jpath)
    version = info.get("format_version", 1)
    if is_number(version) and version > FORMAT_VERSION:
        raise HandgradError(f"{jpath} has model format version {version}, written by a newer handgrad; this one "
                            f"reads versions up to {FORMAT_VERSION}: upgrade handgrad to load it")
    validate(info, ModelFile, str(jpath))
    if version < 1:
        raise HandgradError(f"{jpath}: format_version must be >= 1, got {version}")
    arrays = read_npz(npath)
    _check_listed(info, arrays, jpath, npath)
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    buffers = {k[len("buffer/"):]: v for k, v in arrays.items() if k.startswith("buffer/")}
    extra = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
    cfg, meta = info["model"], info.get("meta", {})
    model = build(cfg, params, buffers, str(npath))
    _check_meta(meta, model, jpath)
    if isinstance(model, CharRNN) and meta.get("alphabet"):  # the model can write by itself (CharRNN.sample)
        model.alphabet, model.preamble = Alphabet(meta["alphabet"]), meta.get("preamble", "")
    return model, extra, meta


def build(cfg: dict, params: dict, buffers: dict | None = None, source: str = "saved model") -> Sequential:
    """A model from its saved architecture and arrays, every part checked; a failure is a HandgradError
    naming ``source`` (the file), the layer and the parameter."""
    check_architecture(cfg, params, source)
    try:
        model = (CharRNN if cfg.get("kind") == "char_rnn" else Sequential).from_config(cfg)
    except HandgradError as e:  # a value the layer refuses: the file's fault, named
        raise HandgradError(f"{source}: {e}") from None
    buffers = {} if buffers is None else buffers
    check_arrays(model, params, buffers, source)
    model.put_arrays(params, buffers)
    for i, layer in enumerate(model.layers):  # the values a layer's state may take (a variance >= 0)
        try:
            layer.check_buffers()
        except ValueError as e:
            _fail(source, f"layer {i} ({type(layer).__name__}): {e}")
    return model


def _check_listed(info: dict, arrays: dict, jpath: Path, npath: Path) -> None:
    """model.npz holds exactly the arrays model.json lists, with their dtypes, shapes and checksum."""
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


# ---------------------------------------------------------------------------------------------
# Validation of the architecture and the arrays
# ---------------------------------------------------------------------------------------------
def _fail(source: str, msg: str):
    raise HandgradError(f"{source}: {msg}")


def _check_param(source: str, where: str, a, shape: tuple[int, ...]) -> None:
    if a is None:
        _fail(source, f"{where} is missing")
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        _fail(source, f"{where} must be a floating-point array, got {getattr(a, 'dtype', type(a).__name__)}")
    if a.shape != tuple(shape):
        _fail(source, f"{where} has shape {a.shape}, expected {tuple(shape)}")
    if not np.isfinite(a).all():
        _fail(source, f"{where} holds NaN or infinite values")


def check_architecture(cfg: dict, params: dict, source: str) -> None:
    """Before any layer is built: the loss, lam, the layer types, and for layers that can tell from
    their config (``Layer.param_shapes`` / ``Layer.sizes``) that each one's input size is the previous
    one's output size and that every parameter given has the implied shape."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
        _fail(source, "the model has no list of layers")
    if not isinstance(cfg.get("loss"), str) or cfg["loss"] not in LOSSES:
        _fail(source, f"unknown loss {cfg.get('loss')!r} (known: {', '.join(LOSSES)})")
    if not isinstance(cfg.get("loss_args", {}), dict):
        _fail(source, "loss_args must be a table of the loss's arguments")
    lam = cfg.get("lam", 0.0)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0 or lam == float("inf"):
        _fail(source, f"lam must be a finite number >= 0, got {lam!r}")
    if cfg.get("kind") == "char_rnn":
        st = cfg.get("seq_length", 25)
        if isinstance(st, bool) or not isinstance(st, int) or st < 1:
            _fail(source, f"seq_length must be an integer >= 1, got {st!r}")
        if len(cfg["layers"]) != 1 or not isinstance(cfg["layers"][0], dict) or cfg["layers"][0].get("type") != "RNN":
            _fail(source, "a char_rnn model has exactly one RNN layer")
    prev = None  # (layer index, output size) of the last layer that sets a size
    for i, lc in enumerate(cfg["layers"]):
        typ = lc.get("type") if isinstance(lc, dict) else None
        if not isinstance(typ, str) or typ not in LAYER_TYPES:
            _fail(source, f"layer {i}: unknown layer type {typ!r} (known: {', '.join(LAYER_TYPES)})")
        try:
            shapes, sizes = LAYER_TYPES[typ].param_shapes(lc), LAYER_TYPES[typ].sizes(lc)
        except (TypeError, ValueError) as e:
            _fail(source, f"layer {i} ({typ}): {e}")
        if sizes is not None:
            if prev is not None and sizes[0] != prev[1]:
                _fail(source, f"layer {i} ({typ}) takes inputs of size {sizes[0]}, but layer {prev[0]} gives {prev[1]}")
            prev = (i, sizes[1])
        for k, shape in (shapes or {}).items():
            _check_param(source, f"layer {i} ({typ}) parameter {k}", params.get(f"{i}.{k}"), shape)


def check_arrays(model: Sequential, params: dict, buffers: dict, source: str) -> None:
    """After building: every parameter of every layer is given, floating-point, finite and of the
    built layer's shape, and no other is; every buffer likewise (of its layer's kind of number)."""
    names = [name for name, _, _ in model.named_params()]
    for name, layer, k in model.named_params():
        _check_param(source, f"layer {name.split('.')[0]} ({type(layer).__name__}) parameter {k}",
                     params.get(name), layer.params[k].shape)
    unexpected = sorted(set(params) - set(names))
    if unexpected:
        _fail(source, f"parameters the layers do not have: {', '.join(unexpected)}")
    for name, layer, k in model.named_buffers():
        where = f"layer {name.split('.')[0]} ({type(layer).__name__}) buffer {k}"
        a, want = buffers.get(name), layer.buffers[k]  # the freshly built layer's: what it should be
        if a is None:
            _fail(source, f"{where} is missing")
        if not isinstance(a, np.ndarray) or a.dtype.kind != want.dtype.kind:
            _fail(source, f"{where} must be an array of kind {want.dtype.kind!r}, got {getattr(a, 'dtype', type(a).__name__)}")
        if a.shape != want.shape:
            _fail(source, f"{where} has shape {a.shape}, expected {want.shape}")
        if not np.isfinite(a).all():
            _fail(source, f"{where} holds NaN or infinite values")
    unexpected = sorted(set(buffers) - {name for name, _, _ in model.named_buffers()})
    if unexpected:
        _fail(source, f"buffers the layers do not have: {', '.join(unexpected)}")


def _check_meta(meta: dict, model: Sequential, jpath: Path) -> None:
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
