"""The documentation as a reader meets it: every tutorial runs (reduced budget, the real data when
HANDGRAD_DATA is set, else small data written in the real formats), the site builds with
``mkdocs build --strict``, and in a headless chromium the home page and a tutorial render, a figure
loads and the search finds "gradcheck".

The tutorials run first; the site's build then finds them executed in the same cache (the docs build
and these tests execute them through the same ``docs/notebooks.py``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
jupytext = pytest.importorskip("jupytext", reason="the docs extra is not installed")
nbformat = pytest.importorskip("nbformat", reason="the docs extra is not installed")

from browser import chromium, wait  # noqa: E402
from fakes import make_fake_book, make_fake_cifar, make_fake_surnames  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import notebooks  # noqa: E402  (docs/notebooks.py)

TUTORIALS = notebooks.sources()


@pytest.fixture(scope="session")
def docs_env(tmp_path_factory):
    """The tutorials' environment, set in this process (their kernels inherit it): the data, the
    reduced budget and a cache of executed notebooks for this session."""
    data = os.environ.get("HANDGRAD_DATA")
    if not (data and os.path.isdir(data)):
        root = tmp_path_factory.mktemp("docs-data")
        make_fake_cifar(root, n_per_batch=300)
        names = make_fake_surnames(root) / "ascii_names.txt"
        # the surnames tutorial predicts real names (nguyen, schmidt, ...): give the toy alphabet every
        # letter they use (appended, so the validation indices still point at the same names)
        names.write_text(names.read_text() + "Fghjq 1\nPvwxy 2\n")
        make_fake_book(root)
        data = str(root)
    env = {"HANDGRAD_DATA": data, "HANDGRAD_BUDGET": "reduced",
           "HANDGRAD_DOCS_CACHE": str(tmp_path_factory.mktemp("docs-cache")),
           "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield env


def test_every_tutorial_has_a_source_and_a_page():
    stems = [p.stem for p in TUTORIALS]
    assert len(stems) == 6 and stems == sorted(stems)
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert all(f"tutorials/{s}.ipynb" in nav for s in stems)
    for src in TUTORIALS:
        nb = jupytext.read(src)
        text = nb.cells[0].source
        assert text.startswith("# "), f"{src.name}: the first cell is the title"
        assert "Time on 2 cores" in "".join(c.source for c in nb.cells[:2]), f"{src.name}: no time stated"


@pytest.mark.parametrize("src", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(src, docs_env):
    run = notebooks.execute(src, budget="reduced")
    nb = nbformat.read(run.path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and all(c.execution_count for c in nb.cells if c.cell_type == "code" and c.source.strip())
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{src.name} draws no figure"
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Warning" not in stderr, f"{src.name} leaks warnings onto its page:\n{stderr}"


def test_a_failing_cell_names_the_tutorial_and_the_error(tmp_path, monkeypatch, docs_env):
    bad = tmp_path / "99_broken.py"
    bad.write_text("# %% [markdown]\n# # Broken\n\n# %%\nimport handgrad as hg\nhg.Dense(3, 2).forward(None)\n")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    with pytest.raises(notebooks.TutorialFailed, match=r"99_broken.py \(budget reduced\) failed:[\s\S]*Error"):
        notebooks.execute(bad, budget="reduced")


@pytest.fixture(scope="session")
def site(docs_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    return proc, out


def test_site_builds_strict_with_every_generated_page(site):
    proc, out = site
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^WARNING\b", log, re.MULTILINE), log  # mkdocs's warnings (strict fails on them)
    assert "Kernel is running over TCP" not in log  # the tutorials' kernels talk over a local socket
    pages = {"index.html": "handgrad", "tutorials/01_first_classifier/index.html": "Your first classifier",
             "api/index.html": "GlobalMaxPool1D", "reference/cli/index.html": "handgrad train",
             "reference/config/index.html": "train.eta", "references/index.html": "Ruggeri 2020",
             "results/index.html": "Reproduced results"}
    for page, text in pages.items():
        assert text in (out / page).read_text(encoding="utf-8"), page


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def site_url(site):
    proc, out = site
    if proc.returncode:
        pytest.skip("the site did not build (see test_site_builds_strict_with_every_generated_page)")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.mark.browser
def test_a_reader_opens_the_site_sees_a_figure_and_searches(site_url, tmp_path):
    from selenium.webdriver.common.by import By

    drv = chromium(tmp_path / "profile")
    try:
        drv.get(site_url + "/")
        assert drv.title == "handgrad"
        assert drv.find_element(By.TAG_NAME, "h1").text == "handgrad"

        drv.get(site_url + "/tutorials/01_first_classifier/")
        assert "Your first classifier" in drv.find_element(By.TAG_NAME, "h1").text
        loaded = wait(drv, lambda d: d.execute_script(
            "return [...document.querySelectorAll('.jupyter-wrapper img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length"))
        assert loaded >= 2  # the learning curves and the class templates

        box = drv.find_element(By.CSS_SELECTOR, "input.md-search__input")
        box.click()
        box.send_keys("gradcheck")
        hits = wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
        assert any("gradcheck" in h.text.lower() for h in hits)
        severe = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        drv.quit()
