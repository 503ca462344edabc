"""The README's screenshots of ``handgrad serve``, taken in headless chromium (Debian's chromium and
chromium-driver, selenium from the dev extra).

    .venv/bin/python docs/screenshots.py SURNAME_RUN_DIR [CIFAR_RUN_DIR IMAGE]

Types a surname into the surname page, and chooses IMAGE on the CIFAR-10 page; writes
docs/serve-surnames.png and docs/serve-cifar10.png.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from handgrad.serve.app import BackgroundServer, create_app

DOCS = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def shoot(run_dir: str, out: Path, act, height: int) -> None:
    srv = BackgroundServer(create_app(run_dir))
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in FLAGS + [f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"]:
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        drv.set_window_size(1100, height)
        drv.get(srv.url + "/")
        act(drv)
        WebDriverWait(drv, 20).until(lambda d: d.find_elements(By.ID, "predicted"))
        drv.save_screenshot(str(out))
        with Image.open(out) as im:  # 256 colours: a third of the bytes, no visible change
            small = im.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
        small.save(out, optimize=True)
        print(f"wrote {out}")
    finally:
        drv.quit()
        srv.close()


def main(argv: list[str]) -> int:
    shoot(argv[0], DOCS / "serve-surnames.png", lambda d: d.find_element(By.ID, "name").send_keys("Gonzales"),
          800)
    if len(argv) >= 3:
        image = str(Path(argv[2]).resolve())
        shoot(argv[1], DOCS / "serve-cifar10.png", lambda d: d.find_element(By.ID, "image").send_keys(image),
              1130)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
