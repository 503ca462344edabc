"""Surnames labelled with one of 18 languages (DD2424 A3), and their one-hot encoding.

Two sources give the same kind of :class:`SurnameData`:

- the course files (``load_surnames``): ``ascii_names.txt`` ("Name label" per line, labels 1..K),
  ``category_labels.txt`` ("i Language" per line) and ``Validation_Inds.txt`` (1-based indices,
  14 per class);
- the PyTorch tutorial's public names archive (``data/surname_sources.py``), folded to ASCII, with a
  balanced validation split drawn from a seeded Generator.

Parsing choices for the course file (documented because MATLAB and Python disagree):

- A line is split on its last run of whitespace: the name is everything before it, the label after.
- The name is stripped of leading/trailing whitespace and lowercased; inner spaces are kept verbatim
  ("de la fontaine"), so the space is a character of the alphabet, as in the course.
- Two lines of the course file ("See  2", "Sze  2") and eight Korean ones have a double space before the
  label. MATLAB's ``strsplit`` gives "see " with a trailing space; we give "see". The alphabet (28
  characters) is the same either way.

How names become model inputs is ``names/encoder.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad.datasets.names.encoder import Encoder
from handgrad.errors import HandgradError

NAMES_FILE = "ascii_names.txt"
LABELS_FILE = "category_labels.txt"
VAL_FILE = "Validation_Inds.txt"

VAL_PER_CLASS = 14


# ---------------------------------------------------------------------------------------------
# Data set
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)  # arrays inside: compare fields explicitly
class SurnameData:
    """All names with 0-based labels, the class names and the validation split.

    ``names``: N lowercased names in file order; ``labels``: (N,) int64 in 0..K-1;
    ``classes``: K language names (label i is ``classes[i]``); ``val_idx``: 0-based indices of the
    validation names in the order given; ``train_idx``: the rest, ascending.
    """

    names: list[str]
    labels: np.ndarray
    classes: list[str]
    val_idx: np.ndarray
    source: str = ""
    train_idx: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        mask = np.ones(len(self.names), dtype=bool)
        mask[self.val_idx] = False
        self.train_idx = np.flatnonzero(mask)

    @property
    def K(self) -> int:
        return len(self.classes)

    @property
    def alphabet(self) -> str:
        """Sorted unique characters over all names (train and validation, as the course does)."""
        return "".join(sorted(set("".join(self.names))))

    @property
    def n_len(self) -> int:
        return max(len(n) for n in self.names)

    def encoder(self) -> Encoder:
        return Encoder(self.alphabet, self.n_len)

    def subset(self, which: str) -> tuple[list[str], np.ndarray]:
        """(names, labels) of ``'train'``, ``'val'`` or ``'all'``."""
        if which == "all":
            return list(self.names), self.labels.copy()
        if which not in ("train", "val"):
            raise HandgradError(f"unknown surname split {which!r}; choose train, val or all")
        idx = self.train_idx if which == "train" else self.val_idx
        return [self.names[i] for i in idx], self.labels[idx]

    def __repr__(self) -> str:
        return (f"SurnameData({len(self.names)} names, K={self.K}, d={len(self.alphabet)}, "
                f"n_len={self.n_len}, train={len(self.train_idx)}, val={len(self.val_idx)}, source={self.source!r})")


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Number of examples of each class: (n_classes,) int64 from 0-based labels."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise HandgradError(f"labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=n_classes).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Course files
# ---------------------------------------------------------------------------------------------
def read_lines(path: Path, what: str = "surnames file") -> list[str]:
    if not path.is_file():
        raise HandgradError(f"missing {what} {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise HandgradError(f"{path} is not UTF-8 text: {e}") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    return lines


def _read_classes(path: Path) -> list[str]:
    """category_labels.txt: "i Language" lines, i = 1..K in order."""
    classes = []
    for lineno, line in enumerate(read_lines(path), start=1):
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != lineno:
            raise HandgradError(f"{path}:{lineno}: expected '{lineno} <language>', got {line!r}")
        classes.append(parts[1].strip())
    if not classes:
        raise HandgradError(f"{path} lists no classes")
    return classes


def _read_names(path: Path, n_classes: int) -> tuple[list[str], np.ndarray]:
    """ascii_names.txt: "name label" lines, label 1..n_classes; returns names and 0-based labels."""
    names, labels = [], []
    for lineno, line in enumerate(read_lines(path), start=1):
        parts = line.rsplit(None, 1)  # the last whitespace run separates name and label
        if len(parts) != 2 or not parts[0].strip():
            raise HandgradError(f"{path}:{lineno}: expected 'name label', got {line!r}")
        name, lab = parts[0].strip(), parts[1]
        try:
            y = int(lab)
        except ValueError:
            raise HandgradError(f"{path}:{lineno}: label {lab!r} is not an integer (line {line!r})") from None
        if not 1 <= y <= n_classes:
            raise HandgradError(f"{path}:{lineno}: label {y} is outside 1..{n_classes} (line {line!r})")
        names.append(name.lower())
        labels.append(y - 1)
    if not names:
        raise HandgradError(f"{path} holds no names")
    return names, np.asarray(labels, dtype=np.int64)


def _read_val_indices(path: Path, n: int) -> np.ndarray:
    """Validation_Inds.txt: whitespace-separated 1-based indices -> 0-based, file order kept."""
    out = []
    for lineno, line in enumerate(read_lines(path), start=1):
        for tok in line.split():
            try:
                i = int(tok)
            except ValueError:
                raise HandgradError(f"{path}:{lineno}: {tok!r} is not an integer index") from None
            if not 1 <= i <= n:
                raise HandgradError(f"{path}:{lineno}: index {i} is outside 1..{n} (the number of names)")
            out.append(i - 1)
    idx = np.asarray(out, dtype=np.int64)
    if idx.size == 0:
        raise HandgradError(f"{path} holds no indices")
    uniq, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise HandgradError(f"{path}: index {uniq[counts > 1][0] + 1} appears more than once")
    return idx


def load_surnames(root: Path | str) -> SurnameData:
    """Read the course's surnames folder (ascii_names.txt, category_labels.txt, Validation_Inds.txt).

    Raises HandgradError naming the file and line for missing files, malformed lines, labels out of
    range and validation indices out of range or repeated.
    """
    root = Path(root)
    if not root.is_dir():
        raise HandgradError(f"surnames folder {root} does not exist")
    classes = _read_classes(root / LABELS_FILE)
    names, labels = _read_names(root / NAMES_FILE, len(classes))
    val_idx = _read_val_indices(root / VAL_FILE, len(names))
    return SurnameData(names, labels, classes, val_idx, source=str(root))
