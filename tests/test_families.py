"""The family registry: a family plugs in from its module alone, and no module imports in a circle."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import handgrad
from handgrad import families
from handgrad.cli import app
from handgrad.reproduction.spec import Experiment, Section, Target
from handgrad.reproduction.verdicts import QUICK, REPRODUCED

runner = CliRunner()
SRC = Path(handgrad.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports, anywhere in it (function bodies too), with the packages
    every import runs first (except ``name``'s own parents: they are always initialised before it)."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[:len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for t in targets:
            parts = t.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                prefix = ".".join(parts[:i])
                if prefix in modules and (prefix == t or prefix not in parents):
                    found.add(prefix)
    found.discard(name)
    return found


def test_no_import_cycle():
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert "handgrad.reproduce" in graph["handgrad.cli"] and "handgrad.reproduce" not in graph["handgrad.report"]


#: modules already over the limit before the families were split out (not touched by that change)
LONG: set[str] = set()


def test_every_module_imports_and_is_short():
    for name, path in _modules().items():
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:  # an optional extra (sklearn, serve) that is not installed
            assert not e.name.startswith("handgrad"), e
        n = len(path.read_text(encoding="utf-8").splitlines())
        assert name in LONG or n <= 400, f"{path} has {n} lines"


def test_registry_finds_the_family_modules():
    mods = {m.name for m in pkgutil.iter_modules(families.__path__)}
    assert {"linear", "mlp", "convnet"} <= mods
    assert [n for n in families.names() if n in ("linear", "mlp", "convnet")] == ["linear", "mlp", "convnet"]
    assert families.get("convnet").title.startswith("Character-level ConvNet")
    with pytest.raises(handgrad.HandgradError, match="unknown family 'nope'"):
        families.get("nope")


def test_a_bad_family_is_refused():
    sec = Section("s", "bad", "S", "src")
    with pytest.raises(handgrad.HandgradError, match="section 'other'"):
        families.register(families.Family("bad", "Bad", (sec,), (Experiment("e", "bad", "other", "E", "x.toml"),)))
    assert "bad" not in families.names()


TOY_CONFIG = """name = "toy"
seed = 3
[data]
dataset = "cifar10"
split = "a1"
[model]
kind = "linear"
[train]
n_batch = 20
eta = 0.01
lambda = 0.0
n_epochs = 2
"""


def _toy_table(rs):
    """A table only the toy family has: the number of updates its run made."""
    return {"caption": "Toy table: updates made", "columns": ["experiment", "updates"],
            "rows": [[rs.exp.id, rs.metrics["n_updates"]]]}, []


@pytest.fixture
def toy_family():
    sec = Section("toy-main", "toy", "The toy section", "this test", "One tiny linear classifier.")
    exp = Experiment("toy-run", "toy", "toy-main", "a tiny linear classifier", "toy/tiny.toml",
                     targets=(Target("toy test accuracy (%)", "test_accuracy", 0.0, "this test", 0.0,
                                     mode="at_least"),))
    fam = families.register(families.Family("toy", "A toy family", (sec,), (exp,), tables=(_toy_table,)))
    yield fam
    families.unregister("toy")


def test_a_toy_family_plugs_in(toy_family, fake_cifar, tmp_path):
    configs = tmp_path / "configs"
    (configs / "toy").mkdir(parents=True)
    (configs / "toy" / "tiny.toml").write_text(TOY_CONFIG)
    assert "toy" in families.names()
    for quick, verdict in ((True, QUICK), (False, REPRODUCED)):
        out = tmp_path / ("quick" if quick else "full")
        r = runner.invoke(app, ["reproduce", "toy", *(["--quick"] if quick else []), "--out", str(out),
                                "--configs", str(configs)])
        assert r.exit_code == 0, r.output
        md = (out / "toy" / "report.md").read_text()
        assert "# handgrad reproduction: A toy family" in md
        assert "## The toy section" in md and "Source: this test. One tiny linear classifier." in md
        assert "| toy-run | toy test accuracy (%) |" in md and f"**{verdict}**" in md
        assert "Toy table: updates made" in md and "| toy-run | 6 |" in md  # 2 epochs of 60 images, batch 20
        assert "](figures/toy-run--learning_curves.png)" in md
        assert "handgrad train " in md and (out / "toy" / "runs" / "toy-run" / "metrics.json").is_file()
    # re-rendered from the saved runs by `handgrad report`
    (out / "toy" / "report.md").unlink()
    assert runner.invoke(app, ["report", str(out / "toy")]).exit_code == 0
    assert "toy test accuracy (%)" in (out / "toy" / "report.md").read_text()


def test_model_kinds_and_data_sets_come_from_the_registry(fake_cifar, tmp_path, monkeypatch):
    """experiment.py builds models and loads data only through handgrad.kinds."""
    from handgrad import experiment, kinds
    from handgrad.config import load_config

    calls = []
    linear, cifar = kinds.model_kind("linear"), kinds.dataset("cifar10")

    def build(cfg, d, K, rng, meta=None):
        calls.append(("build", d, K))
        return linear.build(cfg, d, K, rng, meta)

    def load(dc, dtype):
        calls.append(("load", dc.split))
        return cifar(dc, dtype)

    kind = kinds.ModelKind(build, "normal", prepare=lambda *a: calls.append(("prepare",)))
    monkeypatch.setitem(kinds.MODEL_KINDS, "linear", kind)
    monkeypatch.setitem(kinds.DATASETS, "cifar10", load)
    path = tmp_path / "tiny.toml"
    path.write_text(TOY_CONFIG)
    m = experiment.run(load_config(path), None, progress=False)
    assert calls == [("load", "a1"), ("build", 3072, 10), ("prepare",)] and m["n_updates"] == 6
    monkeypatch.delitem(kinds.MODEL_KINDS, "linear")
    with pytest.raises(handgrad.HandgradError, match="unknown model kind 'linear'"):
        experiment.build_model(load_config(path), 3072, 10, None)
