"""Reports from run folders: ours beside the published numbers, as HTML and Markdown.

``render(OUT/<family>)`` reads ``OUT/<family>/runs/<id>/`` (written by ``handgrad reproduce``) and the
registry of :mod:`handgrad.reproduce`, and writes ``OUT/<family>/index.html`` (self-contained:
figures embedded as base64 PNG, opens from disk) and ``report.md`` (the same content, figures copied
to ``OUT/<family>/figures/`` and linked). It never trains: a missing run is listed as not available.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

from handgrad import io
from handgrad.errors import HandgradError
from handgrad.reproduce import (FAMILIES, GRADCHECK_BOUND, Experiment, Target, _TIMING_LABEL, environment,
                                experiments, sections)

#: verdicts, in the order the summary lists them
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
PASSED, FAILED = "check passed", "check failed"
QUICK, REFERENCE, NOT_AVAILABLE = "quick run, not comparable", "for reference", "not available"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, PASSED, FAILED, QUICK, REFERENCE, NOT_AVAILABLE)
VERDICT_CLASS = {REPRODUCED: "ok", PASSED: "ok", NOT_REPRODUCED: "bad", FAILED: "bad", QUICK: "quick",
                 REFERENCE: "ref", NOT_AVAILABLE: "na"}

#: per-class accuracy on 14 validation names per class: one name is 7.14 points
PER_CLASS_TOL = 200 / 14 + 0.01  # + 0.01: the published percentages are rounded to 2 decimals

TITLES = {"linear": "One-layer linear classifiers on CIFAR-10 (assignment 1)",
          "mlp": "Two-layer networks with cyclical learning rates on CIFAR-10 (assignment 2)",
          "convnet": "Character-level ConvNet for surname languages (assignment 3)"}

FIGURE_NAMES = {"learning_curves.png": "learning curves", "learning_rate.png": "learning rate",
                "templates.png": "class templates (rows of W)",
                "probability_histograms.png": "probability of the ground-truth class (test data)",
                "confusion_val.png": "confusion matrix (validation)", "class_distribution.png": "class distribution",
                "val_accuracy_vs_lambda.png": "validation accuracy against lambda"}


# --------------------------------------------------------------------------------------------
# Reading run folders
# --------------------------------------------------------------------------------------------


def _read(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except json.JSONDecodeError:
        return None


class RunState:
    """What a run folder holds for one experiment of the registry."""

    def __init__(self, exp: Experiment, fam_dir: Path, status: dict | None):
        self.exp = exp
        self.folder = fam_dir / "runs" / exp.id
        self.metrics = _read(self.folder / "metrics.json")
        self.meta = _read(self.folder / "reproduce.json") or {}
        self.config = _read(self.folder / "config.json")
        status = status or {}
        if self.metrics is not None:
            self.state = "done"
        elif self.meta.get("error"):
            self.state = "failed"
        else:
            self.state = NOT_AVAILABLE
        self.reason = (self.meta.get("error") or status.get("reason")
                       or ("no run folder" if not self.folder.exists() else "the run did not finish"))
        self.quick = bool(self.meta.get("quick"))
        self.skipped = status.get("skipped")

    def value(self, key: str):
        node = self.metrics
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------


def _f(x, fmt=".2f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def judge(t: Target, ours: float | None, quick: bool) -> tuple[str, str]:
    """(difference text, verdict) of ours (already scaled) against the target."""
    if ours is None:
        return "-", NOT_AVAILABLE
    pub = t.published
    if pub is None:
        return "-", REFERENCE
    if t.mode == "log":
        diff = f"x{ours / pub:.3g}" if pub and ours > 0 else "-"
        ok = ours > 0 and pub > 0 and abs(math.log10(ours) - math.log10(pub)) <= t.tol
    elif t.mode == "rel":
        diff = f"{100 * (ours / pub - 1):+.0f}%"
        ok = abs(ours / pub - 1) <= t.tol
    else:
        diff = f"{float(format(ours - pub, t.fmt)) + 0.0:+{t.fmt}}"  # + 0.0: no "-0.00"
        ok = ours >= pub - t.tol if t.mode == "at_least" else abs(ours - pub) <= (t.tol or 0)
    if t.mode == "info" or t.tol is None:
        return diff, REFERENCE
    if quick:
        return diff, QUICK
    return diff, REPRODUCED if ok else NOT_REPRODUCED


def _row(exp: Experiment, label: str, ours: str, published: str, diff: str, tol: str, verdict: str,
         source: str, note: str = "") -> dict:
    return {"experiment": exp.id, "quantity": label, "ours": ours, "published": published, "diff": diff,
            "tolerance": tol, "verdict": verdict, "css": VERDICT_CLASS[verdict], "source": source, "note": note}


def target_rows(rs: RunState) -> list[dict]:
    exp, rows = rs.exp, []
    for t in exp.targets:
        raw = rs.value(t.key) if rs.state == "done" else None
        ours = None if raw is None else raw * t.scale
        diff, verdict = judge(t, ours, rs.quick)
        ours_s = _f(ours, t.fmt)
        if ours is not None and t.key.endswith("_mean"):
            std = rs.value(t.key[:-5] + "_std")
            n = rs.metrics.get("repeat")
            ours_s += f" ± {_f(None if std is None else std * t.scale, t.fmt)} (n={n})"
        pub_s = _f(t.published, t.fmt) + (f" ± {_f(t.published_std, t.fmt)}" if t.published_std is not None else "")
        note = t.note if rs.state == "done" else rs.reason
        rows.append(_row(exp, t.label, ours_s, pub_s, diff, t.tolerance_text(), verdict, t.source, note))
    return rows


def gradcheck_tables(rs: RunState) -> tuple[list[dict], dict | None]:
    """(comparison rows, detail table) of a gradient-check experiment."""
    exp = rs.exp
    pub_max = max((r["max_rel"] for case in exp.gradcheck_published for r in case), default=None)
    pub_text = _f(pub_max, ".2e") if pub_max is not None else f"< {GRADCHECK_BOUND:g}" if "bce" in exp.id else "-"
    source = "report 004, tables 1-2" if exp.family == "linear" and exp.gradcheck_published else \
        "report 000, table 1" if exp.gradcheck_published else "report 001" if "bce" in exp.id else \
        "report 002, section 2" if exp.family == "mlp" else "-"
    if rs.state != "done":
        return [_row(exp, f"{exp.title}: largest relative error", "-", pub_text, "-", f"< {GRADCHECK_BOUND:g}",
                     NOT_AVAILABLE, source, rs.reason)], None
    m = rs.metrics
    bound = m.get("bound", GRADCHECK_BOUND)
    verdict = PASSED if m["max_rel"] <= bound else FAILED
    comp = [_row(exp, f"{exp.title}: largest relative error", _f(m["max_rel"], ".2e"), pub_text, "-",
                 f"< {bound:g}", verdict, source, "quick: 20 dimensions, at most 20 examples" if rs.quick else "")]
    rows = []
    # gradcheck_cases returns one case per (batch, lambda); reproduce asks one lambda per case, in order
    for i, case in enumerate(m["cases"]):
        pub_case = exp.gradcheck_published[i] if i < len(exp.gradcheck_published) else ()
        for j, r in enumerate(case["rows"]):
            p = pub_case[j] if j < len(pub_case) else {}
            rows.append({"case": i + 1, "batch": case["batch_size"], "lambda": f"{case['lambda']:g}",
                         "dims": case["n_dims"], "param": r["param"] + (f" ({p['param']})" if p else ""),
                         "ours_abs": _f(r["max_abs"], ".2e"), "ours_rel": _f(r["max_rel"], ".2e"),
                         "pub_abs": _f(p.get("max_abs"), ".2e"), "pub_rel": _f(p.get("max_rel"), ".2e"),
                         "ok": "yes" if r["max_rel"] <= bound else "NO"})
    table = {"caption": f"{exp.title} ({m['cases'][0]['method']} differences, h={m['cases'][0]['h']:g}, float64)",
             "columns": ["case", "batch", "lambda", "dims", "parameter", "ours max abs", "ours max rel",
                         "published max abs", "published max rel", f"rel < {bound:g}"],
             "rows": [[r["case"], r["batch"], r["lambda"], r["dims"], r["param"], r["ours_abs"], r["ours_rel"],
                       r["pub_abs"], r["pub_rel"], r["ok"]] for r in rows]}
    return comp, table


def search_table(rs: RunState) -> dict | None:
    res = _read(rs.folder / "results.json")
    if not res:
        return None
    top = rs.exp.extra("search_top", ())
    keys = sorted({k for r in res for k in r["overrides"]})
    rows = []
    for i in range(3):
        r = res[i] if i < len(res) else None
        p = top[i] if i < len(top) else None
        ours = ([", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in r["overrides"].items()),
                 _f(100 * r["metrics"]["train_accuracy"]), _f(100 * r["metrics"]["val_accuracy"]),
                 _f(None if r["metrics"].get("test_accuracy") is None else 100 * r["metrics"]["test_accuracy"])]
                if r else ["-"] * 4)
        pub = [f"lambda={p[0]:.3g}", _f(p[1]), _f(p[2])] if p else ["-"] * 3
        rows.append([i + 1, *ours, *pub])
    return {"caption": f"{rs.exp.title}: the three best of {len(res)} trials (by validation accuracy); "
                       f"varied: {', '.join(keys)}",
            "columns": ["rank", "ours: setting", "train %", "val %", "test %", "published: setting", "train %",
                        "val %"],
            "rows": rows}


def repeat_table(rs: RunState) -> dict | None:
    m = rs.metrics
    if not m or "test_accuracy_runs" not in m:
        return None
    rows = []
    for i, seed in enumerate(m.get("seeds", range(len(m["test_accuracy_runs"])))):
        rows.append([seed] + [_f(100 * m[f"{s}_accuracy_runs"][i]) if f"{s}_accuracy_runs" in m else "-"
                              for s in ("train", "val", "test")])
    rows.append(["mean ± std"] + [f"{_f(100 * m[f'{s}_accuracy_mean'])} ± {_f(100 * m[f'{s}_accuracy_std'])}"
                                  if f"{s}_accuracy_mean" in m else "-" for s in ("train", "val", "test")])
    return {"caption": f"{rs.exp.title}: every seed", "columns": ["seed", "train %", "val %", "test %"],
            "rows": rows}


def per_class_table(rs: RunState) -> tuple[dict | None, list[dict]]:
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
        rows.append([cls, _f(o), _f(p), "-" if diff is None else f"{round(diff, 2) + 0.0:+.2f}", verdict])
    comp = [_row(rs.exp, "classes within 2 names (14.3 points) of report 000", f"{n_ok} of {len(pub)}", "18 of 18",
                 "-", "-", REFERENCE, "report 000, table 3")]
    return ({"caption": "Per-class validation accuracy (14 names per class): ours beside report 000 table 3 "
                        f"(tolerance ± {PER_CLASS_TOL:.1f} points, two names)",
             "columns": ["class", "ours %", "published %", "difference", "verdict"], "rows": rows}, comp)


def predict_names(folder: Path, names: list[str]) -> tuple[list[str], list[list[float]]]:
    """(class names, probabilities per name) from a saved ConvNet run folder (inference only)."""
    try:  # the predict command's own function, when it exists
        from handgrad import predict as predict_mod  # type: ignore[attr-defined]

        if hasattr(predict_mod, "predict_names"):
            res = predict_mod.predict_names(folder, names)
            if isinstance(res, list) and res and isinstance(res[0], dict):  # [{name, probabilities, ...}]
                classes = list(res[0]["probabilities"])
                return classes, [[r["probabilities"][c] for c in classes] for r in res]
            return res
    except ImportError:
        pass
    import numpy as np

    from handgrad.data.surnames import Encoder

    model, _extra, meta = io.load_model(folder)
    enc_info = meta.get("encoder") or {k: meta[k] for k in ("alphabet", "n_len") if k in meta}
    if not enc_info:
        raise HandgradError(f"{folder}/model.json has no alphabet to encode names with")
    enc = Encoder.from_dict(enc_info)
    X = enc.encode(names, dtype=np.float32)
    probs = model.predict_proba(X)
    return list(meta["classes"]), probs.tolist()


def predictions_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    pub = rs.exp.extra("predictions")
    if not pub or rs.state != "done":
        return None, []
    names = list(pub)
    try:
        classes, probs = predict_names(rs.folder, names)
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
        rows.append([name, f"{classes[top]} ({p[top]:.2f})", f"{pub_cls} ({pub_p:.2f})", _f(p_pub_cls),
                     verdict])
        comp.append(_row(rs.exp, f"most probable language of '{name}'", f"{classes[top]} {p[top]:.2f}",
                         f"{pub_cls} {pub_p:.2f}", "same class" if same else "other class", "same class", verdict,
                         "report 000, table 3"))
    return ({"caption": "Predictions for new surnames: most probable language (probability), ours and report 000",
             "columns": ["name", "ours", "published", "ours: p(published class)", "verdict"], "rows": rows}, comp)


def timing_table(rs: RunState) -> dict | None:
    m = rs.metrics
    if not m or "rows" not in m:
        return None
    pub = rs.exp.extra("timing", {})
    rows = []
    for r in m["rows"]:
        p = pub.get(r["impl"])
        rows.append([_TIMING_LABEL.get(r["impl"]) or m.get("labels", {}).get(r["impl"], r["impl"]), _f(r["precompute_s"]), _f(r["ms_per_update"], ".3f"),
                     _f(r["total_s"]) + ("*" if r.get("extrapolated") else ""), f"{r['speedup_total']:.2f}x",
                     _f(p[0], ".1f") if p else "-", f"{p[1]:.2f}x" if p else "-"])
    note = (f"{m['updates']} updates; * extrapolated from the updates measured" if any(r.get("extrapolated")
                                                                                      for r in m["rows"])
            else f"{m['updates']} updates")
    return {"caption": f"Training time per implementation ({note}); the published column is MATLAB, 5 epochs",
            "columns": ["optimisation", "precompute s", "ms / update", "total s", "speed-up", "published s",
                        "published speed-up"], "rows": rows}


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def find_figure(folder: Path, name: str) -> Path | None:
    for p in (folder / "figures" / name, folder / name, folder / "run-00" / "figures" / name):
        if p.is_file():
            return p
    return None


def collect_figures(rs: RunState, fam_dir: Path) -> list[dict]:
    out = []
    if rs.state != "done":
        return out
    for name in rs.exp.figures:
        src = find_figure(rs.folder, name)
        if src is None:
            continue
        data = src.read_bytes()
        rel = f"figures/{rs.exp.id}--{name}"
        dest = fam_dir / rel
        if not dest.is_file() or dest.read_bytes() != data:
            io.atomic_write_bytes(dest, data)
        out.append({"path": rel, "data_uri": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
                    "caption": f"{rs.exp.id}: {rs.exp.title}: {FIGURE_NAMES.get(name, name)}"})
    return out


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


def _md5(path: Path, cache: dict) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in cache:
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        cache[key] = h.hexdigest()
    return cache[key]


def data_files(configs: list[dict]) -> list[Path]:
    """The data files the runs' configs read, as far as they can be located without downloading."""
    from handgrad.data import sources

    files: list[Path] = []
    cifar_splits = {c["data"]["split"] for c in configs if c and c["data"]["dataset"] == "cifar10"}
    if cifar_splits:
        try:
            root = sources.cifar10_dir(download=False)
        except HandgradError:
            root = None
        if root is not None and root.is_file():
            files.append(root)
        elif root is not None:
            if not (root / "data_batch_1").is_file() and (root / sources.CIFAR10_FOLDER).is_dir():
                root = root / sources.CIFAR10_FOLDER
            names = {"data_batch_1", "data_batch_2", "test_batch"}
            if "all" in cifar_splits:
                names |= {f"data_batch_{i}" for i in range(3, 6)}
            files += [root / n for n in sorted(names) if (root / n).is_file()]
    if any(c and c["data"]["dataset"] == "surnames" for c in configs):
        folder = None
        try:
            if hasattr(sources, "surnames_dir"):
                folder = sources.surnames_dir(download=False)
            elif sources.data_home() is not None:
                folder = sources.data_home() / "surnames"
        except (HandgradError, TypeError):
            folder = sources.data_home() / "surnames" if sources.data_home() else None
        if folder is not None and Path(folder).is_dir():
            files += sorted(p for p in Path(folder).iterdir() if p.is_file())
    return files


def checksums(files: list[Path], cache_path: Path) -> list[dict]:
    """md5 of each file, cached by (path, size, mtime) in ``cache_path``."""
    cache = _read(cache_path) or {}
    before = dict(cache)
    out = [{"file": str(p), "bytes": p.stat().st_size, "md5": _md5(p, cache)} for p in files]
    if cache != before:
        io.write_json(cache_path, cache)
    return out


def _seeds(rs: RunState):
    m, c = rs.metrics or {}, rs.config or {}
    if "seeds" in m:
        return ", ".join(str(s) for s in m["seeds"])
    if rs.exp.kind == "search" and c:
        return f"{c.get('seed')} (search seed {c.get('search', {}).get('seed')})"
    seed = c.get("seed", m.get("seed"))
    return "-" if seed is None else str(seed)


def _duration(s) -> str:
    if s is None:
        return "-"
    s = float(s)
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def build_context(fam_dir: Path, family: str, manifest: dict) -> dict:
    status = manifest.get("status", {})
    states = {e.id: RunState(e, fam_dir, status.get(e.id)) for e in experiments(family)}
    quick = bool(manifest.get("quick")) or any(rs.quick for rs in states.values())
    secs = []
    for sec in sections(family):
        exps = [e for e in experiments(family) if e.section == sec.id]
        comp, tables, figures = [], [], []
        for e in exps:
            rs = states[e.id]
            if e.kind == "gradcheck":
                c, t = gradcheck_tables(rs)
                comp += c
                tables += [t] if t else []
            else:
                comp += target_rows(rs)
            if rs.state == "done":
                if e.kind == "search":
                    tables += [t for t in [search_table(rs)] if t]
                if e.kind == "repeat":
                    tables += [t for t in [repeat_table(rs)] if t]
                if e.kind == "timing":
                    tables += [t for t in [timing_table(rs)] if t]
                t, c = per_class_table(rs)
                tables += [t] if t else []
                comp += c
                t, c = predictions_table(rs)
                tables += [t] if t else []
                comp += c
            figures += collect_figures(rs, fam_dir)
        missing = [{"id": e.id, "config": e.config, "reason": states[e.id].reason} for e in exps
                   if states[e.id].state != "done"]
        secs.append({"id": sec.id, "title": sec.title, "source": sec.source, "text": sec.text,
                     "comparisons": comp, "tables": tables, "figures": figures, "missing": missing,
                     "experiments": [{"id": e.id, "title": e.title, "state": states[e.id].state} for e in exps]})
    counts = {v: 0 for v in VERDICTS}
    for s in secs:
        for r in s["comparisons"]:
            counts[r["verdict"]] += 1
    all_rows = [r for s in secs for r in s["comparisons"]]
    # manifest
    configs = [rs.config for rs in states.values() if rs.state == "done"]
    try:
        data = checksums(data_files(configs), fam_dir.parent / ".manifest-cache.json")
    except OSError as e:
        data = [{"file": f"(could not read the data files: {e})", "bytes": 0, "md5": "-"}]
    runs = []
    total_wall = 0.0
    for e in experiments(family):
        rs = states[e.id]
        wall = rs.meta.get("wall_seconds")
        total_wall += wall or 0.0
        runs.append({"id": e.id, "kind": e.kind + (f" x{rs.meta.get('repeat')}" if e.kind == "repeat" else ""),
                     "config": e.config, "state": rs.state if rs.state != "done" else
                     ("done (quick)" if rs.quick else "done"), "seeds": _seeds(rs),
                     "train_seconds": _duration((rs.metrics or {}).get("seconds")), "wall": _duration(wall),
                     "finished": rs.meta.get("finished", "-"), "commands": rs.meta.get("commands")
                     or (status.get(e.id) or {}).get("commands") or [],
                     "reason": rs.reason if rs.state != "done" else ""})
    env = manifest.get("environment") or environment()
    return {"family": family, "title": TITLES[family], "quick": quick,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sections": secs, "counts": [{"verdict": v, "n": counts[v], "css": VERDICT_CLASS[v]}
                                         for v in VERDICTS if counts[v]],
            "not_reproduced": [r for r in all_rows if r["verdict"] in (NOT_REPRODUCED, FAILED)],
            "reproduced": [r for r in all_rows if r["verdict"] in (REPRODUCED, PASSED)],
            "manifest": {"command": manifest.get("command", "-"), "cwd": manifest.get("cwd", "-"),
                         "finished": manifest.get("finished", "-"), "env": env,
                         "data_env": manifest.get("data_env"), "data": data, "runs": runs,
                         "blas_threads": manifest.get("blas_threads") or "library default",
                         "total_wall": _duration(total_wall)},
            "per_class_tol": PER_CLASS_TOL, "bound": GRADCHECK_BOUND}


def _jinja():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("handgrad", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def _md_cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def render(fam_dir: str | os.PathLike) -> Path:
    """Write index.html and report.md for OUT/<family> from its run folders; returns index.html's path."""
    fam_dir = Path(fam_dir)
    if not fam_dir.is_dir():
        raise HandgradError(f"{fam_dir} is not a folder (expected OUT/<family> written by handgrad reproduce)")
    manifest = _read(fam_dir / "manifest.json") or {}
    family = manifest.get("family") or fam_dir.name
    if family not in FAMILIES:
        raise HandgradError(f"{fam_dir}: cannot tell the experiment family (no manifest.json, and the folder is "
                            f"not named one of {', '.join(FAMILIES)})")
    if not (fam_dir / "runs").is_dir() and not manifest:
        raise HandgradError(f"{fam_dir} holds no runs/ folder: run `handgrad reproduce {family}` first")
    ctx = build_context(fam_dir, family, manifest)
    env = _jinja()
    env.filters["md"] = _md_cell
    html = env.get_template("report.html.j2").render(**ctx)
    md = env.get_template("report.md.j2").render(**ctx)
    io.atomic_write_text(fam_dir / "report.md", md)
    return io.atomic_write_text(fam_dir / "index.html", html)
