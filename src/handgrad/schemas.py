"""What handgrad's own JSON files look like: pydantic schemas the readers check them against (the
model file's are :mod:`handgrad.modelfile`'s).

Strict types (the string "0.5" is not a number, 1 is not true); extra keys are allowed, since files
gain keys over time. Each schema's docstring names the file kind in error messages (see
:func:`handgrad.readers.validate`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class Schema(BaseModel):
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

class TimingRow(Schema):
    """timing row."""
    impl: str
    precompute_s: Number = None
    ms_per_update: float
    total_s: float
    speedup_total: float
    extrapolated: bool = False


class GradcheckRow(Schema):
    """gradient check row."""
    param: str
    max_abs: float
    max_rel: float


class GradcheckCase(Schema):
    """gradient check case."""
    batch_size: int
    n_dims: int
    rows: list[GradcheckRow]
    max_rel: float


class Divergence(Schema):
    """divergence record."""
    step: int
    lr: float
    loss: str
    kept_step: int | None = None


class Metrics(Schema):
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


class Trial(Schema):
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


class HistoryFile(Schema):
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


class RunMeta(Schema):
    """reproduce record."""
    fingerprint: str
    error: str | None = None
    quick: bool = False
    repeat: int | None = None
    wall_seconds: Number = None
    finished: str | None = None
    commands: list[str] | None = None


class Manifest(Schema):
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
