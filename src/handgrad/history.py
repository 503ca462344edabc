"""What a training run records, indexed by update step; saved as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class History:
    """Columns of equal length, one row per recording point.

    Always present: ``step`` (updates done), ``epoch`` (fractional), ``lr``; then whatever the
    evaluation returns for each split, prefixed ``train_``/``val_`` (cost, loss, accuracy, ...).
    ``best_step`` is the step whose parameters were kept, when the best were kept.
    """

    columns: dict[str, list] = field(default_factory=dict)
    best_step: int | None = None
    #: {"step", "lr", "loss", "kept_step"} when training stopped on a NaN/infinite loss
    diverged: dict | None = None

    def record(self, **row: float) -> None:
        n = len(self)
        for k, v in row.items():
            col = self.columns.setdefault(k, [None] * n)
            col.append(v)
        for k, col in self.columns.items():
            if len(col) == n:  # a key missing from this row
                col.append(None)

    def __len__(self) -> int:
        return len(self.columns["step"]) if "step" in self.columns else 0

    def __getitem__(self, key: str) -> list:
        return self.columns[key]

    def __contains__(self, key: str) -> bool:
        return key in self.columns

    def last(self, key: str):
        return self.columns[key][-1]

    def to_dict(self) -> dict:
        d = {"columns": self.columns, "best_step": self.best_step}
        return d if self.diverged is None else {**d, "diverged": self.diverged}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(columns=d["columns"], best_step=d.get("best_step"), diverged=d.get("diverged"))

    def save(self, path: Path) -> None:
        from handgrad.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> "History":
        from handgrad.readers import read_history

        return cls.from_dict(read_history(path))
