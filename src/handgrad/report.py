"""Reports from run folders: ours beside the published numbers, as HTML and Markdown.

``render(OUT/<family>)`` reads ``OUT/<family>/runs/<id>/`` (written by ``handgrad reproduce``) and the
family's declarations (:mod:`handgrad.families`), and writes ``OUT/<family>/index.html``
(self-contained: figures embedded as base64 PNG, opens from disk) and ``report.md`` (the same content,
figures copied to ``OUT/<family>/figures/`` and linked). It never trains: a missing run is listed as
not available. The rows and tables come from :mod:`handgrad.reproduction.tables` and the family's own
table functions; the manifest's parts from :mod:`handgrad.reproduction.manifest`.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone
from pathlib import Path

from handgrad import families, io, readers
from handgrad.config import read_run_config
from handgrad.errors import HandgradError
from handgrad.references import cited_in
from handgrad.reproduction import manifest as mf
from handgrad.reproduction.runstate import RunState, read_json
from handgrad.reproduction.tables import KIND_TABLES, gradcheck_tables, target_rows
from handgrad.reproduction.verdicts import (
    FAILED,
    NOT_REPRODUCED,
    PASSED,
    REPRODUCED,
    VERDICT_CLASS,
    VERDICTS,
)

FIGURE_NAMES = {"learning_curves.png": "learning curves", "learning_rate.png": "learning rate",
                "templates.png": "class templates (rows of W)",
                "probability_histograms.png": "probability of the ground-truth class (test data)",
                "confusion_val.png": "confusion matrix (validation)", "class_distribution.png": "class distribution",
                "val_accuracy_vs_lambda.png": "validation accuracy against lambda"}


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


def section_context(fam: families.Family, sec, states: dict[str, RunState], fam_dir: Path) -> dict:
    """One section: its comparison rows, tables, figures and the experiments not available."""
    exps = fam.experiments_in(sec.id)
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
            if e.kind in KIND_TABLES:
                tables += [t for t in [KIND_TABLES[e.kind](rs)] if t]
            for table_fn in fam.tables:
                t, c = table_fn(rs)
                tables += [t] if t else []
                comp += c
        figures += collect_figures(rs, fam_dir)
    missing = [{"id": e.id, "config": e.config, "reason": states[e.id].reason} for e in exps
               if states[e.id].state != "done"]
    return {"id": sec.id, "title": sec.title, "source": sec.source, "text": sec.text,
            "comparisons": comp, "tables": tables, "figures": figures, "missing": missing,
            "experiments": [{"id": e.id, "title": e.title, "state": states[e.id].state} for e in exps]}


def manifest_context(fam: families.Family, states: dict[str, RunState], fam_dir: Path, manifest: dict) -> dict:
    status = manifest.get("status", {})
    configs = [rs.config for rs in states.values() if rs.state == "done"]
    try:
        data = mf.checksums(mf.data_files(configs), fam_dir.parent / ".manifest-cache.json")
    except OSError as e:
        data = [{"file": f"(could not read the data files: {e})", "bytes": 0, "md5": "-"}]
    runs = []
    total_wall = 0.0
    for e in fam.experiments:
        rs = states[e.id]
        wall = rs.meta.get("wall_seconds")
        total_wall += wall or 0.0
        runs.append({"id": e.id, "kind": e.kind + (f" x{rs.meta.get('repeat')}" if e.kind == "repeat" else ""),
                     "config": e.config, "state": rs.state if rs.state != "done" else
                     ("done (quick)" if rs.quick else "done"), "seeds": mf.seeds(rs),
                     "train_seconds": mf.duration((rs.metrics or {}).get("seconds")), "wall": mf.duration(wall),
                     "finished": rs.meta.get("finished", "-"), "commands": rs.meta.get("commands")
                     or (status.get(e.id) or {}).get("commands") or [],
                     "reason": rs.reason if rs.state != "done" else ""})
    return {"command": manifest.get("command", "-"), "cwd": manifest.get("cwd", "-"),
            "finished": manifest.get("finished", "-"), "env": manifest.get("environment") or mf.environment(),
            "data_env": manifest.get("data_env"), "data": data, "runs": runs,
            "blas_threads": manifest.get("blas_threads") or "library default",
            "workers": (manifest.get("workers") or {}).get("description") or "in one process",
            "total_wall": mf.duration(total_wall)}


def build_context(fam_dir: Path, fam: families.Family, manifest: dict) -> dict:
    status = manifest.get("status", {})
    states = {e.id: RunState(e, fam_dir, status.get(e.id)) for e in fam.experiments}
    quick = bool(manifest.get("quick")) or any(rs.quick for rs in states.values())
    secs = [section_context(fam, sec, states, fam_dir) for sec in fam.sections]
    counts = {v: 0 for v in VERDICTS}
    for s in secs:
        for r in s["comparisons"]:
            counts[r["verdict"]] += 1
    all_rows = [r for s in secs for r in s["comparisons"]]
    return {"family": fam.name, "title": fam.title, "quick": quick,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sections": secs, "counts": [{"verdict": v, "n": counts[v], "css": VERDICT_CLASS[v]}
                                         for v in VERDICTS if counts[v]],
            "not_reproduced": [r for r in all_rows if r["verdict"] in (NOT_REPRODUCED, FAILED)],
            "reproduced": [r for r in all_rows if r["verdict"] in (REPRODUCED, PASSED)],
            "references": cited_in([sec.source for sec in fam.sections] + [r["source"] for r in all_rows]),
            "manifest": manifest_context(fam, states, fam_dir, manifest)}


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
        raise HandgradError(f"{fam_dir} does not exist: give a run folder written by handgrad train, or "
                            "OUT/<family> written by handgrad reproduce (e.g. `handgrad reproduce linear --quick "
                            "--out reports` first)")
    manifest = read_json(fam_dir / "manifest.json", readers.read_manifest) or {}
    name = manifest.get("family") or fam_dir.name
    if name not in families.names():
        raise HandgradError(f"{fam_dir}: cannot tell the experiment family (no manifest.json, and the folder is "
                            f"not named one of {', '.join(families.names())})")
    if not (fam_dir / "runs").is_dir() and not manifest:
        raise HandgradError(f"{fam_dir} holds no runs/ folder: run `handgrad reproduce {name}` first")
    ctx = build_context(fam_dir, families.get(name), manifest)
    env = _jinja()
    env.filters["md"] = _md_cell
    html = env.get_template("report.html.j2").render(**ctx)
    md = env.get_template("report.md.j2").render(**ctx)
    io.atomic_write_text(fam_dir / "report.md", md)
    return io.atomic_write_text(fam_dir / "index.html", html)


# --------------------------------------------------------------------------------------------
# One run folder (handgrad train's output)
# --------------------------------------------------------------------------------------------
def is_run_folder(folder: Path) -> bool:
    """A folder ``handgrad train`` wrote: metrics.json and config.json, and no reproduce manifest."""
    return (folder / "metrics.json").is_file() and (folder / "config.json").is_file() \
        and not (folder / "manifest.json").is_file()


def _metric_rows(metrics: dict) -> list[dict]:
    rows = []
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if k.endswith("accuracy") or k.endswith(("_mean", "_std")) and "accuracy" in k:
            text = f"{100 * v:.2f}%"
        elif isinstance(v, int):
            text = f"{v:,}"
        else:
            text = f"{v:.6g}"
        rows.append({"key": k, "value": text})
    return rows


def render_run(run_dir: str | os.PathLike) -> Path:
    """``index.html`` in a run folder: its metrics, per-class table, figures and resolved config."""
    import json

    run_dir = Path(run_dir)
    metrics = readers.read_metrics(run_dir / "metrics.json")
    config = read_run_config(run_dir / "config.json")
    figures = []
    for p in sorted((run_dir / "figures").glob("*.png")) + sorted(run_dir.glob("*.png")):
        data = p.read_bytes()
        figures.append({"data_uri": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
                        "caption": FIGURE_NAMES.get(p.name, p.stem.replace("_", " "))})
    tables = [{"title": p.stem.replace("_", " "), "text": p.read_text(encoding="utf-8")}
              for p in (run_dir / "per_class_accuracy.md", run_dir / "samples.md") if p.is_file()]
    diverged = metrics.get("diverged")
    ctx = {"name": config.get("name") or run_dir.name, "description": config.get("description", ""),
           "run_dir": str(run_dir), "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "metrics": _metric_rows(metrics), "tables": tables, "figures": figures,
           "config": json.dumps(config, indent=2),
           "diverged": None if not diverged else f"Training diverged at step {diverged.get('step')}: the loss "
                                                 f"became {diverged.get('loss')}."}
    html = _jinja().get_template("run.html.j2").render(**ctx)
    return io.atomic_write_text(run_dir / "index.html", html)
