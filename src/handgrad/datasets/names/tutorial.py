"""Where surnames come from: the course files under ``$HANDGRAD_DATA/surnames/``, or the PyTorch
tutorial's public names archive (downloaded once into the cache with pooch, its sha256 recorded and
checked, names folded to ASCII, a balanced validation split drawn from a seeded Generator)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pooch

import handgrad.datasets.sources as sources
from handgrad.datasets.names.files import VAL_PER_CLASS, SurnameData, load_surnames
from handgrad.errors import HandgradError
from handgrad.io import atomic_write_text

TUTORIAL_URL = "https://download.pytorch.org/tutorial/data.zip"
TUTORIAL_N_CLASSES = 18

# ---------------------------------------------------------------------------------------------
# The PyTorch tutorial's names archive
# ---------------------------------------------------------------------------------------------
# letters that NFD does not decompose into an ASCII base + combining mark
SPECIAL = {"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_KEEP = set("abcdefghijklmnopqrstuvwxyz '")


def to_ascii(name: str) -> str:
    """Fold a name to the course's alphabet: lowercase, NFD with combining marks dropped, a few
    undecomposable letters spelled out (ß -> ss, ø -> o, ...), and only a-z, space and apostrophe kept.

    >>> to_ascii("Müller-Lüdenscheidt")
    'mullerludenscheidt'
    """
    s = unicodedata.normalize("NFD", name.strip().lower())
    s = "".join(SPECIAL.get(ch, ch) for ch in s if unicodedata.category(ch) != "Mn")
    return "".join(ch for ch in s if ch in _KEEP).strip()


_MEMBER = re.compile(r"(?:^|/)names/([^/]+)\.txt$")


def build_from_tutorial_zip(zip_path: Path | str, seed: int = 0, *, val_per_class: int = VAL_PER_CLASS
                            ) -> SurnameData:
    """Build a SurnameData from the tutorial archive (``data/names/<Language>.txt``, 18 languages).

    Names are folded with ``to_ascii`` (names that fold to nothing are dropped); labels follow the
    alphabetical order of the languages, as in the course; the validation split takes
    ``val_per_class`` names of every class, drawn without replacement by
    ``numpy.random.default_rng(seed)``, and is stored in ascending index order.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise HandgradError(f"names archive {zip_path} does not exist")
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise HandgradError(f"{zip_path} is not a zip archive") from None
    with zf:
        # macOS archivers add __MACOSX/.../._Name.txt resource forks: not language files
        members = {m.group(1): info for info in zf.infolist()
                   if (m := _MEMBER.search(info.filename)) and "__MACOSX" not in info.filename
                   and not m.group(1).startswith("._")}
        if len(members) != TUTORIAL_N_CLASSES:
            raise HandgradError(
                f"{zip_path}: expected {TUTORIAL_N_CLASSES} language files names/<Language>.txt, found "
                f"{len(members)}: {sorted(members)}")
        classes = sorted(members)
        names: list[str] = []
        labels: list[int] = []
        for y, lang in enumerate(classes):
            raw = zf.read(members[lang]).decode("utf-8", errors="replace").splitlines()
            folded = [n for n in (to_ascii(line) for line in raw) if n]
            if not folded:
                raise HandgradError(f"{zip_path}: {members[lang].filename} holds no names")
            names += folded
            labels += [y] * len(folded)
    labels_arr = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    val = []
    for y, lang in enumerate(classes):
        idx = np.flatnonzero(labels_arr == y)
        if len(idx) <= val_per_class:
            raise HandgradError(
                f"{zip_path}: {lang} has {len(idx)} names, too few for {val_per_class} validation names "
                "and a non-empty training set")
        val.append(rng.choice(idx, size=val_per_class, replace=False))
    val_idx = np.sort(np.concatenate(val))
    return SurnameData(names, labels_arr, classes, val_idx, source=f"{zip_path} (seed {seed})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_tutorial_zip(cache_dir: Path | str | None = None, *, url: str = TUTORIAL_URL) -> Path:
    """Fetch the tutorial's names archive into the cache (once) and return its path.

    The upstream publishes no checksum, so pooch downloads without one (``known_hash=None``); the
    archive's sha256 is recorded in ``<archive>.sha256.json`` beside it on first use, and a later
    call warns if the file in the cache no longer matches what was recorded.
    """
    path = Path(cache_dir) if cache_dir is not None else Path(pooch.os_cache("handgrad"))
    try:
        fname = pooch.retrieve(url, known_hash=None, fname="pytorch-tutorial-data.zip", path=path,
                               progressbar=False)
    except Exception as e:  # pooch raises requests/OS errors; the user needs the URL and the cause
        raise HandgradError(f"could not download the names archive from {url}: {e}") from None
    fname = Path(fname)
    digest = _sha256(fname)
    record = fname.with_name(fname.name + ".sha256.json")
    if record.is_file():
        try:  # a damaged record is written again
            old = json.loads(record.read_text(encoding="utf-8")).get("sha256")
        except (OSError, ValueError, AttributeError):
            old = None
        if old is not None and old != digest:
            warnings.warn(f"{fname} has sha256 {digest}, but {old} was recorded in {record} when it was "
                          "first downloaded: the archive changed", stacklevel=2)
            return fname
        if old is not None:
            return fname
    atomic_write_text(record, json.dumps({"url": url, "sha256": digest, "bytes": fname.stat().st_size}, indent=2))
    return fname


def load_tutorial_names(seed: int = 0, cache_dir: Path | str | None = None) -> SurnameData:
    """Download (or reuse) the tutorial archive and build the data set from it."""
    return build_from_tutorial_zip(download_tutorial_zip(cache_dir), seed)


# ---------------------------------------------------------------------------------------------
# Which of the two

def resolve_surnames(source: str = "course") -> SurnameData:
    """The surnames data a config asks for.

    ``source="course"``: ``$HANDGRAD_DATA/surnames/`` (the course files). When HANDGRAD_DATA is not
    set or has no ``surnames/`` folder, falls back to the PyTorch tutorial's names archive (downloaded
    once into the cache), with a warning: its validation split is not the course's.
    ``source="tutorial"``: always the tutorial archive (seed-0 balanced split, 14 names per class).
    """
    if source not in ("course", "tutorial"):
        raise HandgradError(f"unknown surnames source {source!r}; choose course or tutorial")
    if source == "course":
        home = sources.data_home()
        folder = home / "surnames" if home is not None else None
        if folder is not None and folder.is_dir():
            return load_surnames(folder)
        where = (f"{sources.DATA_ENV}={home} has no surnames/ folder" if home is not None
                 else f"{sources.DATA_ENV} is not set")
        warnings.warn(f"{where}: using the PyTorch tutorial's names data instead of the course files "
                      "(set data.source = \"tutorial\" to ask for it explicitly)", stacklevel=2)
    return load_tutorial_names(seed=0, cache_dir=sources.cache_dir())
