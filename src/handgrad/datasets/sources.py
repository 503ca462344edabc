"""Where the data sets live: a local folder named by HANDGRAD_DATA, or a checked download.

Two ways to provide the data:

1. ``HANDGRAD_DATA=/some/folder`` with the layout::

       /some/folder/
           cifar-10-batches-py/     data_batch_1..5, test_batch, batches.meta
                                    (or the archive cifar-10-python.tar.gz instead)
           surnames/

   Nothing is downloaded; a missing piece is an error that names it.

2. ``HANDGRAD_DATA`` not set: each data set is downloaded once from its official
   URL into the user cache (``pooch.os_cache("handgrad")``, or ``HANDGRAD_CACHE``),
   checked against a known hash, and unpacked there.

Downloadable files are listed in ``SOURCES``; ``fetch(name)`` gets one of them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # pooch imports tqdm.auto, which in a notebook without ipywidgets warns that it falls back to a
    # text progress bar; a text bar is what a download needs, so the warning is noise on every page
    warnings.filterwarnings("ignore", message="IProgress not found")
    import pooch

from handgrad.errors import HandgradError

DATA_ENV = "HANDGRAD_DATA"
CACHE_ENV = "HANDGRAD_CACHE"

CIFAR10_FOLDER = "cifar-10-batches-py"


@dataclass(frozen=True)
class Source:
    """One downloadable file: where it comes from and how to check it.

    ``known_hash`` uses pooch's format, ``"md5:<hex>"`` or ``"sha256:<hex>"``.
    If ``untar`` is set, the file is a tar archive and ``fetch`` unpacks it and
    returns the folder of that name inside it; otherwise ``fetch`` returns the file.
    """

    title: str
    url: str
    known_hash: str
    size: str = "size unknown"  # human-readable, only for the message before downloading
    untar: str | None = None

    @property
    def filename(self) -> str:
        """The file name the download is stored under (the last part of the URL)."""
        return self.url.rsplit("/", 1)[-1]


SOURCES: dict[str, Source] = {
    "cifar10": Source(
        title="CIFAR-10",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        known_hash="md5:c58f30108f718f92721af3b95e74349a",
        size="163 MB",
        untar=CIFAR10_FOLDER,
    ),
}


def data_home() -> Path | None:
    """The folder named by HANDGRAD_DATA, or None if the variable is not set (or empty)."""
    value = os.environ.get(DATA_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        problem = "is not a directory" if path.exists() else "does not exist"
        raise HandgradError(
            f"{DATA_ENV}={value}: {path} {problem}. Point {DATA_ENV} at a folder holding "
            f"{CIFAR10_FOLDER}/ and surnames/, or unset it to download the data."
        )
    return path


def cache_dir() -> Path:
    """Where downloads are kept: HANDGRAD_CACHE if set, else the user cache for handgrad."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path(pooch.os_cache("handgrad"))


def cifar10_dir(download: bool = True) -> Path:
    """Location of CIFAR-10: the ``cifar-10-batches-py`` folder, or the official tar.gz.

    With HANDGRAD_DATA set, returns ``$HANDGRAD_DATA/cifar-10-batches-py`` or, if only
    the archive is there, ``$HANDGRAD_DATA/cifar-10-python.tar.gz`` (read without
    unpacking). Otherwise downloads into the cache (unless ``download`` is False).
    """
    home = data_home()
    if home is None:
        return fetch("cifar10", download=download)
    folder = home / CIFAR10_FOLDER
    if folder.is_dir():
        return folder
    archive = home / SOURCES["cifar10"].filename
    if archive.is_file():
        return archive
    raise HandgradError(
        f"{DATA_ENV}={home} has no CIFAR-10: {folder} does not exist. Expected layout: "
        f"{folder}/ holding data_batch_1 ... data_batch_5, test_batch and batches.meta "
        f"(the official python version), or the official archive {archive}. "
        f"Unset {DATA_ENV} to download CIFAR-10 instead."
    )


def fetch(name: str, download: bool = True) -> Path:
    """Path of the registered source ``name`` in the cache, downloading it if needed.

    Returns the unpacked folder for tar sources (``Source.untar``), else the file.
    Raises HandgradError on an unknown name, a failed download or a hash mismatch,
    or if the data is not cached and ``download`` is False.
    """
    if name not in SOURCES:
        raise HandgradError(f"unknown data source {name!r}; known sources: {', '.join(sorted(SOURCES))}")
    source = SOURCES[name]
    cache = cache_dir()
    archive = cache / source.filename
    target = cache / source.untar if source.untar else archive
    # Both the download and the unpacking end with a rename, so existing means complete.
    if target.exists():
        return target
    if not download:
        raise HandgradError(
            f"{source.title} is not available: {DATA_ENV} is not set and {target} does not exist, "
            f"and downloading is turned off. Set {DATA_ENV} to a folder holding the data, "
            "or allow the download."
        )
    if not archive.exists():
        why = "" if os.environ.get(DATA_ENV) else f"{DATA_ENV} is not set; "
        algorithm, digest = source.known_hash.split(":")
        print(
            f"handgrad: {why}downloading {source.title} ({source.size}) from {source.url} "
            f"into {cache}, checking {algorithm} {digest}",
            file=sys.stderr,
        )
    _retrieve(source, cache)
    if source.untar:
        print(f"handgrad: unpacking {archive} into {target}", file=sys.stderr)
        _untar(archive, source.untar)
    return target


def _downloader(url: str):
    """The pooch downloader for ``url``; the only thing that touches the network (tests replace it)."""
    return pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=60)


def _retrieve(source: Source, cache: Path) -> Path:
    """Download ``source`` into ``cache`` unless a copy with the right hash is there."""
    try:
        # pooch downloads to a temporary file and renames it only if the hash matches.
        path = pooch.retrieve(
            source.url,
            known_hash=source.known_hash,
            fname=source.filename,
            path=cache,
            downloader=_downloader(source.url),
        )
    except ValueError as err:
        if "does not match the known hash" not in str(err):
            raise
        raise HandgradError(_mismatch_message(source, cache, str(err))) from None
    except OSError as err:  # requests' exceptions are OSErrors too: no network, HTTP 404, ...
        raise HandgradError(
            f"could not download {source.title} from {source.url} into {cache}: {err}. "
            f"Check the network connection, or download the file yourself and set "
            f"{DATA_ENV} to the folder that holds it."
        ) from err
    return Path(path)


def _mismatch_message(source: Source, cache: Path, pooch_message: str) -> str:
    algorithm, expected = source.known_hash.split(":")
    # pooch deletes the bad file, so the actual hash is only known from its message.
    match = re.search(r"but got ([0-9a-fA-F]+)", pooch_message)
    actual = match.group(1) if match else "unknown"
    return (
        f"checksum mismatch for {source.filename} downloaded from {source.url}: expected "
        f"{algorithm} {expected}, got {actual}. The download was corrupted or the file on "
        f"the server has changed; the bad copy was deleted from {cache}. Run again to retry; "
        f"if it keeps failing, download the file yourself, check it, and set {DATA_ENV} "
        "to the folder that holds it."
    )


def _untar(archive: Path, folder: str) -> Path:
    """Unpack the tar ``archive`` next to itself; return its top-level ``folder``.

    Unpacks into a temporary folder first and renames the result into place, so an
    interrupted run never leaves a half-unpacked folder that looks complete.
    """
    cache = archive.parent
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{folder}."))
    try:
        try:
            with tarfile.open(archive) as tar:
                _safe_extractall(tar, tmp, archive)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise HandgradError(f"cannot unpack {archive}: {err}. Delete it and run again.") from err
        if not (tmp / folder).is_dir():
            raise HandgradError(f"{archive} does not contain the folder {folder}/")
        os.replace(tmp / folder, cache / folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache / folder


def _safe_extractall(tar: tarfile.TarFile, dest: Path, archive: Path) -> None:
    """Extract every member of ``tar`` into ``dest``, refusing anything that could land outside."""
    if hasattr(tarfile, "data_filter"):
        # Refuses absolute paths, "..", links pointing out of dest, and device files.
        tar.extractall(dest, filter="data")
        return
    # Python < 3.11.4 has no extraction filters: allow only plain files and folders.
    for member in tar.getmembers():
        name = Path(member.name)
        if not (member.isfile() or member.isdir()) or name.is_absolute() or ".." in name.parts:
            raise HandgradError(f"refusing to unpack {archive}: unsafe member {member.name!r}")
    tar.extractall(dest)
