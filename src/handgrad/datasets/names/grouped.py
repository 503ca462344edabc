"""The leak-free surnames protocol: de-duplicated pairs, split by name string into train / val / test.

The course's split leaks (a validation name also occurs, with the same label, among the training
names) and its file repeats pairs (Arabic: 2,000 lines, 108 distinct names). ``grouped_split``
builds an evaluation that only sees names the model never trained on:

1. **De-duplication**: every (name, language) pair is kept once (names are the loader's lowercased,
   stripped strings), in order of first occurrence.
2. **Groups**: all the pairs of one name string form a group, and a group goes to exactly one part,
   so no name string appears in two of train / validation / test. A name listed under several
   languages (480 names in the course file; 99 of the 100 Scottish names are also English) keeps
   all its pairs: in validation and test each pair is one example, so a model can get at most one of
   them right. That is the data's own ambiguity, the same for every model compared on the split.
3. **Stratified sizes**: each language gets ``round(fraction * n)`` validation and as many test
   examples (n: its distinct names), at least ``min_per_class`` and at most ``max_per_class`` (and
   never so many that no training name is left), so the small languages keep most of their names for
   training while the big ones give large, less noisy parts. Languages are filled smallest first; a multi-language group counts for each of its
   languages, and a group is only placed where it fits every one of them.
4. A seed: the groups of each language are visited in the order of a ``numpy`` Generator's
   permutation; the same seed gives the same split.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from handgrad.errors import HandgradError

PARTS = ("train", "val", "test")


@dataclass(eq=False)
class GroupedSplit:
    """De-duplicated pairs and their part. ``names`` / ``labels`` (N,) are the distinct pairs;
    ``part`` (N,) int8 is 0 (train), 1 (val) or 2 (test); the counts say what was removed."""

    names: list[str]
    labels: np.ndarray
    part: np.ndarray
    n_lines: int
    #: lines dropped because the same (name, language) pair occurred before, per language
    duplicates_per_class: np.ndarray
    #: the course split's leak, per language: (2, K) counts of its validation names whose string also
    #: occurs among its training names, row 0 with any language, row 1 with the same language
    course_leak_per_class: np.ndarray | None = None
    seed: int = 0
    sizes: dict = field(default_factory=dict)

    @property
    def n_duplicates(self) -> int:
        return int(self.duplicates_per_class.sum())

    @property
    def n_multilabel_names(self) -> int:
        """Name strings listed under more than one language (kept whole in one part)."""
        counts = defaultdict(int)
        for n in self.names:
            counts[n] += 1
        return sum(1 for c in counts.values() if c > 1)

    def indices(self, which: str) -> np.ndarray:
        if which not in PARTS:
            raise HandgradError(f"unknown part {which!r}; choose one of {', '.join(PARTS)}")
        return np.flatnonzero(self.part == PARTS.index(which))

    def subset(self, which: str) -> tuple[list[str], np.ndarray]:
        idx = self.indices(which)
        return [self.names[i] for i in idx], self.labels[idx]

    def summary(self, classes: list[str]) -> str:
        """One paragraph saying what was removed and how big each part is (printed by handgrad)."""
        sizes = {p: len(self.indices(p)) for p in PARTS}
        msg = (f"leak-free split (seed {self.seed}): {self.n_lines} lines -> {len(self.names)} distinct "
               f"(name, language) pairs ({self.n_duplicates} duplicate lines removed); "
               f"{self.n_multilabel_names} names listed under several languages kept whole in one part; "
               f"no name string in two parts; train {sizes['train']}, validation {sizes['val']}, "
               f"test {sizes['test']} pairs")
        if self.course_leak_per_class is not None:
            msg += ". " + leak_sentence(self.course_leak_per_class, classes)
        return msg


def deduplicate(names: list[str], labels: np.ndarray, n_classes: int):
    """Distinct (name, label) pairs in order of first occurrence, and the duplicate lines per class."""
    seen: set[tuple[str, int]] = set()
    out_names, out_labels = [], []
    dup = np.zeros(n_classes, dtype=np.int64)
    for n, y in zip(names, np.asarray(labels).tolist()):
        if (n, y) in seen:
            dup[y] += 1
            continue
        seen.add((n, y))
        out_names.append(n)
        out_labels.append(y)
    return out_names, np.asarray(out_labels, dtype=np.int64), dup


def course_leak(names: list[str], labels: np.ndarray, val_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """The course split's leak per class, (2, K): row 0 counts the validation names whose string also
    occurs among the training names (with any language), row 1 those that occur with the same one."""
    val = set(int(i) for i in val_idx)
    train_idx = [i for i in range(len(names)) if i not in val]
    train_names = {names[i] for i in train_idx}
    train_pairs = {(names[i], int(labels[i])) for i in train_idx}
    leak = np.zeros((2, n_classes), dtype=np.int64)
    for i in val_idx:
        leak[0, labels[i]] += names[i] in train_names
        leak[1, labels[i]] += (names[i], int(labels[i])) in train_pairs
    return leak


def leak_sentence(leak: np.ndarray, classes: list[str], n_val: int | None = None) -> str:
    """The course split's leak in words, with the per-class counts (for reports and the summary)."""
    per = ", ".join(f"{classes[i]} {a}" + (f" ({b} same language)" if b else "")
                    for i, (a, b) in enumerate(zip(leak[0], leak[1])) if a)
    of = f" of its {n_val}" if n_val else ""
    if not leak[0].sum():
        return (f"The course split does not leak: none of its {n_val or ''} validation names occurs among its "
                "training names").replace("  ", " ")
    return (f"The course split leaks: {int(leak[0].sum())}{of} validation names also occur among its training "
            f"names, {int(leak[1].sum())} of them with the same language ({per})")


def holdout_size(n: int, fraction: float, min_per_class: int, max_per_class: int) -> int:
    """Validation (and test) examples for a language with n distinct names: round(fraction * n)
    clipped to [min_per_class, max_per_class], and never more than leaves a training name."""
    return int(min(max(round(fraction * n), min_per_class), max_per_class, (n - 1) // 2))


def grouped_split(names: list[str], labels: np.ndarray, n_classes: int, *, seed: int = 0,
                  fraction: float = 0.2, min_per_class: int = 10, max_per_class: int = 200,
                  val_idx: np.ndarray | None = None, classes: list[str] | None = None) -> GroupedSplit:
    """The leak-free split of (names, labels) (see the module doc).

    ``val_idx``: the course's validation indices, only to count its leak for the summary. Raises
    HandgradError when a language has too few names to leave one in each part.
    """
    labels = np.asarray(labels, dtype=np.int64)
    classes = classes or [str(i) for i in range(n_classes)]
    d_names, d_labels, dup = deduplicate(names, labels, n_classes)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(d_names):
        groups[n].append(i)
    n_distinct = np.bincount(d_labels, minlength=n_classes)
    want = np.array([holdout_size(int(c), fraction, min_per_class, max_per_class) for c in n_distinct])
    too_few = [classes[y] for y in range(n_classes) if want[y] < 1]
    if too_few:
        raise HandgradError(f"too few distinct names (at least 3) for a validation, test and training part "
                            f"in: {', '.join(too_few)}")
    rng = np.random.default_rng(seed)
    part = np.zeros(len(d_names), dtype=np.int8)
    have = np.zeros((3, n_classes), dtype=np.int64)  # examples placed, per part and class
    placed: set[str] = set()
    for y in np.argsort(n_distinct, kind="stable"):  # smallest languages first: they have least slack
        cand = sorted({d_names[i] for i in np.flatnonzero(d_labels == y)} - placed)
        for j in rng.permutation(len(cand)):
            name = cand[j]
            ys = d_labels[groups[name]]
            for p in (1, 2):
                # the group must fit every language it carries, so no part overshoots its size
                if have[p, y] < want[y] and all(have[p, z] < want[z] for z in ys):
                    part[groups[name]] = p
                    np.add.at(have[p], ys, 1)
                    placed.add(name)
                    break
            if have[1, y] >= want[y] and have[2, y] >= want[y]:
                break
    sizes = {"fraction": fraction, "min_per_class": min_per_class, "max_per_class": max_per_class,
             "val_per_class": have[1].tolist(), "test_per_class": have[2].tolist(),
             "train_per_class": np.bincount(d_labels[part == 0], minlength=n_classes).tolist()}
    missing = [classes[y] for y in range(n_classes) if min(have[1, y], have[2, y], sizes["train_per_class"][y]) == 0]
    if missing:  # pragma: no cover - the size check above rules this out for single-language groups
        raise HandgradError(f"the grouped split left a part without names of: {', '.join(missing)}")
    leak = course_leak(names, labels, val_idx, n_classes) if val_idx is not None else None
    return GroupedSplit(d_names, d_labels, part, len(names), dup, leak, seed, sizes)
