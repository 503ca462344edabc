"""What a training run records, indexed by update step (``handgrad.fit`` returns it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """Columns of equal length, one row per recording point.

    Always present: ``step`` (updates done), ``epoch`` (fractional), ``lr``; then whatever the
    evaluation returns for each split, prefixed ``train_``/``val_`` (cost, loss, accuracy, ...).
    ``best_step`` is the step whose parameters were kept, when the best were kept; ``diverged``
    says where a run stopped on a NaN or infinite loss. ``history["val_accuracy"]`` is a column,
    ``history.plot()`` draws the learning curves.
    """

    columns: dict[str, list] = field(default_factory=dict)
    best_step: int | None = None
    #: {"step", "lr", "loss", "kept_step"} when training stopped on a NaN/infinite loss
    diverged: dict | None = None
    #: a character RNN's samples during training and its final passage (``handgrad.fit_text``)
    text: dict | None = None

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

    def keys(self) -> list[str]:
        return list(self.columns)

    def last(self, key: str):
        """The last value recorded for ``key`` (rows that did not record it hold None and are
        skipped: a char-RNN's smooth loss and its held-out loss are recorded in different rows)."""
        return next((v for v in reversed(self.columns[key]) if v is not None), None)

    def plot(self, by: str = "epoch", title: str = ""):
        """The learning curves (cost, loss and accuracy on the training and validation data) as a
        matplotlib Figure, which a notebook shows inline; needs matplotlib."""
        from handgrad.plots import (
            learning_curves,  # optional: drawing needs matplotlib, training never does
        )

        return learning_curves(self, by=by, title=title)

    def to_dict(self) -> dict:
        d = {"columns": self.columns, "best_step": self.best_step}
        return d if self.diverged is None else {**d, "diverged": self.diverged}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(columns=d["columns"], best_step=d.get("best_step"), diverged=d.get("diverged"))

    def __repr__(self) -> str:
        if not len(self):
            return "History(empty)"
        last = ", ".join(f"{k}={v:.4g}" for k, v in ((k, self.last(k)) for k in self.columns if k != "step")
                         if isinstance(v, (int, float)))
        return f"History({len(self)} records to step {self.last('step')}: {last})"
