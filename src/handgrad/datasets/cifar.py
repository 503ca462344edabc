"""CIFAR-10 in its official python format: a safe batch loader and the course's splits.

The official files (https://www.cs.toronto.edu/~kriz/cifar.html) are Python 2
pickles, one per batch of 10000 images, each a dict with bytes keys:

    b"data"      uint8 array (N, 3072). One row is one 32x32 image, channel-first:
                 1024 red values (row-major), then 1024 green, then 1024 blue.
    b"labels"    list of N ints in 0..9, indices into ``CLASSES``.
    b"filenames", b"batch_label"   not used here.

Unpickling can run arbitrary code, so batches are read with an unpickler that only
resolves the three numpy globals a pickled array needs and refuses everything else.

Splits (``load_cifar10``):

    "a1"   train = data_batch_1, val = data_batch_2, test = test_batch
           (10000 / 10000 / 10000; DD2424 Assignment 1).
    "all"  data_batch_1..5 concatenated in that order; the LAST ``n_val`` images are
           the validation set and the rest the training set; test = test_batch.
           Deterministic: no shuffling, so every run sees the same split.

``load_cifar10`` keeps the images uint8 (150 MB for all 50000); ``cifar10`` standardises them
(``handgrad.preprocessing``) into the data set a model trains on.
"""

from __future__ import annotations

import codecs
import os
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

import handgrad.datasets.sources as sources
from handgrad.datasets.dataset import Dataset
from handgrad.errors import HandgradError
from handgrad.preprocessing import Standardizer

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 1.26 has no numpy._core
    from numpy.core.multiarray import _reconstruct

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER = sources.CIFAR10_FOLDER
TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
SPLITS = {
    "a1": "train data_batch_1, val data_batch_2, test test_batch",
    "all": "train+val data_batch_1..5 with the last n_val images as val, test test_batch",
}
DIM = 32 * 32 * 3  # features per image

BatchSource = str | os.PathLike | tuple[str | os.PathLike, str]  # a file, or (tar, member)
_Batch = tuple[np.ndarray, np.ndarray]  # X uint8 (N, 3072), y int64 (N,)


@dataclass(eq=False)
class Part:
    """One part of a split, as stored: ``X`` uint8 (N, 3072) with one image per row, ``y`` (N,) int64."""

    X: np.ndarray
    y: np.ndarray
    name: str

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.y.shape != (self.X.shape[0],):
            raise ValueError(
                f"{self.name!r}: X must be (N, d) and y (N,), got {self.X.shape} and {self.y.shape}"
            )

    @property
    def n(self) -> int:
        """Number of examples N."""
        return self.X.shape[0]


@dataclass(eq=False)
class Splits:
    """Training, validation and test sets, and the class names that the labels index."""

    train: Part
    val: Part
    test: Part
    classes: tuple[str, ...]


# --- reading one batch safely -------------------------------------------------------

# Everything a pickled numpy array needs, and nothing else: (module, name) -> object.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # written by numpy < 2 (the official files)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # written by numpy >= 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3's pickle writes bytes at protocol 2 as _codecs.encode(str, 'latin1'): a batch a
    # user re-saved with pickle.dump needs it; it only converts text to bytes
    ("_codecs", "encode"): codecs.encode,
}


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, qualname: str):
        super().__init__(qualname)
        self.qualname = qualname


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``_ALLOWED_GLOBALS``, so a file cannot run code."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None


def _parse(f: BinaryIO, label: str) -> _Batch:
    """Unpickle and check one batch from the open file ``f``; ``label`` names it in errors."""
    try:
        # encoding="bytes": the official files are Python 2 pickles whose str become bytes.
        batch = _BatchUnpickler(f, encoding="bytes").load()
    except _RefusedGlobal as err:
        raise HandgradError(
            f"refusing to load {label}: it asks for {err.qualname}, "
            "which a CIFAR-10 batch never contains"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, zlib.error) as err:
        raise HandgradError(
            f"cannot read {label}: truncated or corrupt file ({type(err).__name__}: {err})"
        ) from err
    return _check_batch(batch, label)


def _check_batch(batch: object, label: str) -> _Batch:
    """Validate an unpickled batch; return X uint8 (N, 3072) and y int64 (N,)."""
    if not isinstance(batch, dict):
        kind = type(batch).__name__
        raise HandgradError(f"{label} is not a CIFAR-10 batch: it holds a {kind}, not a dict")
    for key in (b"data", b"labels"):
        if key not in batch:
            raise HandgradError(f"{label} has no key {key!r}; keys found: {', '.join(map(repr, batch))}")

    X = batch[b"data"]
    if not (isinstance(X, np.ndarray) and X.dtype == np.uint8 and X.ndim == 2 and X.shape[1] == DIM):
        found = f"{X.dtype} array of shape {X.shape}" if isinstance(X, np.ndarray) else type(X).__name__
        raise HandgradError(
            f"{label}: key b'data' must be a uint8 array of shape (N, {DIM}), found a {found}"
        )

    try:
        y = np.asarray(batch[b"labels"])
    except (ValueError, TypeError):  # e.g. a ragged list
        y = np.asarray(None)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise HandgradError(
            f"{label}: key b'labels' must be a list of ints, found {y.dtype} values of shape {y.shape}"
        )
    if len(y) != len(X):
        raise HandgradError(
            f"{label}: key b'labels' has {len(y)} labels but b'data' has {len(X)} images"
        )
    bad = np.flatnonzero((y < 0) | (y >= len(CLASSES)))
    if bad.size:
        raise HandgradError(
            f"{label}: key b'labels' holds {y[bad[0]]} at index {bad[0]}; "
            f"CIFAR-10 labels are 0..{len(CLASSES) - 1}"
        )
    # Both conversions are no-ops (no copy) for the official files, apart from the labels list.
    return np.ascontiguousarray(X), y.astype(np.int64, copy=False)


def _read_file(path: Path) -> _Batch:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise HandgradError(f"CIFAR-10 batch file {path} does not exist") from None
    except OSError as err:
        raise HandgradError(f"cannot read CIFAR-10 batch file {path}: {err.strerror}") from err
    with f:
        return _parse(f, str(path))


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except FileNotFoundError:
        raise HandgradError(f"CIFAR-10 archive {path} does not exist") from None
    except (tarfile.TarError, OSError, EOFError) as err:
        raise HandgradError(f"{path} is not a readable tar archive: {err}") from err


def _member_name(info: tarfile.TarInfo) -> str:
    return info.name.removeprefix("./")


def load_batch(source: BatchSource) -> tuple[np.ndarray, np.ndarray]:
    """Load one CIFAR-10 batch file.

    ``source`` is the path of a batch file, or ``(tar_path, member)`` for a member of a
    tar archive such as ``("cifar-10-python.tar.gz", "cifar-10-batches-py/test_batch")``.

    Returns ``X`` uint8 (N, 3072), rows channel-first (1024 R, 1024 G, 1024 B), and
    ``y`` int64 (N,) in 0..9. Raises HandgradError if the file is missing, corrupt,
    asks for anything but numpy arrays, or has the wrong keys or shapes.
    """
    if not isinstance(source, tuple):
        return _read_file(Path(source))
    tar_path, member = Path(source[0]), source[1]
    _, batch = next(_iter_tar(tar_path, (member,)))  # stops reading after the member
    return batch


# --- reading several batches from a folder or the official archive --------------------------


def _iter_folder(folder: Path, names: tuple[str, ...]) -> Iterator[tuple[str, _Batch]]:
    # Check every file first, so a missing one fails before seconds of loading.
    for name in names:
        if not (folder / name).is_file():
            raise HandgradError(
                f"CIFAR-10 batch file {folder / name} is missing; {folder} should hold "
                "data_batch_1 ... data_batch_5 and test_batch (the official python version)"
            )
    for name in names:
        yield name, _read_file(folder / name)


def _iter_tar(path: Path, names: tuple[str, ...], prefix: str = "") -> Iterator[tuple[str, _Batch]]:
    # Members are read in archive order, in one pass over the gzip stream (no seeking back).
    wanted = {prefix + name: name for name in names}  # member name -> batch name
    with _open_tar(path) as tar:
        try:
            for info in tar:
                member = _member_name(info)
                if member in wanted and info.isfile():
                    yield wanted.pop(member), _parse(tar.extractfile(info), f"{path}:{member}")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise HandgradError(f"cannot read {path}: truncated or corrupt archive ({err})") from err
    if wanted:
        raise HandgradError(f"archive {path} has no member {min(wanted)}")


def _iter_batches(root: Path, names: tuple[str, ...]) -> Iterator[tuple[str, _Batch]]:
    """Yield ``(name, (X, y))`` for each batch in ``names``, in an order that is cheap to read."""
    if root.is_dir():
        # Also accept the folder above cifar-10-batches-py (e.g. $HANDGRAD_DATA itself).
        if not (root / names[0]).exists() and (root / FOLDER).is_dir():
            root = root / FOLDER
        return _iter_folder(root, names)
    if root.is_file():
        # The official archive holds cifar-10-batches-py/data_batch_1 etc.
        return _iter_tar(root, names, prefix=f"{FOLDER}/")
    raise HandgradError(
        f"CIFAR-10 location {root} does not exist (expected a {FOLDER} folder or cifar-10-python.tar.gz)"
    )


def _load_train_batches(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read data_batch_1..5 into one array (in batch order), plus test_batch.

    Returns X_train uint8 (5n, 3072), y_train int64 (5n,), X_test, y_test. The output
    is allocated once and each batch copied in, so the peak is about 150 MB plus one
    batch, not twice 150 MB as with np.concatenate.
    """
    X = y = test = None
    for name, (Xb, yb) in _iter_batches(root, TRAIN_BATCHES + (TEST_BATCH,)):
        if name == TEST_BATCH:
            test = Xb, yb
            continue
        if X is None:
            n, first = len(Xb), name
            X = np.empty((n * len(TRAIN_BATCHES), DIM), dtype=np.uint8)
            y = np.empty(n * len(TRAIN_BATCHES), dtype=np.int64)
        if len(Xb) != n:
            raise HandgradError(
                f"{root}: {name} holds {len(Xb)} images but {first} holds {n}; the split 'all' "
                "needs the five training batches to be the same size"
            )
        start = TRAIN_BATCHES.index(name) * n
        X[start:start + n] = Xb
        y[start:start + n] = yb
        del Xb, yb  # free this batch before reading the next
    return X, y, *test


def load_cifar10(
    split: str = "a1",
    n_val: int = 1000,
    root: str | os.PathLike | None = None,
    n_train: int | None = None,
) -> Splits:
    """Load CIFAR-10 as uint8 train / val / test sets.

    Parameters
    ----------
    split : "a1" or "all", see the module docstring. "a1": data_batch_1 / data_batch_2 /
        test_batch. "all": the five training batches in order, the last ``n_val`` images
        as validation and the rest as training.
    n_val : validation size for split "all", 1..49999 (not used by "a1").
    root : the ``cifar-10-batches-py`` folder, the folder above it, or the official
        ``cifar-10-python.tar.gz`` (read without unpacking). Default:
        ``sources.cifar10_dir()`` (HANDGRAD_DATA, else a download).
    n_train : keep only the first ``n_train`` training images (for quick runs).

    Returns
    -------
    Splits whose parts hold X uint8 (N, 3072), rows channel-first, and y int64 (N,).
    For "all", train and val are views into one array (no copies).
    """
    if split not in SPLITS:
        valid = "; ".join(f"{name!r} ({what})" for name, what in SPLITS.items())
        raise HandgradError(f"unknown CIFAR-10 split {split!r}; valid splits: {valid}")
    if split == "all" and not 1 <= n_val <= 49999:
        raise HandgradError(f"n_val={n_val} is out of range; it must be between 1 and 49999")
    if n_train is not None and n_train < 1:
        raise HandgradError(f"n_train={n_train} must be at least 1 (or None for all training images)")
    root = Path(root) if root is not None else sources.cifar10_dir()

    if split == "a1":
        batches = dict(_iter_batches(root, ("data_batch_1", "data_batch_2", TEST_BATCH)))
        (X_train, y_train), (X_val, y_val) = batches["data_batch_1"], batches["data_batch_2"]
        X_test, y_test = batches[TEST_BATCH]
    else:
        X, y, X_test, y_test = _load_train_batches(root)
        if n_val >= len(X):
            raise HandgradError(
                f"n_val={n_val} leaves no training images: {root} holds {len(X)} training images"
            )
        X_train, y_train, X_val, y_val = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]

    if n_train is not None:
        if n_train > len(X_train):
            raise HandgradError(
                f"n_train={n_train} is more than the {len(X_train)} training images of split {split!r}"
            )
        X_train, y_train = X_train[:n_train], y_train[:n_train]

    return Splits(
        train=Part(X_train, y_train, f"cifar10-{split}-train"),
        val=Part(X_val, y_val, f"cifar10-{split}-val"),
        test=Part(X_test, y_test, f"cifar10-{split}-test"),
        classes=CLASSES,
    )


def cifar10(split: str = "a1", *, n_val: int = 1000, n_train: int | None = None, dtype=np.float32,
            root: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10, standardised the way the course does it (A1 2020+): pixels divided by 255, then each of
    the 3,072 features centred and scaled by the mean and standard deviation of the *training* images
    only, applied to all three parts.

    ``split``: 'a1' (data_batch_1 / data_batch_2 / test_batch) or 'all' (the five batches minus the
    last ``n_val`` images for validation). ``n_train`` keeps the first training images (quick runs).
    The data comes from $HANDGRAD_DATA, else a checked download (``handgrad.datasets.sources``).
    The returned data set keeps the statistics in ``state`` ("mean", "std", "scale"): a saved model
    standardises new images with them.
    """
    splits = load_cifar10(split, n_val=n_val, n_train=n_train, root=root)
    std = Standardizer().fit(splits.train.X)
    return Dataset(std.transform(splits.train.X, dtype), splits.train.y, std.transform(splits.val.X, dtype),
                   splits.val.y, std.transform(splits.test.X, dtype), splits.test.y, tuple(splits.classes),
                   state=std.state(), meta={"dataset": "cifar10", "image_shape": [3, 32, 32]})
