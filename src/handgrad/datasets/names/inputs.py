"""The surnames as a model's inputs: the course or the leak-free split, character indices (ConvNets)
or n-gram rows (the n-gram linear model), and the facts a saved model needs to encode new names."""

from __future__ import annotations

import logging

import numpy as np

from handgrad.datasets.dataset import Dataset
from handgrad.datasets.names.encoder import INPUT_FORMAT
from handgrad.datasets.names.files import class_counts
from handgrad.datasets.names.grouped import course_leak, grouped_split
from handgrad.datasets.names.ngrams import CharNgrams
from handgrad.datasets.names.tutorial import resolve_surnames
from handgrad.errors import HandgradError

log = logging.getLogger(__name__)

SPLITS = ("course", "grouped")
FEATURES = ("indices", "ngrams")


def surnames(split: str = "course", *, features: str = "indices", source: str = "course", split_seed: int = 0,
             holdout_fraction: float = 0.2, holdout_min: int = 10, holdout_max: int = 200,
             ngram_range: tuple[int, int] = (1, 4), ngram_tf: str = "count", n_train: int | None = None,
             dtype=np.float32) -> Dataset:
    """Surnames labelled with one of 18 languages (DD2424 A3), ready for a model.

    ``split``: 'course' (the course's validation names, no test part: the published protocol) or
    'grouped' (the leak-free protocol of ``names/grouped.py``: de-duplicated pairs, no name string in
    two of train / validation / test, seeded by ``split_seed``, with a test part; what it removed is
    logged and kept in ``meta["split"]``, its summary in words as ``meta["split"]["summary"]``). ``features``: 'indices' gives character indices
    (N, n_len) int32, -1 after the name (a ConvNet's first layer reads them); 'ngrams' TF-IDF
    character n-gram rows (sparse CSR, ``dtype``) whose vocabulary and idf, fitted on the training
    names, go to ``state``. ``source``: the course files under $HANDGRAD_DATA/surnames/ or the PyTorch
    tutorial's names data. ``meta`` holds what a saved model needs to encode new names: the alphabet,
    n_len (and d), the source and the class counts. ``n_train`` keeps a seeded random subset of the
    training names (quick runs); the validation and test sets are always whole.
    """
    if split not in SPLITS:
        raise HandgradError(f"unknown surnames split {split!r}; choose {' or '.join(SPLITS)}")
    if features not in FEATURES:
        raise HandgradError(f"unknown surname features {features!r}; choose {' or '.join(FEATURES)}")
    data = resolve_surnames(source)
    enc = data.encoder()
    split_meta: dict = {"kind": split}
    if split == "grouped":
        gs = grouped_split(data.names, data.labels, data.K, seed=split_seed, fraction=holdout_fraction,
                           min_per_class=holdout_min, max_per_class=holdout_max,
                           val_idx=data.val_idx, classes=data.classes)
        summary = gs.summary(data.classes)
        log.info(summary)  # the command line shows it; a notebook has it in meta["split"]["summary"]
        parts = {p: gs.subset(p) for p in ("train", "val", "test")}
        split_meta.update(seed=split_seed, n_lines=gs.n_lines, n_pairs=len(gs.names),
                          duplicates=gs.n_duplicates, duplicates_per_class=gs.duplicates_per_class.tolist(),
                          multilabel_names=gs.n_multilabel_names, summary=summary, **gs.sizes)
    else:
        parts = {"train": data.subset("train"), "val": data.subset("val")}
    leak = course_leak(data.names, data.labels, data.val_idx, data.K)
    split_meta["course_val_per_class"] = class_counts(data.labels[data.val_idx], data.K).tolist()
    split_meta["course_leak_any_language"] = leak[0].tolist()
    split_meta["course_leak_same_language"] = leak[1].tolist()
    tr_names, y_tr = parts["train"]
    if n_train is not None and n_train < len(tr_names):
        keep = np.sort(np.random.default_rng(0).choice(len(tr_names), n_train, replace=False))
        tr_names, y_tr = [tr_names[i] for i in keep], y_tr[keep]
    meta = {"dataset": "surnames", "d": enc.d, "n_len": enc.n_len, "alphabet": enc.alphabet,
            "encoder": enc.to_dict(), "input": INPUT_FORMAT, "source": data.source,
            "lowercase": True, "truncate": f"names longer than n_len keep their first {enc.n_len} characters",
            "split": split_meta, "features": features,
            "train_class_counts": class_counts(y_tr, data.K).tolist()}
    state: dict = {}
    if features == "ngrams":
        feats = CharNgrams(*ngram_range, tf=ngram_tf).fit(tr_names)
        encode = lambda names: feats.transform(names, dtype=dtype)  # noqa: E731
        state = feats.state()
        meta.update(input="ngrams", ngrams=feats.config(), n_features=feats.n_features)
    else:
        encode = enc.indices
    out = {"train": (encode(tr_names), y_tr)}
    for p in ("val", "test"):
        if p in parts:
            out[p] = (encode(parts[p][0]), parts[p][1])
            meta[f"{p}_class_counts"] = class_counts(parts[p][1], data.K).tolist()
    X_te, y_te = out.get("test", (None, None))
    return Dataset(*out["train"], *out["val"], X_te, y_te, tuple(data.classes), state=state, meta=meta,
                   encode=lambda names: encode([n.strip().lower() for n in names]))
