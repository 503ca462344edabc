"""Characters <-> indices (a character RNN's alphabet), and showing an alphabet to a person with
every character visible, the blank ones too."""

from __future__ import annotations

import numpy as np

from handgrad.errors import HandgradError

#: characters that print as nothing (or move the cursor) and what stands for them
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def visible(chars: str) -> str:
    """``chars`` with space, newline, tab and carriage return drawn as ␣ ⏎ ⇥ ␍ (the course's
    surnames alphabet " 'abc...z" reads ␣'abc...z)."""
    return "".join(VISIBLE.get(c, c) for c in chars)


def describe(chars: str) -> str:
    """'the model's alphabet ␣'abc...z (28 characters; ␣ is the space)'."""
    keys = [f"{VISIBLE[c]} is the {name}" for c, name in ((" ", "space"), ("\n", "line break"), ("\t", "tab"),
                                                          ("\r", "carriage return")) if c in chars]
    return f"{visible(chars)} ({len(chars)} characters{'; ' + ', '.join(keys) if keys else ''})"


def show_char(c: str) -> str:
    """One character, quoted and visible: '␣' for a space, '7' for a digit."""
    return f"'{VISIBLE.get(c, c)}'"


class Alphabet:
    """Characters <-> indices. ``chars``: the characters in index order (unique)."""

    def __init__(self, chars: str) -> None:
        if not chars or len(set(chars)) != len(chars):
            raise HandgradError(f"an alphabet needs unique characters, got {chars!r}")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "Alphabet":
        """Every distinct character of ``text``, in code-point order."""
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

    def __repr__(self) -> str:
        return f"Alphabet({visible(self.chars)!r}, {len(self)} characters)"
