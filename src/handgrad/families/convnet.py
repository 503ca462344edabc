"""Assignment 3: the character-level ConvNet for surname languages (Ruggeri 2020)."""

from __future__ import annotations

import math

import numpy as np

from handgrad.datasets.names.grouped import leak_sentence
from handgrad.families import Family, register
from handgrad.references import cite
from handgrad.predict import predict_names
from handgrad.reproduction.runstate import RunState, read_json
from handgrad.reproduction.spec import GRADCHECK_BOUND, Experiment, Section, Target
from handgrad.reproduction.spec import acc as _acc
from handgrad.reproduction.verdicts import (
    NOT_AVAILABLE,
    NOT_REPRODUCED,
    QUICK,
    REFERENCE,
    REPRODUCED,
    fmt,
    row,
)

SECTIONS: tuple[Section, ...] = (
    Section("convnet-gradcheck", "convnet", "Gradient checks: ConvNet", cite("ruggeri2020-a3", "table 1"),
            "Ruggeri checked k1=5, n1=5, k2=5, n2=5 on a batch of 3; ours must stay below "
            f"{GRADCHECK_BOUND:g}."),
    Section("convnet-imbalance", "convnet", "Class imbalance: with and without compensation",
            f"{cite('ruggeri2020-a3', 'section 3')}; {cite('peer-ruggeri')}",
            "k1=5, n1=20, k2=3, n2=20, momentum; balanced validation accuracy (252 names, 14 per class), "
            "class distribution, confusion matrices and learning curves."),
    Section("convnet-final", "convnet", "Final ConvNet", cite("ruggeri2020-a3", "section 4 and table 3"),
            "k1=5, n1=100, k2=3, n2=100, 20,000 updates, best-validation checkpoint; per-class validation "
            "accuracy and predictions for new surnames."),
    Section("convnet-best", "convnet", "Best ConvNet (bonus)", cite("peer-ruggeri"), ""),
    Section("convnet-leakfree", "convnet", "Leak-free evaluation: the course split beside the grouped split",
            "handgrad; no published system reports a leak-free number",
            "The course's validation names are partly names the net trained on (the table below counts them "
            "per language), and its file repeats (name, language) pairs. The leak-free split (data.split = "
            "\"grouped\") de-duplicates the pairs and keeps every name string in one of train / validation / "
            "test, stratified by language (20% of each language's distinct names for validation and as many "
            "for test, 10 to 200). The final net and the predictor are trained on both splits; their settings "
            "were chosen on validation names only, and the leak-free test part is reported once. The "
            "predictor is four ConvNets with position-free (max-pooled) features and character noise, "
            "averaged with handgrad's character n-gram linear model (configs/convnet/predictor.toml); "
            "benchmarks/bench_surnames.py compares it with scikit-learn's n-gram baseline on the same split."),
    Section("convnet-timing", "convnet", "Efficiency variants of the convolution: timing",
            cite("ruggeri2020-a3", "table 2"),
            "k1=5, n1=10, k2=5, n2=10, batch 100, 5 epochs. The report's seconds are MATLAB on another "
            "machine and are shown for reference; the speed-ups over no optimisation are compared."),
)

_REPORT000_GC = (
    ({"param": "F1", "max_abs": 4.48e-10, "max_rel": 4.09e-07}, {"param": "F2", "max_abs": 4.38e-10, "max_rel": 1.46e-06},
     {"param": "W", "max_abs": 5.65e-10, "max_rel": 2.65e-06}),
)

PER_CLASS_000 = {
    "Arabic": 100.00, "Chinese": 92.86, "Czech": 35.71, "Dutch": 64.29, "English": 57.14, "French": 21.43,
    "German": 85.71, "Greek": 71.43, "Irish": 57.14, "Italian": 57.14, "Japanese": 78.57, "Korean": 57.14,
    "Polish": 50.00, "Portuguese": 14.29, "Russian": 78.57, "Scottish": 0.00, "Spanish": 28.57,
    "Vietnamese": 50.00,
}
#: Ruggeri 2020, table 3: the most probable class of each new surname, and its probability
PREDICTIONS_000 = {
    "ruggeri": ("Italian", 0.7985), "salmeri": ("Italian", 0.7321), "lee": ("Korean", 0.3934),
    "scofield": ("English", 0.7785), "fdfr": ("German", 0.4107), "gonzales": ("Spanish", 0.7893),
}
#: Ruggeri 2020, table 2: seconds for 5 epochs and speed-up, per implementation of the benchmark
TIMING_000 = {"mfmx": (176.715, 1.0), "a": (143.063, 1.24), "b": (30.873, 5.72), "ab": (25.501, 6.93)}
TIMING_LABEL = {"mfmx": "no optimisation", "a": "(a)", "b": "(b)", "ab": "(a)+(b)", "fast": "fast (im2col)"}


def _info(label: str, key: str) -> Target:
    """A number shown for reference: nothing published to compare it with."""
    return Target(label, key, None, "-", None, mode="info")


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("gradcheck-convnet", "convnet", "convnet-gradcheck", "k1=5, n1=5, k2=5, n2=5, batch 3",
               "convnet/small-balanced.toml", kind="gradcheck", cases=((3, 0.0, None),),
               gradcheck_published=_REPORT000_GC, gradcheck_source=cite("ruggeri2020-a3", "table 1"), figures=()),
    Experiment("small-unbalanced", "convnet", "convnet-imbalance", "n1=n2=20, no compensation",
               "convnet/small-unbalanced.toml",
               targets=(_acc("balanced validation accuracy (%), no compensation", 40.87,
                             cite("peer-ruggeri", "the course split"), 2.0, key="val_balanced_accuracy"),),
               figures=("class_distribution.png", "confusion_val.png", "learning_curves.png")),
    Experiment("small-balanced", "convnet", "convnet-imbalance", "n1=n2=20, balanced sampling each epoch",
               "convnet/small-balanced.toml",
               targets=(_acc("balanced validation accuracy (%), balanced sampling", 51.59,
                             cite("peer-ruggeri", "the course split"), 2.0, key="val_balanced_accuracy"),),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("final-convnet", "convnet", "convnet-final", "k1=5, n1=100, k2=3, n2=100", "convnet/final.toml",
               targets=(_acc("balanced validation accuracy (%)", 55.56, cite("ruggeri2020-a3", "section 4"), 2.0,
                             key="val_balanced_accuracy"),),
               extras=(("per_class", PER_CLASS_000), ("predictions", PREDICTIONS_000)),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("best-convnet", "convnet", "convnet-best", "best ConvNet", "convnet/best.toml",
               targets=(_acc("balanced validation accuracy (%)", 61.11,
                             cite("peer-ruggeri", "3 conv layers"), 2.0, key="val_balanced_accuracy",
                             mode="at_least"),),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("final-convnet-leakfree", "convnet", "convnet-leakfree", "final net (k1=5, n1=100, k2=3, n2=100), "
               "leak-free split", "convnet/final.toml", overrides=(("data.split", "grouped"),),
               targets=(_info("final net, leak-free balanced validation accuracy (%)", "val_balanced_accuracy"),
                        _info("final net, leak-free balanced test accuracy (%)", "test_balanced_accuracy")),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("ngram-linear", "convnet", "convnet-leakfree", "character n-gram linear model, leak-free split",
               "convnet/ngram-linear.toml",
               targets=(_info("n-gram linear model, leak-free balanced validation accuracy (%)", "val_balanced_accuracy"),
                        _info("n-gram linear model, leak-free balanced test accuracy (%)", "test_balanced_accuracy")),
               figures=("learning_curves.png",)),
    Experiment("predictor", "convnet", "convnet-leakfree", "the predictor (ensemble), leak-free split",
               "convnet/predictor.toml",
               targets=(_info("predictor, leak-free balanced validation accuracy (%)", "val_balanced_accuracy"),
                        _info("predictor, leak-free balanced test accuracy (%)", "test_balanced_accuracy")),
               extras=(("side_by_side", (("final net (final.toml)", "final-convnet", "final-convnet-leakfree"),
                                         ("predictor (predictor.toml)", "predictor-course", "predictor"),
                                         ("n-gram linear model (ngram-linear.toml)", None, "ngram-linear"))),),
               figures=()),
    Experiment("predictor-course", "convnet", "convnet-leakfree", "the predictor trained on the course split",
               "convnet/predictor.toml", overrides=(("data.split", "course"),),
               targets=(_info("predictor, course split: balanced validation accuracy (%)", "val_balanced_accuracy"),),
               figures=()),
    Experiment("timing", "convnet", "convnet-timing", "Ruggeri 2020's table 2 setting",
               "../benchmarks/bench_conv_variants.py",
               kind="timing",
               targets=tuple(Target(f"speed-up {TIMING_LABEL[k]}", f"speedup.{k}", v[1], cite("ruggeri2020-a3", "table 2"),
                                    0.5, mode="rel", scale=1.0, fmt=".2f") for k, v in TIMING_000.items()
                             if k != "mfmx")
               + tuple(Target(f"seconds {TIMING_LABEL[k]} (5 epochs)", f"total_s.{k}", v[0], cite("ruggeri2020-a3", "table 2"),
                              None, mode="info", scale=1.0, fmt=".1f") for k, v in TIMING_000.items()),
               extras=(("timing", TIMING_000), ("argv", ("--repeats", "3", "--budget", "60")),
                       # quick: every update counted, per-update time measured for about a second, extrapolated
                       ("argv_quick", ("--repeats", "1", "--min-updates", "10", "--budget", "1"))), figures=()),
)


#: per-class accuracy on 14 validation names per class: one name is 7.14 points
PER_CLASS_TOL = 200 / 14 + 0.01  # + 0.01: the published percentages are rounded to 2 decimals


def per_class_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """Per-class validation accuracy beside Ruggeri 2020's table 3."""
    pub = rs.exp.extra("per_class")
    ours = (rs.metrics or {}).get("val_per_class_accuracy")
    if not pub or not ours:
        return None, []
    rows, n_ok = [], 0
    for cls, p in pub.items():
        o = ours.get(cls)
        o = None if o is None or (isinstance(o, float) and math.isnan(o)) else 100 * o
        diff = None if o is None else o - p
        ok = diff is not None and abs(diff) <= PER_CLASS_TOL
        n_ok += ok
        verdict = NOT_AVAILABLE if o is None else QUICK if rs.quick else REPRODUCED if ok else NOT_REPRODUCED
        rows.append([cls, fmt(o), fmt(p), "-" if diff is None else f"{round(diff, 2) + 0.0:+.2f}", verdict])
    comp = [row(rs.exp, "classes within 2 names (14.3 points) of Ruggeri 2020", f"{n_ok} of {len(pub)}", "18 of 18",
                "-", "-", REFERENCE, cite("ruggeri2020-a3", "table 3"))]
    return ({"caption": "Per-class validation accuracy (14 names per class): ours beside " + cite("ruggeri2020-a3", "table 3") + " "
                        f"(tolerance ± {PER_CLASS_TOL:.1f} points, two names)",
             "columns": ["class", "ours %", "published %", "difference", "verdict"], "rows": rows}, comp)


def predictions_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """The most probable language of Ruggeri 2020's new surnames, from the saved model."""
    pub = rs.exp.extra("predictions")
    if not pub or rs.state != "done":
        return None, []
    names = list(pub)
    try:
        res = predict_names(rs.folder, names)
        classes = list(res[0]["probabilities"])
        probs = [[r["probabilities"][c] for c in classes] for r in res]
    except Exception as e:  # noqa: BLE001 - the report goes on without this table
        return {"caption": f"Predictions for new surnames: not available ({type(e).__name__}: {e})",
                "columns": [], "rows": []}, []
    rows, comp = [], []
    for name, p in zip(names, probs):
        top = max(range(len(p)), key=lambda k: p[k])
        pub_cls, pub_p = pub[name]
        same = classes[top] == pub_cls
        verdict = QUICK if rs.quick else REPRODUCED if same else NOT_REPRODUCED
        p_pub_cls = p[classes.index(pub_cls)] if pub_cls in classes else None
        rows.append([name, f"{classes[top]} ({p[top]:.2f})", f"{pub_cls} ({pub_p:.2f})", fmt(p_pub_cls), verdict])
        comp.append(row(rs.exp, f"most probable language of '{name}'", f"{classes[top]} {p[top]:.2f}",
                        f"{pub_cls} {pub_p:.2f}", "same class" if same else "other class", "same class", verdict,
                        cite("ruggeri2020-a3", "table 3")))
    return ({"caption": "Predictions for new surnames: most probable language (probability), ours and " + cite("ruggeri2020-a3", "table 3"),
             "columns": ["name", "ours", "published", "ours: p(published class)", "verdict"], "rows": rows}, comp)


def _sibling_metrics(rs: RunState, exp_id: str | None) -> dict:
    """metrics.json of another experiment of the family (its folder beside this one), or {}."""
    return (read_json(rs.folder.parent / exp_id / "metrics.json") or {}) if exp_id else {}


def leakfree_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """Balanced accuracy on the course split beside the leak-free split, for the final net, the
    predictor and the n-gram linear model (each from its own experiment's folder)."""
    pairs = rs.exp.extra("side_by_side")
    if not pairs or rs.state != "done":
        return None, []
    pct = lambda m, k: fmt(100 * m[k]) if isinstance(m.get(k), (int, float)) else "-"  # noqa: E731
    rows = []
    for label, course_id, free_id in pairs:
        course, free = _sibling_metrics(rs, course_id), _sibling_metrics(rs, free_id)
        rows.append([label, pct(course, "val_balanced_accuracy"), pct(free, "val_balanced_accuracy"),
                     pct(free, "test_balanced_accuracy")])
    info = rs.metrics.get("split_info") or {}
    sizes = (f"{sum(info['val_per_class'])} validation and {sum(info['test_per_class'])} test pairs, "
             f"{min(info['test_per_class'])}-{max(info['test_per_class'])} test names per language; "
             f"{info['duplicates']} duplicate lines of {info['n_lines']} removed") if "test_per_class" in info else ""
    cv = info.get("course_val_per_class") or []
    course = (f"{sum(cv)} validation names, {min(cv)}-{max(cv)} per language, "
              if cv and min(cv) != max(cv) else f"{sum(cv)} validation names, {cv[0]} per language, " if cv else "")
    seen = "partly seen in training" if sum(info.get("course_leak_any_language") or []) else "none seen in training"
    table = {"caption": f"Balanced accuracy (%): the course split ({course}{seen}) beside the leak-free split "
                        f"({sizes})",
             "columns": ["model", "course split, validation", "leak-free, validation", "leak-free, test"],
             "rows": rows}
    return table, []


def leak_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """The course split's leak, per language: its validation names that also occur among its training
    names (with any language, and with the same one), from the split facts the run records."""
    if not rs.exp.extra("side_by_side") or rs.state != "done":
        return None, []
    info = rs.metrics.get("split_info") or {}
    classes = list((rs.metrics.get("val_per_class_accuracy") or {}).keys())
    any_lang, same = info.get("course_leak_any_language"), info.get("course_leak_same_language")
    if not (classes and any_lang and same):
        return None, []
    cv = info.get("course_val_per_class") or [0] * len(classes)
    n_val = sum(cv)
    sentence = leak_sentence(np.array([any_lang, same]), classes, n_val=n_val)
    table = {"caption": sentence + ". Per language:",
             "columns": ["language", "validation names", "also among the training names", "with the same language"],
             "rows": [[c, str(v), str(a), str(b)] for c, v, a, b in zip(classes, cv, any_lang, same)]
             + [["total", str(n_val), str(sum(any_lang)), str(sum(same))]]}
    return table, [row(rs.exp, "the course split's leak: validation names also among the training names",
                       f"{sum(any_lang)} of {n_val} ({sum(same)} with the same language)", "-", "-", "-", REFERENCE,
                       "handgrad")]


def timing_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """Seconds and speed-up per implementation of the convolution, beside Ruggeri 2020's table 2."""
    m = rs.metrics
    if rs.exp.kind != "timing" or not m or "rows" not in m:
        return None, []
    pub = rs.exp.extra("timing", {})
    rows = []
    for r in m["rows"]:
        p = pub.get(r["impl"])
        rows.append([TIMING_LABEL.get(r["impl"]) or m.get("labels", {}).get(r["impl"], r["impl"]),
                     fmt(r["precompute_s"]), fmt(r["ms_per_update"], ".3f"),
                     fmt(r["total_s"]) + ("*" if r.get("extrapolated") else ""), f"{r['speedup_total']:.2f}x",
                     fmt(p[0], ".1f") if p else "-", f"{p[1]:.2f}x" if p else "-"])
    extrapolated = any(r.get("extrapolated") for r in m["rows"])
    note = f"{m['updates']} updates" + ("; * extrapolated from the updates measured" if extrapolated else "")
    return ({"caption": f"Training time per implementation ({note}); the published column is MATLAB, 5 epochs",
             "columns": ["optimisation", "precompute s", "ms / update", "total s", "speed-up", "published s",
                         "published speed-up"], "rows": rows}, [])


FAMILY = register(Family("convnet", "Character-level ConvNet for surname languages (assignment 3)", SECTIONS,
                         EXPERIMENTS, order=3, tables=(timing_table, per_class_table, predictions_table,
                                                        leakfree_table, leak_table)))
