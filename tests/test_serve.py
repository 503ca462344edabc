"""``handgrad serve``: the JSON API on tiny models trained here through the package's own train path,
and (marked ``browser``) the page driven in a real headless chromium."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from browser import chromium, wait  # noqa: E402
from fakes import make_fake_cifar  # noqa: E402
from handgrad import modelfile, tasks  # noqa: E402
from handgrad.tasks.runs import run as train_run  # noqa: E402
from handgrad.cli import app as cli_app  # noqa: E402
from handgrad.config import from_dict  # noqa: E402
from handgrad.predict import predict_names  # noqa: E402
from handgrad.serve.app import BackgroundServer, create_app  # noqa: E402
from handgrad.serve.model import predict_names as served_predict  # noqa: E402

LANGUAGES = ["Italian", "Japanese", "German"]
#: toy languages the tiny ConvNet learns in a few hundred updates: a suffix each
SUFFIXES = ["ini", "moto", "mann"]


def write_surnames(folder: Path, rng: np.random.Generator, per_class: int = 40, n_val: int = 5) -> None:
    """A surnames/ folder in the course format: ``Name label`` lines, labels, validation indices."""
    letters = list("abdegiklnorstuz")
    rows = [("".join(rng.choice(letters, rng.integers(2, 6))) + suffix, y)
            for y, suffix in enumerate(SUFFIXES) for _ in range(per_class)]
    rows.append(("rosse", 0))  # every letter of the folded 'Rossé' is in the alphabet
    folder.mkdir(parents=True)
    (folder / "ascii_names.txt").write_text("".join(f"{n.title()} {y + 1}\n" for n, y in rows))
    (folder / "category_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(LANGUAGES, 1)))
    val = np.concatenate([np.arange(n_val) + y * per_class for y in range(len(LANGUAGES))])
    (folder / "Validation_Inds.txt").write_text(" ".join(str(i + 1) for i in val) + "\n")


CONFIGS = {
    "surnames": {"name": "tiny-surnames", "data": {"dataset": "surnames"},
                 "model": {"kind": "convnet", "convs": [[3, 8], [3, 8]]},
                 "train": {"optimizer": "momentum", "eta": 0.01, "n_batch": 20, "n_updates": 300,
                           "record_every": 100, "sampling": "balanced"}},
    "linear": {"name": "tiny-linear", "data": {"dataset": "cifar10", "split": "a1"},
               "train": {"n_epochs": 3, "n_batch": 20, "eta": 0.01}},
    "mlp": {"name": "tiny-mlp", "data": {"dataset": "cifar10", "split": "a1"},
            "model": {"kind": "mlp", "hidden": [8]}, "train": {"n_epochs": 2, "n_batch": 20, "eta": 0.01}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Run folders of a tiny surname ConvNet, a linear CIFAR-10 classifier and an MLP, trained with
    ``handgrad.tasks.runs.run`` on data written here."""
    root = tmp_path_factory.mktemp("serve")
    make_fake_cifar(root / "data", n_per_batch=60)
    write_surnames(root / "data" / "surnames", np.random.default_rng(0))
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HANDGRAD_DATA", str(root / "data"))
        for key, raw in CONFIGS.items():
            tasks._cache.clear()
            train_run(from_dict(raw), root / key, progress=False, figures=False)
            out[key] = root / key
    tasks._cache.clear()
    return out


@pytest.fixture(scope="module")
def names_api(runs):
    return TestClient(create_app(runs["surnames"]))


@pytest.fixture(scope="module")
def image_api(runs):
    return TestClient(create_app(runs["linear"]))


def png_bytes(w: int = 70, h: int = 40, mode: str = "RGB") -> bytes:
    """An image whose left half is red and right half blue (to check the channel layout)."""
    im = Image.new(mode, (w, h), (0, 0, 255) if mode == "RGB" else 0)
    if mode == "RGB":
        im.paste((255, 0, 0), (0, 0, w // 2, h))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


# -- surnames API --------------------------------------------------------------------------------
def test_predict_get_and_post_match_handgrad_predict(names_api, runs):
    r = names_api.get("/api/predict", params={"name": "Tadomoto"})
    assert r.status_code == 200, r.text
    got = r.json()
    want = predict_names(runs["surnames"], ["Tadomoto"])[0]
    assert got == json.loads(json.dumps(want))
    assert got["predicted"] == "Japanese" and abs(sum(got["probabilities"].values()) - 1) < 1e-6
    r = names_api.post("/api/predict", json={"names": ["Bellini", "Kossmann"]})
    assert r.status_code == 200
    assert [x["predicted"] for x in r.json()["results"]] == ["Italian", "German"]


@pytest.mark.parametrize("name, status, message", [
    ("", 400, "empty name"),
    ("   ", 400, "empty name"),
    ("x" * 10_000, 422, "10,000 characters long"),
    ("Tadomoto7", 400, "the character '7' outside the model's alphabet"),
])
def test_bad_names_get_a_4xx_with_a_json_error(names_api, name, status, message):
    r = names_api.get("/api/predict", params={"name": name})
    assert r.status_code == status
    assert message in r.json()["error"]
    r = names_api.post("/api/predict", json={"names": ["Bellini", name]})
    assert r.status_code == status and "(name 2 of 2)" in r.json()["error"]


def test_accented_name_offers_the_folded_form(names_api):
    r = names_api.get("/api/predict", params={"name": "Rossé"})
    assert r.status_code == 400
    body = r.json()
    assert body["bad_characters"] == ["é"] and body["suggestion"] == "rosse"
    assert "folded form is 'rosse'" in body["error"]
    assert names_api.get("/api/predict", params={"name": body["suggestion"]}).status_code == 200


@pytest.mark.parametrize("payload", [{"names": "Bellini"}, {"names": [3]}, {"name": ["Bellini"]}, {"names": []}])
def test_malformed_posts_are_4xx(names_api, payload):
    r = names_api.post("/api/predict", json=payload)
    assert 400 <= r.status_code < 500 and r.json()["error"]
    assert names_api.post("/api/predict", content=b"{not json", headers={"content-type": "application/json"}
                          ).status_code == 422


def test_page_shows_what_the_model_is(names_api, runs):
    html = names_api.get("/").text
    metrics = json.loads((runs["surnames"] / "metrics.json").read_text())
    assert "tiny-surnames" in html and 'id="name"' in html
    assert f"{100 * metrics['val_accuracy']:.2f}%" in html and "UTC" in html
    info = names_api.get("/api/info").json()
    assert info["classes"] == LANGUAGES and info["kind"] == "convnet" and info["n_len"] >= 8
    assert names_api.post("/api/classify", files={"image": ("a.png", png_bytes())}).status_code == 404
    assert 'value="&lt;b&gt;Rossini"' in names_api.get("/", params={"name": "<b>Rossini"}).text  # escaped


# -- images API ----------------------------------------------------------------------------------
def test_classify_resizes_like_the_data(image_api, runs):
    from handgrad.serve.model import image_to_row

    data = png_bytes(70, 40)
    row, _ = image_to_row(data)
    R, G, B = row.reshape(3, 32, 32)  # CIFAR's layout: 1024 red, 1024 green, 1024 blue, row-major
    # Lanczos rings a little at the edge: away from it the halves keep their colours
    assert (R[:, :13] >= 250).all() and (R[:, 19:] <= 5).all() and (B[:, :13] <= 5).all() and (G <= 5).all()
    r = image_api.post("/api/classify", files={"image": ("x.png", data, "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    model, extra, meta = modelfile.load(runs["linear"])
    X = ((row / extra["scale"] - extra["mean"]) / extra["std"]).astype(np.float32)[None]
    want = model.predict_proba(X)[0]
    np.testing.assert_allclose(list(body["probabilities"].values()), want, rtol=1e-5, atol=1e-7)
    assert list(body["probabilities"]) == meta["classes"] and body["predicted"] == meta["classes"][want.argmax()]
    assert body["input_png"].startswith("data:image/png;base64,")
    t = image_api.get("/templates.png")
    assert t.status_code == 200 and t.headers["content-type"] == "image/png" and t.content[:4] == b"\x89PNG"


def test_bad_images_get_a_4xx_with_a_json_error(image_api):
    def post(data, name="f.png"):
        return image_api.post("/api/classify", files={"image": (name, data)})

    r = post(b"this is not an image at all", "notes.txt")
    assert r.status_code == 415 and "not an image" in r.json()["error"]
    r = post(b"")
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = post(png_bytes()[:60])  # a truncated PNG
    assert 400 <= r.status_code < 500 and r.json()["error"]
    r = post(os.urandom(1024) * (50 * 1024))  # 50 MB
    assert r.status_code == 413 and "MB" in r.json()["error"]
    r = post(png_bytes(7000, 7000, mode="1"))  # 49 megapixels in a small file
    assert r.status_code == 413 and "pixels" in r.json()["error"]
    assert image_api.post("/api/classify").status_code == 422
    assert image_api.get("/api/predict", params={"name": "x"}).status_code == 404


def test_mlp_has_no_templates_and_cli_errors(runs, tmp_path):
    api = TestClient(create_app(runs["mlp"]))
    assert api.get("/templates.png").status_code == 404
    assert "Class templates" not in api.get("/").text
    r = api.post("/api/classify", files={"image": ("x.png", png_bytes())})
    assert r.status_code == 200 and len(r.json()["probabilities"]) == 10
    res = CliRunner().invoke(cli_app, ["serve", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output


def test_cli_serves_on_loopback_until_stopped(runs):
    """``handgrad serve RUN --port P`` as a user runs it: a real process answering on 127.0.0.1."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", "from handgrad.cli import app; app()", "serve", str(runs["surnames"]),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, info = time.monotonic() + 30, None
        while info is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=2) as r:
                    info = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert info is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert info["name"] == "tiny-surnames"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out


# -- under load ----------------------------------------------------------------------------------
def _expected_cases(n: int) -> list[tuple[str, dict, int]]:
    """n requests, good and bad mixed: (method, httpx keyword arguments, the status it must get)."""
    kinds = [
        ("GET", {"params": {"name": "Tadomoto"}}, 200),
        ("POST", {"json": {"names": ["Bellini", "Kossmann", "Tadomoto"] * 30}}, 200),
        ("GET", {"params": {"name": "Tadomoto7"}}, 400),  # a digit
        ("GET", {"params": {"name": ""}}, 400),
        ("POST", {"content": b'{"names": ["Bellini",', "headers": {"content-type": "application/json"}}, 422),
        ("POST", {"json": {"names": ["Bellini", "x" * 150]}}, 422),
        ("POST", {"json": {"names": ["Bellini"] * 1001}}, 413),
        ("GET", {"params": {"name": "Rossé"}}, 400),
        ("POST", {"json": {"names": "Bellini"}}, 422),
        ("GET", {"params": {"name": "Kossmann"}}, 200),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def test_hundreds_of_concurrent_requests_each_get_their_own_status(runs):
    """A real uvicorn on a loopback port, 32 clients at once, 400 requests good and bad mixed: every
    good one 200 with the numbers a lone request gets, every bad one its 4xx, never a 5xx."""
    import httpx

    app = create_app(runs["surnames"])
    alone = {n: served_predict(app.state.model, [n])[0] for n in ("Tadomoto", "Kossmann", "Bellini")}
    srv = BackgroundServer(app)
    cases = _expected_cases(400)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as client, ThreadPoolExecutor(32) as pool:
            responses = list(pool.map(lambda c: client.request(c[0], "/api/predict", **c[1]), cases))
    finally:
        srv.close()
    wrong = [(c[0], str(c[1])[:60], c[2], r.status_code, r.text[:120]) for c, r in zip(cases, responses)
             if r.status_code != c[2]]
    assert not wrong, wrong
    for c, r in zip(cases, responses):
        if r.status_code != 200:
            assert r.json()["error"]
            continue
        got = [r.json()] if c[0] == "GET" else r.json()["results"]
        for g in got:  # batched with other requests: the same class, the same probabilities up to rounding
            want = alone[g["name"]]
            assert g["predicted"] == want["predicted"]
            assert max(abs(g["probabilities"][k] - v) for k, v in want["probabilities"].items()) < 1e-5
    assert app.state.batcher.batches >= 1


def test_the_batcher_runs_waiting_requests_together_and_keeps_their_errors_apart():
    """Requests that queue up while a pass runs make one pass; a bad item fails its own request only."""
    from handgrad.serve.batching import Batcher

    started, release, calls = threading.Event(), threading.Event(), []

    def fn(items):
        calls.append(list(items))
        if len(calls) == 1:
            started.set()
            release.wait(10)
        if "bad" in items:
            raise ValueError("bad item")
        return [x.upper() for x in items]

    batcher = Batcher(fn)

    async def main():
        first = asyncio.ensure_future(batcher(["a"]))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        rest = [asyncio.ensure_future(batcher(items)) for items in (["b", "c"], ["bad"], ["d"])]
        await asyncio.sleep(0.05)  # all three are queued behind the first pass
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        out = asyncio.run(main())
    finally:
        batcher.close()
    assert out[0] == ["A"] and out[1] == ["B", "C"] and out[3] == ["D"]
    assert isinstance(out[2], ValueError)
    assert calls[1] == ["b", "c", "bad", "d"]  # the three waiting requests: one pass
    assert calls[2:] == [["b", "c"], ["bad"], ["d"]]  # it failed: each alone, so only "bad" fails


# -- the page in a real browser ------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    drv = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield drv
    drv.quit()


def test_browser_type_a_name_and_see_the_language(runs, browser):
    from selenium.webdriver.common.by import By

    srv = BackgroundServer(create_app(runs["surnames"]))
    try:
        browser.get(srv.url + "/")
        box = browser.find_element(By.ID, "name")
        box.send_keys("Kossmann")
        predicted = wait(browser, lambda d: d.find_elements(By.ID, "predicted"))[0].text
        assert predicted == predict_names(runs["surnames"], ["Kossmann"])[0]["predicted"] == "German"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == len(LANGUAGES)
        assert "tiny-surnames" in browser.find_element(By.TAG_NAME, "h1").text
        assert "trained" in browser.find_element(By.CSS_SELECTOR, "aside.info").text

        # a bad name: the error is shown, with the folded form offered
        box.clear()
        box.send_keys("Rossé")
        err = wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed() and d.find_element(By.ID, "error"))
        assert "outside the model's alphabet" in err.text and not browser.find_elements(By.ID, "predicted")
        browser.find_element(By.ID, "use-suggestion").click()
        wait(browser, lambda d: d.find_elements(By.ID, "predicted") and not d.find_element(By.ID, "error").is_displayed())
        assert browser.find_element(By.ID, "name").get_attribute("value") == "rosse"

        # a 10,000-character name: set at once (typing it would take minutes), then the input event
        browser.execute_script("const b = document.getElementById('name'); b.value = 'a'.repeat(10000);"
                               "b.dispatchEvent(new Event('input'));")
        err = wait(browser, lambda d: "10,000 characters" in d.find_element(By.ID, "error").text
                    and d.find_element(By.ID, "error"))
        assert err.is_displayed()
    finally:
        srv.close()


@pytest.mark.browser
def test_browser_choose_an_image_and_see_the_classes(runs, browser, tmp_path):
    from selenium.webdriver.common.by import By

    img, txt = tmp_path / "photo.png", tmp_path / "notes.txt"
    img.write_bytes(png_bytes(120, 90))
    txt.write_text("not an image")
    srv = BackgroundServer(create_app(runs["linear"]))
    try:
        browser.get(srv.url + "/")
        browser.find_element(By.ID, "image").send_keys(str(img))
        predicted = wait(browser, lambda d: d.find_elements(By.ID, "predicted"))[0].text
        with TestClient(create_app(runs["linear"])) as api:
            want = api.post("/api/classify", files={"image": ("p.png", img.read_bytes())}).json()["predicted"]
        assert predicted == want
        assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == 10
        assert browser.find_element(By.ID, "seen").is_displayed()
        assert browser.execute_script("return document.querySelector('img.templates').naturalWidth") > 0

        browser.find_element(By.ID, "image").send_keys(str(txt))
        err = wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed() and d.find_element(By.ID, "error"))
        assert "not an image" in err.text and not browser.find_element(By.ID, "seen").is_displayed()

        big = tmp_path / "huge.png"  # 50 MB (sparse on disk): refused with a message, not sent
        with open(big, "wb") as f:
            f.truncate(50 * 2**20)
        browser.find_element(By.ID, "image").send_keys(str(big))
        wait(browser, lambda d: "50.0 MB" in d.find_element(By.ID, "error").text)
    finally:
        srv.close()


def test_broken_json_is_named(names_api):
    r = names_api.post("/api/predict", content=b'{"names": ["lee",', headers={"content-type": "application/json"})
    assert r.status_code == 422  # the status it always had; the message now says what is wrong
    assert "not valid JSON" in r.json()["error"] and '{"names"' in r.json()["error"]


def test_favicon_is_served(names_api):
    r = names_api.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon"' in names_api.get("/").text


def test_serve_checks_the_run_before_it_says_it_serves(tmp_path):
    r = CliRunner().invoke(cli_app, ["serve", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "does not exist" in r.output and "serving" not in r.output


def test_a_digit_is_explained_and_the_alphabet_shown_visibly(names_api):
    err = names_api.get("/api/predict", params={"name": "smith2"}).json()["error"]
    assert "'2'" in err and "digits are not in the alphabet" in err
    assert "␣" not in err or "␣ is the space" in err


@pytest.mark.browser
def test_browser_console_has_no_errors(runs, browser):
    """The page loads without a console error (a missing favicon was a 404 in every browser)."""
    from selenium.webdriver.common.by import By

    srv = BackgroundServer(create_app(runs["surnames"]))
    try:
        browser.get_log("browser")  # drop what earlier pages left
        browser.get(srv.url + "/")
        browser.find_element(By.ID, "name").send_keys("lee")
        wait(browser, lambda d: d.find_elements(By.ID, "predicted"))
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        srv.close()


def test_predict_reads_the_run_once_and_predicts_a_long_file_in_a_few_batched_passes(runs, tmp_path, monkeypatch):
    """10,000 names from --file: one load of the run folder, then passes of 4,096 names."""
    from handgrad import predict as predict_mod
    from handgrad.cli import model_cmds

    loads, passes = [], []
    real_load, real_proba = predict_mod.load_predictor, predict_mod.Predictor.proba
    monkeypatch.setattr(predict_mod, "load_predictor", lambda d: loads.append(d) or real_load(d))
    monkeypatch.setattr(predict_mod.Predictor, "proba", lambda self, names: passes.append(len(names)) or
                        real_proba(self, names))
    names = [f"{stem}{suffix}" for stem in ("tado", "belli", "koss", "abe") for suffix in SUFFIXES] * 834
    (tmp_path / "names.txt").write_text("\n".join(names[:10_000]) + "\n")
    r = CliRunner().invoke(cli_app, ["predict", str(runs["surnames"]), "--file", str(tmp_path / "names.txt"),
                                     "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)) == 10_000
    assert len(loads) == 1 and passes == [model_cmds.PREDICT_CHUNK] * 2 + [10_000 - 2 * model_cmds.PREDICT_CHUNK]
