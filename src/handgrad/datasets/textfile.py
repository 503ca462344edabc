"""Any UTF-8 text file as a character-level data set (the A4 sheet's book).

The alphabet is every distinct character of the file, in code-point order; it is saved with the
model so that sampling encodes and decodes exactly as training did. The last ``n_val`` characters
are held out for validation (the end of the book), the rest is training text. Inputs are the
characters and targets their successors: X[i] = text[i], y[i] = text[i + 1].

The text's opening (at most ``PREAMBLE`` characters, cut after its last line break, else its last
space) is saved with the model too: training starts every epoch from a
zero state at the start of the text, so a model trained the sheet's way may rely on a state that
only the text's opening sets (measured: hidden units latched at +-1 by the book's title, without
which the validation loss is 4.8 per character instead of 2.0). Held-out text and generated text
are therefore read after the preamble, as a continuation of the text's start.
"""

from __future__ import annotations

import os
from pathlib import Path

from handgrad.alphabet import Alphabet
from handgrad.datasets.dataset import Dataset
from handgrad.datasets.sources import data_home
from handgrad.errors import HandgradError

#: characters of the text's start read before held-out or generated text (see the module doc)
PREAMBLE = 200


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path as given; a relative one under $HANDGRAD_DATA when the file is there,
    else relative to the current directory."""
    p = Path(path).expanduser()
    home = data_home()
    if not p.is_absolute() and home is not None and (home / p).is_file():
        return home / p
    return p


def read_text(path: str | os.PathLike) -> str:
    """The file's text; a clear error for a missing, unreadable, binary, non-UTF-8 or empty file."""
    p = resolve(path)
    if not p.is_file():
        where = " (relative paths are looked up under $HANDGRAD_DATA, then the current directory)" \
            if not Path(path).is_absolute() else ""
        raise HandgradError(f"text file not found: {path}{where}")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise HandgradError(f"cannot read text file {p}: {e.strerror or e}") from None
    if b"\x00" in raw:
        raise HandgradError(f"{p} looks like a binary file (it contains NUL bytes), not UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HandgradError(f"{p} is not UTF-8 text: byte {e.start} ({raw[e.start:e.start + 1]!r}) "
                            f"cannot be decoded") from None
    if not text:
        raise HandgradError(f"text file {p} is empty")
    return text


def text(path: str | os.PathLike, *, n_val: int = 1000, n_train: int | None = None) -> Dataset:
    """A UTF-8 text file as characters and their successors (see the module doc): ``X_train``,
    ``y_train`` the training text, ``X_val``, ``y_val`` its last ``n_val`` characters, ``classes`` and
    ``alphabet`` the characters, ``preamble`` the opening read before held-out or generated text.
    ``path``: an absolute path, or one relative to $HANDGRAD_DATA (then the current directory);
    ``n_train`` keeps only the first ``n_train`` training characters (quick runs)."""
    if path is None:
        raise HandgradError("data.dataset = 'text' needs data.path = the text file (UTF-8)")
    content = read_text(path)
    alphabet = Alphabet.from_text(content)
    ids = alphabet.encode(content)
    n_train_chars = len(ids) - n_val
    if n_train_chars < 2 or n_val < 2:
        raise HandgradError(f"{path} has {len(ids)} characters: too few to hold out data.n_val = "
                            f"{n_val} for validation and still train (both parts need at least 2)")
    train, val = ids[:n_train_chars], ids[n_train_chars:]
    if n_train is not None:
        train = train[:n_train + 1]
    return Dataset(train[:-1], train[1:], val[:-1], val[1:], None, None, tuple(alphabet.chars),
                   meta={"dataset": "text", "path": str(path), "alphabet": alphabet.chars,
                         "n_chars": len(ids), "n_val": n_val,
                         "preamble": preamble(content[:min(PREAMBLE, len(train))])})


def preamble(opening: str) -> str:
    """``opening`` up to its last line break (else its last space), so what follows starts afresh."""
    cut = opening.rfind("\n")
    cut = opening.rfind(" ") if cut < 0 else cut
    return opening[:cut + 1] if cut >= 0 else opening
