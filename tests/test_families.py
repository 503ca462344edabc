"""The family registry: a family plugs in from its module alone, and no module imports in a circle."""

from __future__ import annotations

import ast
import json
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
    cli = set().union(*(graph[m] for m in graph if m.startswith("handgrad.cli")))
    assert "handgrad.reproduce" in cli and "handgrad.reproduce" not in graph["handgrad.report"]


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


def test_a_task_plugs_in_from_its_module_alone(fake_cifar, tmp_path, monkeypatch):
    """The pipeline builds, feeds, measures and writes only through a task (handgrad.tasks): a task
    registered for a new model kind, with its config class, is trained by `handgrad train`."""
    from typing import Literal

    from handgrad import config, tasks
    from handgrad.config.tables import Cifar10Data, ConfigBase, DenseGradcheck, ImageTrain, Strict, f
    from handgrad.tasks.classifier import IMAGES, ImageClassifier

    class ToyModel(Strict):
        """[model]: a toy."""

        kind: Literal["toy"] = f("toy", "the model: a toy")
        loss: Literal["cross_entropy"] = f("cross_entropy", "the loss")

    class ToyConfig(ConfigBase):
        """A toy kind."""

        data: Cifar10Data = f(Cifar10Data, "")
        model: ToyModel = f(ToyModel, "")
        train: ImageTrain = f(ImageTrain, "")
        gradcheck: DenseGradcheck = f(DenseGradcheck, "")

    calls = []

    class ToyTask(ImageClassifier):
        def load(self, cfg):
            calls.append(("load", cfg.data.split))
            return IMAGES.load(cfg)

        def build(self, cfg, data, rng, d=None):
            calls.append(("build", data.d, data.K))
            return handgrad.linear_classifier(data.d, data.K, rng=rng)

        def measure(self, cfg, data, fitted):
            calls.append(("measure",))
            return super().measure(cfg, data, fitted)

    monkeypatch.setitem(config.KINDS, "toy", ToyConfig)
    monkeypatch.setitem(tasks._TASKS, ("toy", None), ToyTask())
    path = tmp_path / "tiny.toml"
    path.write_text(TOY_CONFIG.replace('kind = "linear"', 'kind = "toy"'))
    r = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert calls == [("load", "a1"), ("build", 3072, 10), ("measure",)]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["kind"] == "toy"
    monkeypatch.delitem(config.KINDS, "toy")
    r = runner.invoke(app, ["train", str(path)])
    assert r.exit_code == 2 and "model.kind: unknown kind 'toy'" in r.output