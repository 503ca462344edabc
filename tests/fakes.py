"""Small fake data sets written in the official file formats, for tests that must not download.

CIFAR-10 fakes are byte-for-byte in the style of the official python version: Python 2
pickles (protocol 2, byte strings as BINSTRING) of dicts with bytes keys. The images
are weakly class-dependent (a mean colour per class plus strong noise), so tiny
training runs on them can beat chance.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_DIM = 3072
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


class _Py2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2 ``str`` (BINSTRING), as in the official CIFAR-10 files.

    Python 3 pickles bytes at protocol 2 as a call to ``_codecs.encode``, a global the
    official files never contain (and the safe loader rightly refuses). The pure-Python
    pickler (``pickle._Pickler``) is the one whose per-type writers can be replaced.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_pickle_bytes(obj: object) -> bytes:
    """``obj`` pickled the way Python 2 wrote the official files (protocol 2)."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def fake_cifar_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fake images: X uint8 (n, 3072) channel-first rows, y int64 (n,) covering all classes.

    Each class has its own mean colour (fixed across seeds); the noise per pixel is
    larger than the gap between class means, so single pixels are weak evidence.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CIFAR_CLASSES)).astype(np.int64)
    colours = np.random.default_rng(12345).uniform(70, 186, size=(len(CIFAR_CLASSES), 3))
    mean = np.repeat(colours[y], 1024, axis=1)  # (n, 3072): 1024 R, 1024 G, 1024 B
    X = np.clip(mean + rng.normal(0, 50, size=(n, CIFAR_DIM)), 0, 255).round().astype(np.uint8)
    return X, y


def cifar_batch_bytes(X: np.ndarray, labels, batch_label: bytes = b"fake batch") -> bytes:
    """The bytes of an official-format batch file holding uint8 ``X`` (N, 3072) and ``labels``."""
    batch = {
        b"batch_label": batch_label,
        b"labels": [int(label) for label in labels],
        b"data": np.asarray(X),
        b"filenames": [f"fake_{i:05d}.png".encode() for i in range(len(X))],
    }
    return py2_pickle_bytes(batch)


def write_cifar_batch(path, X: np.ndarray, labels, batch_label: bytes = b"fake batch") -> Path:
    """Write one batch file in the official format; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cifar_batch_bytes(X, labels, batch_label))
    return path


def _fake_cifar_files(n_per_batch: int, seed: int) -> dict[str, bytes]:
    """File name -> bytes for a complete fake ``cifar-10-batches-py`` folder."""
    files = {}
    for i, name in enumerate(CIFAR_BATCHES):
        X, y = fake_cifar_images(n_per_batch, seed=seed + i)
        files[name] = cifar_batch_bytes(X, y, f"{name} (fake)".encode())
    meta = {
        b"num_cases_per_batch": n_per_batch,
        b"label_names": [name.encode() for name in CIFAR_CLASSES],
        b"num_vis": CIFAR_DIM,
    }
    files["batches.meta"] = py2_pickle_bytes(meta)
    return files


def make_fake_cifar(root, n_per_batch: int = 20, seed: int = 0) -> Path:
    """Write ``root/cifar-10-batches-py`` (5 data batches, test_batch, batches.meta); return it."""
    folder = Path(root) / CIFAR_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in _fake_cifar_files(n_per_batch, seed).items():
        (folder / name).write_bytes(data)
    return folder


def make_fake_cifar_tar(path, n_per_batch: int = 20, seed: int = 0) -> Path:
    """Write a ``cifar-10-python.tar.gz``-style archive (members ``cifar-10-batches-py/...``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo(CIFAR_FOLDER)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        # The official archive lists the batches out of order; so does the fake.
        files = _fake_cifar_files(n_per_batch, seed)
        for name in sorted(files, reverse=True):
            info = tarfile.TarInfo(f"{CIFAR_FOLDER}/{name}")
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return path


SURNAME_CLASSES = ("Russian", "Spanish", "Irish", "Korean")
SURNAME_PER_CLASS = (90, 40, 30, 20)  # imbalanced, as the course's data
SURNAME_N_VAL = 5


def fake_surnames(rng: np.random.Generator) -> list[tuple[str, int]]:
    """Learnable toy languages: a suffix, a suffix, a prefix and a repeated letter pair."""
    letters = list("abdeilmnorstu")

    def stem(n):
        return "".join(rng.choice(letters, n))

    makers = [lambda: stem(rng.integers(3, 7)) + "ov", lambda: stem(rng.integers(3, 7)) + "ez",
              lambda: "mc" + stem(rng.integers(3, 7)), lambda: stem(2) + "kk" + stem(2)]
    out = []
    for y, (make, n) in enumerate(zip(makers, SURNAME_PER_CLASS)):
        out += [(make(), y) for _ in range(n)]
    out.append(("o'brien mc" + "a" * 8, 2))  # the longest name: n_len 18, an apostrophe and a space
    return out


def make_fake_surnames(root, seed: int = 0) -> Path:
    """Write ``root/surnames`` in the course format (4 classes, 5 validation names each); return it."""
    rng = np.random.default_rng(seed)
    rows = fake_surnames(rng)
    folder = Path(root) / "surnames"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ascii_names.txt").write_text("".join(f"{n.title()} {y + 1}\n" for n, y in rows))
    (folder / "category_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(SURNAME_CLASSES, 1)))
    labels = np.array([y for _, y in rows])
    val = np.concatenate([rng.choice(np.flatnonzero(labels == y), SURNAME_N_VAL, replace=False)
                          for y in range(len(SURNAME_CLASSES))])
    (folder / "Validation_Inds.txt").write_text(" ".join(str(i + 1) for i in val) + "\n")
    return folder


def make_fake_book(root, n_chars: int = 120_000, seed: int = 0) -> Path:
    """Write ``root/text/goblet_book.txt``: a title line, then sentences of a small vocabulary, long
    enough for the RNN tutorial's 50,000 held-out characters; return its path."""
    rng = np.random.default_rng(seed)
    words = "the a wizard said harry looked at door and ran to castle night was dark hermione ron".split()
    parts, n = ["HARRY POTTER AND THE FAKE BOOK\n\n"], 0
    while n < n_chars:
        sentence = " ".join(rng.choice(words, rng.integers(4, 12))).capitalize() + ". "
        parts.append(sentence + ("\n" if rng.random() < 0.1 else ""))
        n += len(sentence)
    path = Path(root) / "text" / "goblet_book.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="utf-8")
    return path
