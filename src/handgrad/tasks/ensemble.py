"""Ensembles of surname models: several seeds of one config, plus other configs, probabilities averaged.

A config with an ``[ensemble]`` table trains ``seeds`` copies of itself (seeds seed, seed+1, ...)
and every config listed in ``members`` (e.g. the n-gram linear model), each into its own run folder
under ``RUN/members/``, all on the ensemble's data split (its [data] split settings replace the
members' own, so ``--set data.split=course`` moves the whole ensemble to the course split). The ensemble's class probabilities are

    p = (1 - members_weight) * mean(p of the seed copies) + members_weight * mean(p of the members)

(``members_weight`` 0 without members). ``RUN/ensemble.json`` lists the member folders and weights;
``handgrad predict RUN`` reads it and averages the members' predictions the same way, each member
encoding names with its own saved features. Nothing is retrained at prediction time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handgrad import io, readers
from handgrad.config import ConfigBase, load_config
from handgrad.errors import HandgradError
from handgrad.metrics import balanced_accuracy, per_class_accuracy
from handgrad.tasks import load_data, runs
from handgrad.tasks.surnames import per_class_table

ENSEMBLE_FILE = "ensemble.json"
#: the [data] keys that define the split; every member is trained with the ensemble's values
SPLIT_KEYS = ("source", "split", "split_seed", "holdout_fraction", "holdout_min", "holdout_max", "n_train")


def member_configs(cfg: ConfigBase) -> list[tuple[str, ConfigBase, float]]:
    """(folder name, config, weight) of every member: the seed copies, then the listed configs."""
    ec = cfg.ensemble
    base = cfg.model_copy(update={"ensemble": ec.model_copy(update={"seeds": 1, "members": []})})
    w_members = ec.members_weight if ec.members else 0.0
    out = [(f"seed-{cfg.seed + i}", base.model_copy(update={"seed": cfg.seed + i}), (1 - w_members) / ec.seeds)
           for i in range(ec.seeds)]
    split = cfg.data.model_dump(include=set(SPLIT_KEYS))
    for path in ec.members:
        mc = load_config(path)
        if mc.data.dataset != cfg.data.dataset:
            raise HandgradError(f"ensemble member {path} is trained on {mc.data.dataset}, {cfg.name} on "
                                f"{cfg.data.dataset}: members must use the same data")
        # members are scored on the ensemble's parts: its split settings replace theirs
        mc = mc.model_copy(update={"data": mc.data.model_copy(update=split)})
        if mc.is_ensemble:
            raise HandgradError(f"ensemble member {path} is itself an ensemble; nest no ensembles")
        out.append((mc.name, mc, w_members / len(ec.members)))
    return out


def run_config(cfg: ConfigBase, run_dir: Path | None, *, progress: bool | None = None, figures: bool = True,
               desc: str | None = None) -> dict:
    """Train any config: its ensemble when it has an [ensemble] table, else ``tasks.runs.run``."""
    if cfg.is_ensemble:
        return run(cfg, run_dir, progress=progress)
    return runs.run(cfg, run_dir, progress=progress, figures=figures, desc=desc)


def combine(probs: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted sum of the members' probability arrays (N, K)."""
    return sum(w * np.asarray(p, dtype=np.float64) for p, w in zip(probs, weights))


def run(cfg: ConfigBase, run_dir: Path | None, *, progress: bool | None = None) -> dict:
    """Train every member (a run folder each under ``run_dir/members``) and evaluate the average."""
    members = member_configs(cfg)
    probs: dict[str, list[np.ndarray]] = {}
    ys: dict[str, np.ndarray] = {}
    out: dict = {"name": cfg.name, "ensemble": [], "seconds": 0.0}
    for name, mc, w in members:
        data = load_data(mc)
        fitted = runs.train(mc, data, progress=progress, desc=f"{cfg.name}/{name}")
        m = runs.measure(mc, data, fitted)
        if run_dir is not None:
            runs.write_run(Path(run_dir) / "members" / name, mc, data, fitted, m, figures=False)
        out["seconds"] += m["seconds"]
        out["split_info"] = m.get("split_info", {})
        out["ensemble"].append({"member": name, "weight": w, **{k: v for k, v in m.items()
                                                               if k.endswith("balanced_accuracy")}})
        for part, X, y in (("val", data.X_val, data.y_val), ("test", data.X_test, data.y_test)):
            if X is None:
                continue
            if part in ys and not np.array_equal(ys[part], y):  # pragma: no cover - same split by construction
                raise HandgradError(f"ensemble member {name} sees a different {part} split")
            ys[part] = y
            probs.setdefault(part, []).append(fitted.model.predict_proba(X))
    weights = [w for _, _, w in members]
    K = len(data.classes)
    for part, y in ys.items():
        pred = combine(probs[part], weights).argmax(axis=1)
        out[f"{part}_accuracy"] = float(np.mean(pred == y))
        out[f"{part}_balanced_accuracy"] = balanced_accuracy(y, pred, K)
        out[f"{part}_per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(y, pred, K).tolist()))
    out["split"] = cfg.data.split
    if run_dir is not None:
        run_dir = Path(run_dir)
        io.write_json(run_dir / "config.json", cfg.to_dict())
        io.write_json(run_dir / ENSEMBLE_FILE, {"members": [{"path": f"members/{n}", "weight": w}
                                                            for n, _, w in members],
                                                "classes": list(data.classes)})
        io.atomic_write_text(run_dir / "per_class_accuracy.md", per_class_table(out))
        io.write_json(run_dir / "metrics.json", out)
    return out


def is_ensemble(run_dir: Path | str) -> bool:
    return (Path(run_dir) / ENSEMBLE_FILE).is_file()


def read_members(run_dir: Path | str) -> list[tuple[Path, float]]:
    """(member run folder, weight) from ``run_dir/ensemble.json``, with clear errors."""
    run_dir = Path(run_dir)
    info = readers.read_json(run_dir / ENSEMBLE_FILE)
    try:
        members = [(run_dir / m["path"], float(m["weight"])) for m in info["members"]]
    except (KeyError, TypeError, ValueError) as e:
        raise HandgradError(f"{run_dir / ENSEMBLE_FILE} is malformed: {e}") from None
    if not members:
        raise HandgradError(f"{run_dir / ENSEMBLE_FILE} lists no members")
    return members
