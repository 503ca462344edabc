"""The screenshots under docs/, taken in headless chromium (Debian's chromium and chromium-driver,
selenium from the dev extra), as the browser tests drive it.

    .venv/bin/python docs/screenshots.py serve SURNAME_RUN_DIR [CIFAR_RUN_DIR IMAGE]
    .venv/bin/python docs/screenshots.py site SITE_DIR

``serve``: types a surname into the surname page, and chooses IMAGE on the CIFAR-10 page; writes
docs/serve-surnames.png and docs/serve-cifar10.png. ``site``: the first tutorial's page of a built
site (``make docs``), scrolled to its learning curves; writes docs/tutorial-page.png.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


DOCS = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def _driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in FLAGS + [f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"]:
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def _save(drv, out: Path) -> None:
    drv.save_screenshot(str(out))
    with Image.open(out) as im:  # 256 colours: a third of the bytes, no visible change
        small = im.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small.save(out, optimize=True)
    print(f"wrote {out}")


def shoot(run_dir: str, out: Path, act, height: int) -> None:
    from handgrad.serve.app import BackgroundServer, create_app

    srv = BackgroundServer(create_app(run_dir))
    drv = _driver()
    try:
        drv.set_window_size(1100, height)
        drv.get(srv.url + "/")
        act(drv)
        WebDriverWait(drv, 20).until(lambda d: d.find_elements(By.ID, "predicted"))
        _save(drv, out)
    finally:
        drv.quit()
        srv.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def shoot_site(site_dir: str, out: Path) -> None:
    """The first tutorial's page, scrolled so that its training and learning curves show."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=site_dir))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    drv = _driver()
    try:
        drv.set_window_size(1280, 1000)
        drv.get(f"http://127.0.0.1:{srv.server_address[1]}/tutorials/01_first_classifier/")
        WebDriverWait(drv, 20).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('.jupyter-wrapper img')].every(i => i.complete && i.naturalWidth)"))
        drv.execute_script("document.getElementById('training').scrollIntoView()")
        time.sleep(1.0)  # the header's title swaps with an animation when the page scrolls
        _save(drv, out)
    finally:
        drv.quit()
        srv.shutdown()


def main(argv: list[str]) -> int:
    if argv[:1] == ["site"] and len(argv) == 2:
        shoot_site(argv[1], DOCS / "tutorial-page.png")
        return 0
    if argv[:1] != ["serve"] or len(argv) not in (2, 4):
        print(__doc__, file=sys.stderr)
        return 2
    shoot(argv[1], DOCS / "serve-surnames.png", lambda d: d.find_element(By.ID, "name").send_keys("Gonzales"),
          800)
    if len(argv) == 4:
        image = str(Path(argv[3]).resolve())
        shoot(argv[2], DOCS / "serve-cifar10.png", lambda d: d.find_element(By.ID, "image").send_keys(image),
              1130)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
