"""From the surnames data set to a model's inputs for one [data] table: the course or the leak-free
split, character indices (ConvNets) or n-gram rows (the n-gram linear model), and the facts a saved
model needs to encode new names."""

from __future__ import annotations

import numpy as np

from handgrad.data.surname_sources import resolve_surnames
from handgrad.data.surnames import INPUT_FORMAT, class_counts


def prepare_surnames(dc, dtype=np.float32):
    """``Prepared`` data for a [data] table with dataset = "surnames".

    ``dc.split``: 'course' (the course's validation names, no test part: the published protocol) or
    'grouped' (the leak-free protocol of ``data/grouped.py``, with a test part; what it removed is
    printed on stderr and kept in ``meta["split"]``). ``dc.features``: 'indices' gives character
    indices (N, n_len) int32 (see ``INPUT_FORMAT``); 'ngrams' TF-IDF character n-gram rows (sparse
    CSR, ``dtype``) whose vocabulary and idf, fitted on the training names, go to ``state``. ``meta``
    holds what a saved model needs to encode new names: the alphabet, n_len (and d), the source and
    the class counts. ``dc.n_train`` keeps a seeded random subset of the training names (quick runs);
    the validation and test sets are always whole.
    """
    import sys

    from handgrad.data.grouped import course_leak, grouped_split
    from handgrad.data.prepared import Prepared

    data = resolve_surnames(getattr(dc, "source", "course"))
    enc = data.encoder()
    split_meta: dict = {"kind": dc.split}
    if dc.split == "grouped":
        gs = grouped_split(data.names, data.labels, data.K, seed=dc.split_seed, fraction=dc.holdout_fraction,
                           min_per_class=dc.holdout_min, max_per_class=dc.holdout_max,
                           val_idx=data.val_idx, classes=data.classes)
        print(f"handgrad: {gs.summary(data.classes)}", file=sys.stderr)
        parts = {p: gs.subset(p) for p in ("train", "val", "test")}
        split_meta.update(seed=dc.split_seed, n_lines=gs.n_lines, n_pairs=len(gs.names),
                          duplicates=gs.n_duplicates, duplicates_per_class=gs.duplicates_per_class.tolist(),
                          multilabel_names=gs.n_multilabel_names, **gs.sizes)
    else:
        parts = {"train": data.subset("train"), "val": data.subset("val")}
    leak = course_leak(data.names, data.labels, data.val_idx, data.K)
    split_meta["course_val_per_class"] = class_counts(data.labels[data.val_idx], data.K).tolist()
    split_meta["course_leak_any_language"] = leak[0].tolist()
    split_meta["course_leak_same_language"] = leak[1].tolist()
    tr_names, y_tr = parts["train"]
    if dc.n_train is not None and dc.n_train < len(tr_names):
        keep = np.sort(np.random.default_rng(0).choice(len(tr_names), dc.n_train, replace=False))
        tr_names, y_tr = [tr_names[i] for i in keep], y_tr[keep]
    meta = {"dataset": "surnames", "d": enc.d, "n_len": enc.n_len, "alphabet": enc.alphabet,
            "encoder": enc.to_dict(), "input": INPUT_FORMAT, "source": data.source,
            "lowercase": True, "truncate": f"names longer than n_len keep their first {enc.n_len} characters",
            "split": split_meta, "features": dc.features,
            "train_class_counts": class_counts(y_tr, data.K).tolist()}
    state: dict = {}
    if dc.features == "ngrams":
        from handgrad.data.ngrams import CharNgrams

        feats = CharNgrams(*dc.ngram_range, tf=dc.ngram_tf).fit(tr_names)
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
    return Prepared(*out["train"], *out["val"], X_te, y_te, tuple(data.classes), state=state, meta=meta)
