"""Predictions of a saved surnames run for new surnames (``handgrad predict RUN_DIR NAME ...``).

Inference only: the run folder's ``model.json``/``model.npz`` and its ``meta`` (alphabet, n_len,
classes, n-gram vocabulary, written by ``data.surname_inputs.prepare_surnames``) are all that is
read; nothing is retrained. The folder may hold a ConvNet, the n-gram linear model, or an ensemble of them
(``ensemble.json``, see ``handgrad.tasks.ensemble``), whose probabilities are averaged.

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

import sys
import unicodedata
from pathlib import Path

import numpy as np

from handgrad import modelfile
from handgrad.alphabet import describe, show_char
from handgrad.datasets.names.encoder import Encoder
from handgrad.datasets.names.files import read_lines
from handgrad.datasets.names.ngrams import CharNgrams
from handgrad.datasets.names.tutorial import SPECIAL
from handgrad.errors import HandgradError
from handgrad.tasks import ensemble


def fold_accents(name: str) -> str:
    """Accented letters to their ASCII base (NFD, combining marks dropped, ß -> ss, ...); other
    characters are kept, so a character still outside the alphabet is reported, not dropped."""
    s = unicodedata.normalize("NFD", name)
    return unicodedata.normalize("NFC", "".join(SPECIAL.get(ch, ch) for ch in s
                                                if unicodedata.category(ch) != "Mn"))


class Predictor:
    """A saved surname model, or an ensemble of them, in memory and ready to score names.

    ``members``: (model, features, weight) with ``features(names) -> X`` the member's own input
    encoding (character indices for a ConvNet, n-gram rows for the n-gram linear model);
    ``encoder``: the alphabet and n_len every member shares; ``classes``: the K languages.

    Load it once (:func:`load_predictor`) and call :meth:`predict` as often as needed: ``handgrad
    predict`` and ``handgrad serve`` do. A batch of names is one forward pass per member. Many threads
    may predict at once: a forward pass in evaluation mode reads the parameters and never reads what
    another pass leaves behind (each layer's cache is only written, for a backward pass that
    inference never makes).
    """

    def __init__(self, members: list, encoder, classes: list[str]) -> None:
        self.members, self.encoder, self.classes = members, encoder, classes

    def proba(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, K), truncated (N,) bool) for lowercased names within the alphabet."""
        _idx, truncated = self.encoder.indices(names, return_truncated=True)
        total = np.zeros((len(names), len(self.classes)))
        for model, features, weight in self.members:
            p = model.predict_proba(features(names))
            if p is None:  # pragma: no cover - surname models are trained with cross-entropy
                raise HandgradError("the saved model has no probabilistic output (loss is not cross-entropy)")
            total += weight * np.asarray(p, dtype=np.float64)
        return total, truncated

    def predict(self, names: list[str], *, fold: bool = False, top: int | None = None) -> list[dict]:
        """For each name: {"name", "encoded" (what the model saw), "probabilities" {class: p},
        "predicted", "probability" (of the predicted class), "truncated"}, and with ``top`` K also
        "top": the K most probable [class, p] pairs, most probable first.

        Raises HandgradError for an empty name or a character outside the alphabet (listing it).
        """
        if isinstance(names, str):
            names = [names]
        if not names:
            raise HandgradError("give at least one name")
        if top is not None and top < 1:
            raise HandgradError(f"--top must be at least 1, got {top}")
        enc, classes = self.encoder, self.classes
        clean = clean_names(names, enc, fold=fold)
        probs, truncated = self.proba(clean)
        best = probs.argmax(axis=1)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :top] if top is not None else None
        out = []
        for i, (raw, s) in enumerate(zip(names, clean)):
            p = probs[i]
            r = {"name": raw, "encoded": s[:enc.n_len], "probabilities": dict(zip(classes, p.tolist())),
                 "predicted": classes[best[i]], "probability": float(p[best[i]]), "truncated": bool(truncated[i])}
            if order is not None:
                r["top"] = [[classes[j], float(p[j])] for j in order[i]]
            out.append(r)
        return out


def _load_member(run_dir: Path):
    """(model, features, encoder, classes) of one surnames run folder."""
    if not run_dir.is_dir():
        raise HandgradError(f"run folder {run_dir} does not exist")
    model, extra, meta = modelfile.load(run_dir)
    if meta.get("dataset") != "surnames":
        raise HandgradError(f"{run_dir} holds a model trained on {meta.get('dataset', 'unknown data')!r}; "
                            "handgrad predict takes a run on the surnames data")
    enc_info = meta.get("encoder") or {k: meta[k] for k in ("alphabet", "n_len") if k in meta}
    if not enc_info:
        raise HandgradError(f"{run_dir}/model.json has no alphabet to encode names with")
    classes = meta.get("classes")
    if not classes:
        raise HandgradError(f"{run_dir}/model.json lists no classes")
    enc = Encoder.from_dict(enc_info)
    if meta.get("input") == "ngrams":
        ngrams = CharNgrams.from_state(meta.get("ngrams", {}), extra)
        features = lambda names: ngrams.transform(names, dtype=model.dtype)  # noqa: E731
    else:
        features = enc.indices
    return model, features, enc, list(classes)


def load_predictor(run_dir: Path | str) -> Predictor:
    """The predictor of a surnames run folder (ConvNet, n-gram linear model or an ensemble of them)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HandgradError(f"run folder {run_dir} does not exist")
    folders = ensemble.read_members(run_dir) if ensemble.is_ensemble(run_dir) else [(run_dir, 1.0)]
    members, enc, classes = [], None, None
    for folder, weight in folders:
        model, features, e, c = _load_member(folder)
        if enc is not None and (e != enc or c != classes):
            raise HandgradError(f"ensemble member {folder} has another alphabet or class list than the first")
        enc, classes = e, c
        members.append((model, features, weight))
    return Predictor(members, enc, classes)


def clean_names(names: list[str], enc, *, fold: bool = False) -> list[str]:
    """What the model sees of each name (stripped, optionally accent-folded, lowercased); an empty
    name or a character outside the alphabet is a HandgradError listing the alphabet."""
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
            raise HandgradError(f"name {raw!r} has {'characters' if len(bad) > 1 else 'the character'} "
                                f"{', '.join(show_char(c) for c in bad)} outside the model's alphabet "
                                f"{describe(enc.alphabet)}{outside_hint(bad, fold)}")
        clean.append(s)
    return clean


def outside_hint(bad: list[str], fold: bool) -> str:
    """Why characters may be outside a surname model's alphabet, and what to do: accented letters can
    be folded (--fold), digits and other symbols cannot (surnames are letters)."""
    hints = []
    if any(c.isdigit() for c in bad):
        hints.append("digits are not in the alphabet: a surname is letters (and spaces, apostrophes)")
    if not fold and any(fold_accents(c) != c for c in bad):
        hints.append("accented letters: add --fold to map them to their base letter")
    return f" ({'; '.join(hints)})" if hints else ""


def predict_names(run_dir: Path | str, names: list[str], *, fold: bool = False, top: int | None = None) -> list[dict]:
    """:meth:`Predictor.predict` of the run folder's predictor, loaded for this call (to predict more
    than once, keep ``load_predictor(run_dir)``)."""
    return load_predictor(run_dir).predict(names, fold=fold, top=top)


def read_names(path: str) -> list[str]:
    """Names from a file, or from standard input for ``-``: one per line, blank lines skipped."""
    if path == "-":
        lines, where = sys.stdin.read().splitlines(), "standard input"
    else:
        lines, where = read_lines(Path(path), "names file"), path
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise HandgradError(f"no names in {where} (expected one name per line)")
    return names


def format_top(results: list[dict]) -> str:
    """One line per name: the name, then its top classes with probabilities (``--top K``)."""
    w = max(len(r["name"]) for r in results)
    return "\n".join(f"{r['name']:<{w}}  " + "  ".join(f"{c} {p:.4f}" for c, p in r["top"]) for r in results)


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
