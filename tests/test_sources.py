"""Where data comes from: HANDGRAD_DATA, and the checked download (offline: the network is faked)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import tarfile

import pytest
import requests

from fakes import make_fake_cifar, make_fake_cifar_tar
from handgrad.datasets import sources
from handgrad.datasets.cifar import load_cifar10
from handgrad.errors import HandgradError

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No HANDGRAD_DATA, a fresh cache, and any attempt to download fails the test."""
    monkeypatch.delenv("HANDGRAD_DATA", raising=False)
    monkeypatch.setenv("HANDGRAD_CACHE", str(tmp_path / "cache"))

    def no_network(url):
        pytest.fail(f"a test tried to download {url}")

    monkeypatch.setattr(sources, "_downloader", no_network)


def serve(monkeypatch, local_file, calls=None):
    """Make downloads copy ``local_file`` instead of using the network; record URLs in ``calls``."""

    def downloader(url):
        def download(url, output_file, pooch):
            if calls is not None:
                calls.append(url)
            shutil.copyfile(local_file, output_file)

        return download

    monkeypatch.setattr(sources, "_downloader", downloader)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_tar(tmp_path):
    return make_fake_cifar_tar(tmp_path / "served" / "cifar-10-python.tar.gz", n_per_batch=10)


# --- HANDGRAD_DATA ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_data_home_unset(monkeypatch, value):
    if value is not None:
        monkeypatch.setenv("HANDGRAD_DATA", value)
    assert sources.data_home() is None


def test_data_home_set(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path))
    assert sources.data_home() == tmp_path


def test_data_home_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path / "nope"))
    with pytest.raises(HandgradError, match=f"HANDGRAD_DATA={tmp_path / 'nope'}: .* does not exist"):
        sources.data_home()


def test_data_home_not_a_directory(monkeypatch, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path / "file.txt"))
    with pytest.raises(HandgradError, match=f"HANDGRAD_DATA={tmp_path / 'file.txt'}: .* is not a directory"):
        sources.cifar10_dir()


def test_cifar10_dir_finds_the_folder(monkeypatch, tmp_path):
    folder = make_fake_cifar(tmp_path, n_per_batch=10)
    make_fake_cifar_tar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=10)
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path))
    assert sources.cifar10_dir() == folder  # the folder wins over the archive


def test_cifar10_dir_accepts_the_archive(monkeypatch, tmp_path):
    tar = make_fake_cifar_tar(tmp_path / "cifar-10-python.tar.gz", n_per_batch=10)
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path))
    assert sources.cifar10_dir() == tar
    assert load_cifar10("a1").test.n == 10


def test_cifar10_dir_missing_folder_explains_the_layout(monkeypatch, tmp_path):
    (tmp_path / "surnames").mkdir()
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path))
    with pytest.raises(HandgradError) as info:
        sources.cifar10_dir()
    message = str(info.value)
    assert f"{tmp_path / 'cifar-10-batches-py'} does not exist" in message
    assert "data_batch_1 ... data_batch_5, test_batch and batches.meta" in message
    assert "cifar-10-python.tar.gz" in message


# --- downloading (faked) --------------------------------------------------------------------


def test_download_checks_unpacks_and_caches(monkeypatch, tmp_path, fake_tar, capsys):
    known = f"md5:{md5(fake_tar)}"
    monkeypatch.setitem(sources.SOURCES, "cifar10", dataclasses.replace(sources.SOURCES["cifar10"], known_hash=known))
    calls = []
    serve(monkeypatch, fake_tar, calls)

    folder = sources.cifar10_dir()
    assert folder == tmp_path / "cache" / "cifar-10-batches-py"
    assert calls == [OFFICIAL_URL]
    err = capsys.readouterr().err
    assert (
        f"handgrad: HANDGRAD_DATA is not set; downloading CIFAR-10 (163 MB) from {OFFICIAL_URL} "
        f"into {tmp_path / 'cache'}, checking md5 {md5(fake_tar)}"
    ) in err
    assert load_cifar10("all", n_val=5, root=folder).train.n == 45

    # Second time: from the cache, silently, without downloading.
    assert sources.cifar10_dir() == folder
    assert calls == [OFFICIAL_URL]
    assert "downloading" not in capsys.readouterr().err
    assert not list((tmp_path / "cache").glob(".*"))  # no temporary leftovers


def test_checksum_mismatch(monkeypatch, tmp_path, fake_tar):
    serve(monkeypatch, fake_tar)  # serves a file that is not the official archive
    with pytest.raises(HandgradError) as info:
        sources.cifar10_dir()
    message = str(info.value)
    assert f"checksum mismatch for cifar-10-python.tar.gz downloaded from {OFFICIAL_URL}" in message
    assert f"expected md5 {OFFICIAL_MD5}, got {md5(fake_tar)}" in message
    assert "Run again to retry" in message and "HANDGRAD_DATA" in message
    assert not (tmp_path / "cache" / "cifar-10-python.tar.gz").exists()
    assert not (tmp_path / "cache" / "cifar-10-batches-py").exists()


def test_network_failure_names_the_url(monkeypatch):
    def downloader(url):
        def download(url, output_file, pooch):
            raise requests.exceptions.ConnectionError("Name or service not known")

        return download

    monkeypatch.setattr(sources, "_downloader", downloader)
    with pytest.raises(HandgradError, match=f"could not download CIFAR-10 from {OFFICIAL_URL} .*Name or service"):
        sources.cifar10_dir()


def test_no_download_when_turned_off(tmp_path):
    with pytest.raises(HandgradError, match=f"{tmp_path / 'cache' / 'cifar-10-batches-py'} does not exist, and downloading is turned off"):
        sources.cifar10_dir(download=False)


def test_unsafe_archive_is_not_unpacked(monkeypatch, tmp_path):
    evil = tmp_path / "served" / "cifar-10-python.tar.gz"
    evil.parent.mkdir()
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    known = f"md5:{md5(evil)}"
    monkeypatch.setitem(sources.SOURCES, "cifar10", dataclasses.replace(sources.SOURCES["cifar10"], known_hash=known))
    serve(monkeypatch, evil)
    with pytest.raises(HandgradError, match="cannot unpack"):
        sources.cifar10_dir()
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "cache" / "cifar-10-batches-py").exists()


def test_fetch_a_plain_file(monkeypatch, tmp_path):
    served = tmp_path / "names.txt"
    served.write_text("Smith 1\n")
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    source = sources.Source(title="names", url="https://example.invalid/data/names.txt", known_hash=f"sha256:{digest}")
    monkeypatch.setitem(sources.SOURCES, "names", source)
    serve(monkeypatch, served)
    path = sources.fetch("names")
    assert path == tmp_path / "cache" / "names.txt"
    assert path.read_text() == "Smith 1\n"


def test_fetch_unknown_name():
    with pytest.raises(HandgradError, match="unknown data source 'mnist'; known sources: .*cifar10"):
        sources.fetch("mnist")
