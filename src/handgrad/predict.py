"""Predictions of a saved ConvNet run for new surnames (``handgrad predict RUN_DIR NAME ...``).

Inference only: the run folder's ``model.json``/``model.npz`` and its ``meta`` (alphabet, n_len,
classes, written by ``prepare_surnames``) are all that is read; nothing is retrained.

How a name is encoded, exactly as in training:

- leading/trailing whitespace is stripped and the name lowercased (inner spaces are kept: the space
  is a character of the course alphabet, "de la fontaine");
- a name longer than the model's n_len keeps its **first** n_len characters; the result says so
  (``truncated``) and the command prints a note;
- a character outside the model's alphabet is an error that lists the alphabet. Accents are not
  folded silently (the data set has none); ``fold=True`` (``--fold``) first maps accented letters to
  their base letter (é -> e, ß -> ss, ø -> o), which is how the tutorial's names were made ASCII.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from handgrad.errors import HandgradError


def fold_accents(name: str) -> str:
    """Accented letters to their ASCII base (NFD, combining marks dropped, ß -> ss, ...); other
    characters are kept, so a character still outside the alphabet is reported, not dropped."""
    from handgrad.data.surnames import _SPECIAL

    s = unicodedata.normalize("NFD", name)
    return unicodedata.normalize("NFC", "".join(_SPECIAL.get(ch, ch) for ch in s
                                                if unicodedata.category(ch) != "Mn"))


def load_predictor(run_dir: Path | str):
    """(model, encoder, classes) of a ConvNet run folder; a clear error for anything else."""
    from handgrad import io
    from handgrad.data.surnames import Encoder

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HandgradError(f"run folder {run_dir} does not exist")
    model, _extra, meta = io.load_model(run_dir)
    if meta.get("dataset") != "surnames":
        raise HandgradError(f"{run_dir} holds a model trained on {meta.get('dataset', 'unknown data')!r}; "
                            "handgrad predict takes a ConvNet run on the surnames data")
    enc_info = meta.get("encoder") or {k: meta[k] for k in ("alphabet", "n_len") if k in meta}
    if not enc_info:
        raise HandgradError(f"{run_dir}/model.json has no alphabet to encode names with")
    classes = meta.get("classes")
    if not classes:
        raise HandgradError(f"{run_dir}/model.json lists no classes")
    return model, Encoder.from_dict(enc_info), list(classes)


def predict_names(run_dir: Path | str, names: list[str], *, fold: bool = False) -> list[dict]:
    """For each name: {"name", "encoded" (what the model saw), "probabilities" {class: p},
    "predicted", "probability" (of the predicted class), "truncated"}.

    Raises HandgradError for an empty name or a character outside the alphabet (listing it).
    """
    if isinstance(names, str):
        names = [names]
    if not names:
        raise HandgradError("give at least one name")
    model, enc, classes = load_predictor(run_dir)
    clean = []
    for raw in names:
        s = raw.strip()
        if fold:
            s = fold_accents(s)
        s = enc.normalize(s)
        if not s:
            raise HandgradError(f"empty name {raw!r}")
        bad = sorted({ch for ch in s if ch not in enc.index})
        if bad:
            alph = "".join(enc.alphabet)
            hint = "" if fold else " (accented letters: add --fold to map them to their base letter)"
            raise HandgradError(
                f"name {raw!r} has {'characters' if len(bad) > 1 else 'the character'} "
                f"{', '.join(repr(c) for c in bad)} outside the model's alphabet of {enc.d} characters: "
                f"{alph!r}{hint}")
        clean.append(s)
    idx, truncated = enc.indices(clean, return_truncated=True)
    probs = model.predict_proba(idx)
    if probs is None:  # pragma: no cover - ConvNets are trained with cross-entropy
        raise HandgradError("the saved model has no probabilistic output (loss is not cross-entropy)")
    out = []
    for raw, s, p, cut in zip(names, clean, np.asarray(probs, dtype=np.float64), truncated):
        top = int(p.argmax())
        out.append({"name": raw, "encoded": s[:enc.n_len], "probabilities": dict(zip(classes, p.tolist())),
                    "predicted": classes[top], "probability": float(p[top]), "truncated": bool(cut)})
    return out


def format_table(results: list[dict], digits: int = 4) -> str:
    """The seed's table 3: classes as rows, names as columns, the prediction starred, and a last
    row with the predicted class."""
    classes = list(results[0]["probabilities"])
    names = [r["name"] for r in results]
    w0 = max(len("predicted"), *(len(c) for c in classes))
    widths = [max(len(n), digits + 3) for n in names]
    lines = [f"{'class':<{w0}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, widths))]
    for c in classes:
        cells = []
        for r, w in zip(results, widths):
            star = "*" if r["predicted"] == c else " "
            cells.append(f"{r['probabilities'][c]:.{digits}f}{star}".rjust(w + 1))
        lines.append(f"{c:<{w0}} " + " ".join(cells))
    lines.append(f"{'predicted':<{w0}}  " + "  ".join(f"{r['predicted']:>{w}}" for r, w in zip(results, widths)))
    return "\n".join(lines)
