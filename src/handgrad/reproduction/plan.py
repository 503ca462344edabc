"""Where an experiment's config and run folder are, what exactly it runs (config with quick overrides,
fingerprint) and the commands a user would type to run it alone; whether a finished run can be kept."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shlex
from pathlib import Path

from handgrad import readers
from handgrad.config import from_dict, load_config, toml_value
from handgrad.errors import HandgradError
from handgrad.reproduction.quick import QuickBudget, cases, quick_overrides, repeats
from handgrad.reproduction.spec import Experiment


def repo_root() -> Path:
    """The source checkout this package is installed from (src layout), if there is one."""
    return Path(__file__).resolve().parents[3]


def configs_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where the shipped configs live: ``explicit``, $HANDGRAD_CONFIGS, the checkout's configs/, ./configs."""
    if explicit is not None:
        p = Path(explicit)
        if not p.is_dir():
            raise HandgradError(f"configs folder {p} does not exist")
        return p
    env = os.environ.get("HANDGRAD_CONFIGS")
    if env:
        return Path(env)
    for p in (repo_root() / "configs", Path.cwd() / "configs"):
        if p.is_dir():
            return p
    raise HandgradError("cannot find the configs/ folder; run from the handgrad checkout or pass --configs")


def run_dir(out: Path, exp: Experiment) -> Path:
    return Path(out) / exp.family / "runs" / exp.id


def benchmark_script(exp: Experiment) -> Path:
    """A timing experiment's script: its ``config`` is relative to the checkout's configs/ folder."""
    return (repo_root() / "configs" / exp.config).resolve()


def benchmark_argv(exp: Experiment, quick: bool) -> list[str]:
    """Arguments for a timing experiment's script (without --json)."""
    return list(exp.extra("argv_quick" if quick else "argv", ()))


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def torch_installed() -> bool:
    """Whether the optional PyTorch oracle can be imported (the bench extra)."""
    return importlib.util.find_spec("torch") is not None


def plan_experiment(exp: Experiment, configs: Path, quick: bool, budget: QuickBudget = QuickBudget()) -> dict:
    """Resolve an experiment: its config (with quick overrides), fingerprint and commands.

    Returns {"available": False, "reason": ...} when the config file does not exist yet.
    """
    if exp.extra("requires") == "torch" and not torch_installed():
        return {"available": False, "reason": "PyTorch is not installed (an option: pip install -e '.[bench]')"}
    if exp.kind == "timing":  # the benchmark script has its own settings
        bench = benchmark_script(exp)
        if not bench.is_file():
            return {"available": False, "reason": f"the benchmark {bench} is not available"}
        return {"available": True, "config_path": bench, "cfg": None, "overrides": {}, "repeat": 1, "cases": (),
                "fingerprint": fingerprint({"kind": "timing", "bench": benchmark_argv(exp, quick)})}
    path = configs / exp.config
    if not path.is_file():
        return {"available": False, "reason": f"config {exp.config} does not exist yet"}
    base = load_config(path, dict(exp.overrides)) if exp.overrides else load_config(path)
    ov = {**dict(exp.overrides), **(quick_overrides(base, exp, budget) if quick else {})}
    cfg = from_dict(base.to_dict(), str(path), ov) if ov else base
    repeat = repeats(exp, quick, budget)
    cs = cases(exp, quick, budget)
    fp = fingerprint({"kind": exp.kind, "config": cfg.to_dict(), "repeat": repeat, "cases": cs, "bench": []})
    return {"available": True, "config_path": path, "cfg": cfg, "overrides": ov, "repeat": repeat,
            "cases": cs, "fingerprint": fp}


def is_done(folder: Path, fp: str) -> bool:
    """A finished run of the same thing: metrics.json present and reproduce.json's fingerprint equal."""
    meta = folder / "reproduce.json"
    if not (folder / "metrics.json").is_file() or not meta.is_file():
        return False
    try:  # a damaged record or metrics file: not done, it runs again
        return readers.read_run_meta(meta)["fingerprint"] == fp and bool(readers.read_metrics(folder / "metrics.json"))
    except HandgradError:
        return False


# --------------------------------------------------------------------------------------------
# Commands (what a user would type to run one experiment alone)
# --------------------------------------------------------------------------------------------


def _sets(ov: dict) -> list[str]:
    out = []
    for k, v in ov.items():
        out += ["--set", f"{k}={toml_value(v)}"]
    return out


def shell_command(argv: list) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def _rel(p: Path) -> str:
    """``p`` relative to the working directory when it lies below it, else absolute."""
    p = Path(p).absolute()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def case_overrides(case, cfg, method: str = "centred") -> dict:
    """--set overrides for one gradient-check case of ``cfg``; n_dims None means every input dimension
    (a kind whose check reads no feature vectors, the ConvNet's and the RNN's, has no n_dims).
    ``method``: what the table shows (the reports' tables are the course's centred differences, the
    2025 sheets' PyTorch autograd); the complex-step reference gives the verdict."""
    b, lam, nd = case
    ov = {"gradcheck.batch_sizes": [b], "gradcheck.lambdas": [lam], "train.lambda": lam,
          "gradcheck.method": method}
    if "n_dims" in type(cfg.gradcheck).model_fields:
        if nd is not None:
            ov["gradcheck.n_dims"] = nd
        elif cfg.data.dataset == "cifar10":
            ov["gradcheck.n_dims"] = 3072
    return ov


def commands(exp: Experiment, plan: dict, folder: Path, quick: bool) -> list[str]:
    c, o, ov = _rel(plan["config_path"]), _rel(folder), plan["overrides"]
    if exp.kind == "run":
        return [shell_command(["handgrad", "train", c, *_sets(ov), "--out", o])]
    if exp.kind == "repeat":
        return [shell_command(["handgrad", "train", c, *_sets(ov), "--repeat", plan["repeat"], "--out", o])]
    if exp.kind == "search":
        return [shell_command(["handgrad", "search", c, *_sets(ov), *(["--keep-runs"] if exp.extra("keep_runs") else []),
                               "--out", o])]
    if exp.kind == "gradcheck":
        method = exp.extra("method", "centred")
        return [shell_command(["handgrad", "gradcheck", c, *_sets({**ov, **case_overrides(case, plan["cfg"], method)}),
                               "--json"])
                for case in plan["cases"]]
    if exp.kind == "timing":
        return [shell_command(["python", c, *benchmark_argv(exp, quick), "--json", _rel(folder / "timing.json")])]
    raise ValueError(exp.kind)
