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

import numpy as np

from handgrad.data.prepared import Prepared
from handgrad.data.alphabet import describe, show_char
from handgrad.errors import HandgradError

#: characters of the text's start read before held-out or generated text (see the module doc)
PREAMBLE = 200


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path as given; a relative one under $HANDGRAD_DATA when the file is there,
    else relative to the current directory."""
    from handgrad.data.sources import data_home

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


class Alphabet:
    """Characters <-> indices. ``chars``: the characters in index order (unique)."""

    def __init__(self, chars: str) -> None:
        if not chars or len(set(chars)) != len(chars):
            raise HandgradError(f"an alphabet needs unique characters, got {chars!r}")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "Alphabet":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Indices (len(text),) int32; a character outside the alphabet is an error naming it."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        known = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        order = np.argsort(known)
        pos = np.searchsorted(known[order], codes).clip(0, len(known) - 1)
        bad = known[order][pos] != codes
        if bad.any():
            c = text[int(np.argmax(bad))]
            raise HandgradError(f"character {show_char(c)} is not in the model's alphabet {describe(self.chars)}")
        return order[pos].astype(np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def prepare_text(dc, dtype=np.float32) -> Prepared:
    """The [data] table's text file as training and validation characters (see the module doc)."""
    if dc.path is None:
        raise HandgradError("data.dataset = 'text' needs data.path = the text file (UTF-8)")
    text = read_text(dc.path)
    alphabet = Alphabet.from_text(text)
    ids = alphabet.encode(text)
    n_train = len(ids) - dc.n_val
    if n_train < 2 or dc.n_val < 2:
        raise HandgradError(f"{dc.path} has {len(ids)} characters: too few to hold out data.n_val = "
                            f"{dc.n_val} for validation and still train (both parts need at least 2)")
    train, val = ids[:n_train], ids[n_train:]
    if dc.n_train is not None:
        train = train[:dc.n_train + 1]
    return Prepared(train[:-1], train[1:], val[:-1], val[1:], None, None, tuple(alphabet.chars),
                    meta={"dataset": "text", "path": str(dc.path), "alphabet": alphabet.chars,
                          "n_chars": len(ids), "n_val": dc.n_val,
                          "preamble": preamble(text[:min(PREAMBLE, len(train))])})


def preamble(opening: str) -> str:
    """``opening`` up to its last line break (else its last space), so what follows starts afresh."""
    cut = opening.rfind("\n")
    cut = opening.rfind(" ") if cut < 0 else cut
    return opening[:cut + 1] if cut >= 0 else opening
