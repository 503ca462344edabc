"""What ``handgrad serve`` knows about a run folder, and how it turns user input into predictions.

The run folder is read once, when the server starts, with the package's own readers
(``predict.load_predictor`` for surname models, ``modelfile.load`` for the rest); every request then
predicts from memory (``Predictor.predict``, one forward pass per member for a batch of names), so
predictions here are exactly those of ``handgrad predict``. User mistakes raise :class:`InputError`
with an HTTP status and a message meant for a person; the app turns it into a JSON 4xx.
"""

from __future__ import annotations

import base64
import io as _io
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from handgrad import modelfile, plots, readers
from handgrad.alphabet import describe, show_char
from handgrad.config import read_run_config
from handgrad.errors import HandgradError
from handgrad.predict import Predictor, fold_accents, load_predictor, outside_hint
from handgrad.preprocessing import Standardizer
from handgrad.tasks import ensemble

#: the longest name accepted (the model reads only its first n_len characters; this bounds work)
MAX_NAME_CHARS = 100
#: names in one POST
MAX_NAMES = 1000
#: bytes of an uploaded image, and its pixels once decoded (a small PNG can hold a huge image)
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000


class InputError(HandgradError):
    """Bad input from the page or the API: HTTP ``status`` and a message (plus extra JSON fields)."""

    def __init__(self, message: str, status: int = 400, **extra) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


@dataclass
class ServedModel:
    run_dir: Path
    kind: str  # 'surnames' or 'cifar10'
    info: dict
    classes: list[str]
    model: object = None
    extra: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    templates_png: Path | None = None
    #: surnames: the run folder's predictor, loaded once (requests share it; it is safe to)
    predictor: Predictor | None = None


def _info(run_dir: Path, model_cfg: dict, meta: dict) -> dict:
    """The page's 'what is this model': config, accuracies from metrics.json, training date."""
    cfg = readers.read_optional(read_run_config, run_dir / "config.json") or {}
    metrics = readers.read_optional(readers.read_metrics, run_dir / "metrics.json") or {}
    saved = run_dir / ("model.npz" if (run_dir / "model.npz").is_file() else "metrics.json")  # an ensemble: no model.npz
    trained = datetime.fromtimestamp(saved.stat().st_mtime, timezone.utc)
    layers = [lc.get("type", "?") for lc in model_cfg.get("layers", [])]
    accuracies = {k: metrics[k] for k in ("train_accuracy", "val_accuracy", "val_balanced_accuracy",
                                          "test_accuracy") if isinstance(metrics.get(k), (int, float))}
    return {"run_dir": str(run_dir), "name": cfg.get("name") or metrics.get("name") or run_dir.name,
            "description": cfg.get("description", ""), "dataset": meta.get("dataset"),
            "kind": (cfg.get("model") or {}).get("kind"), "loss": model_cfg.get("loss"),
            "lambda": model_cfg.get("lam"), "layers": layers, "config": cfg, "accuracies": accuracies,
            "n_updates": metrics.get("n_updates"), "seconds": metrics.get("seconds"),
            "trained": trained.strftime("%Y-%m-%d %H:%M UTC"), "classes": list(meta.get("classes", []))}


def load(run_dir: Path | str) -> ServedModel:
    """Read a run folder once at start-up; a clear HandgradError when it can't be served."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HandgradError(f"run folder {run_dir} does not exist")
    # an ensemble (the surnames predictor) keeps its models in member folders: describe the first
    first = ensemble.read_members(run_dir)[0][0] if ensemble.is_ensemble(run_dir) else run_dir
    model, extra, meta = modelfile.load(first)
    model_cfg = readers.read_json(first / "model.json").get("model", {})
    dataset = meta.get("dataset")
    if dataset == "surnames":
        pred = load_predictor(run_dir)  # the checks handgrad predict makes
        enc, classes = pred.encoder, pred.classes
        sm = ServedModel(run_dir, "surnames", _info(run_dir, model_cfg, meta), classes, model, extra, meta,
                         predictor=pred)
        sm.info.update(alphabet=enc.alphabet, n_len=enc.n_len, max_name_chars=MAX_NAME_CHARS)
        return sm
    if dataset == "cifar10":
        for k in ("mean", "std", "scale"):
            if k not in extra:
                raise HandgradError(f"{run_dir}/model.npz has no standardisation array {k!r}")
        classes = list(meta.get("classes") or [])
        if len(classes) != model.layers[-1].params["W"].shape[0]:
            raise HandgradError(f"{run_dir}/model.json lists {len(classes)} classes for a model with "
                                f"{model.layers[-1].params['W'].shape[0]} outputs")
        sm = ServedModel(run_dir, "cifar10", _info(run_dir, model_cfg, meta), classes, model, extra, meta)
        sm.info.update(image_shape=meta.get("image_shape", [3, 32, 32]), max_image_bytes=MAX_IMAGE_BYTES)
        if len(model.layers) == 1:  # a linear classifier: its rows are the class templates
            tmp = Path(tempfile.mkdtemp(prefix="handgrad-serve-"))
            sm.templates_png = plots.save(plots.class_templates(model.layers[0].params["W"], classes,
                                                                tuple(sm.info["image_shape"])), tmp / "templates.png")
        sm.info["has_templates"] = sm.templates_png is not None
        return sm
    raise HandgradError(f"{run_dir} holds a model trained on {dataset!r}; handgrad serve takes a surnames "
                        "ConvNet or a CIFAR-10 classifier")


# -- surnames ----------------------------------------------------------------------------------
def predict_names(sm: ServedModel, names: list) -> list[dict]:
    """handgrad predict's result for each name; InputError naming the name for anything it refuses."""
    check_names(sm, names)
    try:
        return sm.predictor.predict(names)
    except HandgradError as e:  # anything predict itself refuses is still the user's input
        raise InputError(str(e)) from None


def check_names(sm: ServedModel, names: list) -> list[str]:
    """The names of a request, each checked as handgrad predict checks it; InputError (a 4xx) naming
    the first one it refuses, before any work is done."""
    if sm.kind != "surnames":
        raise InputError(f"this server holds a {sm.kind} model: send images to /api/classify", 404)
    if not names:
        raise InputError("give at least one name")
    if len(names) > MAX_NAMES:
        raise InputError(f"{len(names)} names in one request; at most {MAX_NAMES} are accepted", 413)
    for i, name in enumerate(names):
        where = "" if len(names) == 1 else f" (name {i + 1} of {len(names)})"
        if not isinstance(name, str):
            raise InputError(f"names must be strings, got {type(name).__name__} {name!r}{where}", 422)
        if not name.strip():
            raise InputError(f"empty name{where}: type a surname", 400, name=name)
        if len(name) > MAX_NAME_CHARS:
            raise InputError(f"the name is {len(name):,} characters long{where}; at most {MAX_NAME_CHARS} "
                             f"are accepted (the model reads only the first {sm.info['n_len']})", 422)
        alphabet = sm.info["alphabet"]
        bad = sorted({ch for ch in name.strip().lower() if ch not in alphabet})
        if bad:
            folded = fold_accents(name.strip()).lower()
            ok = folded if all(ch in alphabet for ch in folded) else None
            chars = ", ".join(show_char(c) for c in bad)
            msg = (f"{name.strip()!r} has {'characters' if len(bad) > 1 else 'the character'} {chars} outside "
                   f"the model's alphabet {describe(alphabet)}{where}{outside_hint(bad, fold=True)}")
            if ok:
                msg += f"; its folded form is {ok!r}"
            raise InputError(msg, 400, name=name, bad_characters=bad, suggestion=ok)
    return names


# -- images ------------------------------------------------------------------------------------
def image_to_row(data: bytes, shape=(3, 32, 32)) -> tuple[np.ndarray, bytes]:
    """Decode an uploaded image, resize it to the data's size and return (uint8 row (d,) in the data's
    channel-first order, the resized image as PNG bytes). CIFAR-10's images are whole photographs
    scaled down to 32x32, so the whole image is resized (no crop), with Pillow's antialiasing filter."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError("the uploaded file is empty", 400)
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"the image is {len(data) / 2**20:.1f} MB; at most {MAX_IMAGE_BYTES // 2**20} MB "
                         "are accepted", 413)
    try:
        with Image.open(_io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise InputError(f"the image is {w}x{h} pixels; at most {MAX_IMAGE_PIXELS:,} pixels are "
                                 "accepted", 413)
            c, H, W = shape
            small = im.convert("RGB").resize((W, H), Image.Resampling.LANCZOS)
    except UnidentifiedImageError:
        raise InputError("the file is not an image that Pillow can read (PNG, JPEG, GIF, BMP, WebP, ...)",
                         415) from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"the image could not be decoded: {e}", 422) from None
    png = _io.BytesIO()
    small.save(png, format="PNG")
    row = np.asarray(small, dtype=np.uint8).transpose(2, 0, 1).reshape(-1)  # (H, W, 3) -> 3 x H*W
    return row, png.getvalue()


def classify(sm: ServedModel, data: bytes) -> dict:
    """Class probabilities (scores for an SVM-loss model) of one uploaded image."""
    if sm.kind != "cifar10":
        raise InputError(f"this server holds a {sm.kind} model: send names to /api/predict", 404)
    row, png = image_to_row(data, tuple(sm.info["image_shape"]))
    std = Standardizer(scale=float(sm.extra["scale"]))
    std.mean_, std.std_ = sm.extra["mean"], sm.extra["std"]  # the training split's statistics
    X = std.transform(row[None, :], sm.model.dtype)
    scores = sm.model.scores(X)
    probs = sm.model.loss.probs(scores)  # one forward pass for both
    values = (probs if probs is not None else scores)[0].astype(np.float64)
    top = int(scores[0].argmax())
    return {"what": "probabilities" if probs is not None else "scores",
            "probabilities" if probs is not None else "scores": dict(zip(sm.classes, values.tolist())),
            "predicted": sm.classes[top], "value": float(values[top]),
            "input_png": "data:image/png;base64," + base64.b64encode(png).decode()}
