"""Showing an alphabet to a person: every character visible, also the blank ones."""

from __future__ import annotations

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
