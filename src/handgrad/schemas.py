"""What handgrad's own files look like: pydantic schemas the readers check them against.

Strict types (the string "0.5" is not a number, 1 is not true); extra keys are allowed, since files
gain keys over time. Each schema's docstring names the file kind in error messages (see
:func:`handgrad.readers.validate`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator


class _Schema(BaseModel):
    # strict: "0.5" is not a number, 1 is not true; extra keys allowed (files gain keys over time)
    model_config = ConfigDict(strict=True, extra="allow")


Number = float | None  # strict floats accept integers; NaN is a number (a failed run's loss)


def check_numbers(d: dict, suffixes: tuple[str, ...]) -> None:
    """Keys ending in one of ``suffixes`` hold a number (or null); ``<key>_runs`` a list of numbers."""
    for k, v in d.items():
        if k.endswith("_runs") and any(k[:-5].endswith(s) for s in suffixes):
            if not isinstance(v, list) or not all(is_number(x) for x in v):
                raise ValueError(f"{k} must be a list of numbers")
        elif k.endswith(suffixes) and not (v is None or is_number(v)):
            raise ValueError(f"{k} must be a number, got {v!r:.60}")


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- run folders, searches, reports ------------------------------------------------------------

class TimingRow(_Schema):
    """timing row."""
    impl: str
    precompute_s: Number = None
    ms_per_update: float
    total_s: float
    speedup_total: float
    extrapolated: bool = False


class GradcheckRow(_Schema):
    """gradient check row."""
    param: str
    max_abs: float
    max_rel: float


class GradcheckCase(_Schema):
    """gradient check case."""
    batch_size: int
    n_dims: int
    rows: list[GradcheckRow]
    max_rel: float


class Divergence(_Schema):
    """divergence record."""
    step: int
    lr: float
    loss: str
    kept_step: int | None = None


class Metrics(_Schema):
    """metrics file."""
    name: str | None = None
    seconds: Number = None
    n_updates: int | None = None
    best_step: int | None = None
    repeat: int | None = None
    seeds: list[int] | None = None
    updates: int | None = None
    rows: list[TimingRow] | None = None
    cases: list[GradcheckCase] | None = None
    max_rel: Number = None
    passed: bool | None = None
    val_per_class_accuracy: dict[str, Number] | None = None
    test_per_class_accuracy: dict[str, Number] | None = None  # surnames, leak-free split
    best_overrides: dict[str, Any] | None = None
    diverged: Divergence | None = None

    @model_validator(mode="after")
    def _numbers(self):
        check_numbers(self.model_extra or {}, ("accuracy", "_mean", "_std", "_loss", "_cost"))
        return self


class TrialMetrics(Metrics):
    """trial's metrics."""
    train_accuracy: float
    val_accuracy: float
    seconds: float


class Trial(_Schema):
    """search trial record."""
    key: str
    overrides: dict[str, Any]
    metrics: TrialMetrics | None = None  # a finished trial
    error: str | None = None  # a trial that raised: its message (it runs again next time)

    @model_validator(mode="after")
    def _finished_or_failed(self):
        if (self.metrics is None) == (self.error is None):
            raise ValueError("a trial has either metrics (finished) or an error (failed)")
        return self


class HistoryFile(_Schema):
    """history file."""
    columns: dict[str, list[float | str | None]]
    best_step: int | None = None

    @model_validator(mode="after")
    def _rows(self):
        if "step" not in self.columns:
            raise ValueError("the column 'step' is missing")
        lengths = {k: len(v) for k, v in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns of different lengths: {lengths}")
        return self


class RunMeta(_Schema):
    """reproduce record."""
    fingerprint: str
    error: str | None = None
    quick: bool = False
    repeat: int | None = None
    wall_seconds: Number = None
    finished: str | None = None
    commands: list[str] | None = None


class Manifest(_Schema):
    """report manifest."""
    family: str | None = None
    quick: bool = False
    command: str | None = None
    cwd: str | None = None
    finished: str | None = None
    status: dict[str, dict[str, Any]] = {}
    environment: dict[str, Any] | None = None
    data_env: str | None = None
    blas_threads: int | None = None



#: version of the model folder layout (model.json + model.npz); a reader refuses a newer one.
#: A model.json without ``format_version`` was written before versions were recorded; its
#: layout is version 1's, so it is read as version 1 (it has no checksum to verify).
MODEL_FORMAT_VERSION = 1


def arrays_checksum(arrays: dict) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order (C order bytes)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode() + b"\0")
        h.update(a.tobytes())
    return h.hexdigest()


# -- model folders ----------------------------------------------------------------------------

class ArraySpec(_Schema):
    """array description."""
    dtype: str
    shape: list[int]


class ModelMeta(_Schema):
    """model meta."""
    dataset: str | None = None
    classes: list[str] | None = None
    alphabet: str | None = None
    n_len: int | None = None
    d: int | None = None
    encoder: dict[str, Any] | None = None
    seed: int | None = None


class ModelFile(_Schema):
    """model description."""
    format_version: int = 1
    model: dict[str, Any]
    meta: ModelMeta = ModelMeta()
    arrays: dict[str, ArraySpec] | None = None
    checksum: str | None = None
