"""``handgrad reproduce all --quick`` on the tests' fake data gives the sections, published numbers,
tolerances, verdicts and tables it gave before the families were split out of one module.

``data/reproduce_quick_structure.json`` was written by this test (HANDGRAD_WRITE_STRUCTURE=1) on the
code before the split, and rewritten once when the gradient-check tables gained the complex-step
verdict (issue 9: a note in their comparison rows, a column in their tables, the linear section text),
once more when error messages began to show the alphabet visibly (issue 27: ␣ for the space), and when
every source became a citation with a Sources list (issue 26: "Ruggeri 2020, DD2424 assignment 1 report"
for "report 004"; only source texts changed), and when the 2025 course came in (issue 25: the linear
family's "linear-2025" section and its rows; the patchify family compared from then on, with torch
hidden so that its torch-only experiments read "not available" on every machine). It keeps what is deterministic: headings, comparison rows without our numbers
(which depend on the BLAS's rounding), the first cell of every other table row, captions, figures,
the experiments not available, and the summary counts; never timings or paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from fakes import make_fake_cifar, make_fake_surnames
from handgrad.cli import app

GOLDEN = Path(__file__).parent / "data" / "reproduce_quick_structure.json"
REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FAMILIES = ("linear", "mlp", "convnet", "patchify")
COMPARISON_HEADER = "| experiment | quantity | ours | published | difference | tolerance | verdict | source | note |"


def structure(md: str) -> list:
    """The deterministic lines of a report.md, from the summary up to the manifest."""
    body = md[md.index("## Summary"):md.index("## Manifest")]
    out, in_comparison = [], False
    for line in body.splitlines():
        if not line.strip() or set(line) <= set("|-"):
            continue
        if line == COMPARISON_HEADER:
            in_comparison = True
            out.append(line)
            continue
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if in_comparison:  # drop ours (2) and the difference (4)
                out.append(["cmp", *cells[:2], cells[3], *cells[5:]])
            else:
                out.append(["row", cells[0], len(cells)])
            continue
        in_comparison = False
        if line.startswith("Training time per implementation"):  # the measured updates vary
            line = re.sub(r"\(\d+ updates", "(N updates", line)
        out.append(line)
    return out


def _save_without_drawing(fig, path):
    """plots.save without rendering: the figure files exist (the report lists them), drawn or not."""
    import matplotlib.pyplot as plt

    from handgrad import io

    plt.close(fig)
    return io.atomic_write_bytes(path, b"\x89PNG\r\n\x1a\n")


def test_reproduce_all_quick_keeps_its_structure(tmp_path, monkeypatch):
    from handgrad import plots
    from handgrad.reproduction import plan

    monkeypatch.setattr(plots, "save", _save_without_drawing)  # drawing is most of the time on 2 busy cores
    # the same report with or without the optional torch extra: its experiments read "not available"
    monkeypatch.setattr(plan, "torch_installed", lambda: False)
    data = tmp_path / "data"
    make_fake_cifar(data, n_per_batch=60)
    make_fake_surnames(data)
    monkeypatch.setenv("HANDGRAD_DATA", str(data))
    # the shipped configs, with the MLPs' half cycles cut to 50 updates: on 60 fake images per batch
    # quick mode keeps n_s (there are fewer images than its cap), and m=1000 for 4,900 updates takes
    # minutes; our numbers change, the structure compared here does not
    configs = tmp_path / "configs"
    shutil.copytree(REPO_CONFIGS, configs)
    for path in (configs / "mlp").glob("*.toml"):
        path.write_text(re.sub(r"(?m)^n_s = \d+$", "n_s = 50", path.read_text()))
    out = tmp_path / "reports"
    # on a local Dask cluster of 2 worker processes (issue 14): the same reports as in one process
    r = CliRunner().invoke(app, ["reproduce", "all", "--quick", "--out", str(out), "--configs", str(configs),
                                 "--jobs", "2"])
    assert r.exit_code == 0, r.output
    assert "local Dask cluster: 2 worker processes" in r.output
    for fam in FAMILIES:
        workers = json.loads((out / fam / "manifest.json").read_text())["workers"]
        assert (workers["mode"], workers["workers"]) == ("local", 2)
        assert "- Workers: local Dask cluster: 2 worker processes" in (out / fam / "report.md").read_text()
    got = {fam: structure((out / fam / "report.md").read_text()) for fam in FAMILIES}
    got = json.loads(json.dumps(got))  # tuples as lists, as in the file
    if os.environ.get("HANDGRAD_WRITE_STRUCTURE"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(want) == set(FAMILIES)
    for fam in want:
        assert got[fam] == want[fam], fam
