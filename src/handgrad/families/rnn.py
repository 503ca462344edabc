"""Assignment 4: a vanilla character-level RNN that writes like "Harry Potter and the Goblet of Fire"."""

from __future__ import annotations

from handgrad import readers
from handgrad.errors import HandgradError
from handgrad.families import Family, register
from handgrad.references import cite
from handgrad.reproduction.quick import QuickBudget
from handgrad.reproduction.runstate import RunState, read_json
from handgrad.reproduction.spec import GRADCHECK_BOUND, Experiment, Section, Target
from handgrad.reproduction.verdicts import (
    NOT_AVAILABLE,
    NOT_REPRODUCED,
    QUICK,
    REPRODUCED,
    fmt,
    row,
)

SHEET = cite("sheet-a4")

SECTIONS: tuple[Section, ...] = (
    Section("rnn-gradcheck", "rnn", "Gradient checks: vanilla RNN", SHEET,
            "m = 5, sequences of 25 characters of the book, the sheet's initialisation; the sheet found a largest "
            f"relative error of about 8.5e-6 (for V); ours must stay below {GRADCHECK_BOUND:g}."),
    Section("rnn-sheet", "rnn", "The sheet's setting: smooth loss", SHEET,
            "m = 100, seq_length 25, AdaGrad with eta 0.1, gradients clipped to [-5, 5], the hidden state carried "
            "from one sequence to the next and reset each epoch, smooth loss = .999 smooth + .001 loss. We hold "
            "out the last 50,000 characters of the book for validation (the sheet trains on all of it). Samples "
            "of 200 characters every 10,000 updates, and a 1,000-character passage from the best model "
            "(lowest validation loss)."),
    Section("rnn-2025", "rnn", "The 2025 sheet's setting: Adam, the loss per character", cite("sheet-a4-2025"),
            "m = 100, seq_length 25, Adam (eta .001, beta1 .9, beta2 .999, epsilon 1e-8), the loss averaged over the "
            "25 characters of a sequence (the smooth loss is per character), 150,000 updates, the last 50,000 "
            "characters held out. As with the AdaGrad setting, one seed is one draw: seeds 0-3 give the spread."),
    Section("rnn-best", "rnn", "Best RNN (bonus): validation loss on the held-out end of the book", "handgrad",
            "Our best config against the sheet's setting on the same held-out 50,000 characters, each read after "
            "the book's opening (the state a model trained the sheet's way relies on)."),
)

#: the sheet's log of the smooth loss (m = 100, AdaGrad, eta .1): update -> smooth loss
SHEET_SMOOTH = {1: 109.2, 1000: 86.4, 4000: 60.1, 30_000: 47.6, 363_000: 39.45}


#: the 2025 sheet's smooth loss per character (Adam, eta .001), and a 2026 peer's
SHEET_2025 = {1: 4.6049, 1000: 3.3806, 4000: 2.2598, 30_000: 1.7861, 150_000: 1.5344}
PEER_2025 = {1000: 3.293, 4000: 2.256, 30_000: 1.788}


def _smooth(step: int, published: float, tol: float = 2.0, **kw) -> Target:
    return Target(f"smooth loss at update {step:,}", f"smooth_loss_at.{step}", published, SHEET, tol,
                  scale=1.0, **kw)


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("gradcheck-rnn", "rnn", "rnn-gradcheck", "RNN gradients of U, W, b, V, c (m = 5)",
               "rnn/goblet.toml", kind="gradcheck", cases=((1, 0.0, None), (4, 0.0, None)),
               gradcheck_source=SHEET + ": about 8.5e-6 (for V)",
               figures=()),
    Experiment("goblet", "rnn", "rnn-sheet", "m = 100, AdaGrad, 363,000 updates", "rnn/goblet.toml",
               targets=(*(_smooth(s, v) for s, v in SHEET_SMOOTH.items()),
                        Target("smooth loss at update 363,000 (at most 40)", "smooth_loss_at.363000", 40.0,
                               "handgrad's target", 0.0, mode="at_most", scale=1.0),
                        Target("lowest smooth loss", "smooth_loss_min", 39.0, SHEET + ": \"lowest ~39\"", None,
                               mode="info", scale=1.0),
                        Target("validation loss per character (nats)", "val_loss_per_char", None, "ours", None,
                               mode="info", scale=1.0, fmt=".4f")),
               figures=("smooth_loss.png",)),
    Experiment("goblet-2025", "rnn", "rnn-2025", "m = 100, Adam, loss per character, 150,000 updates",
               "rnn/goblet-2025.toml",
               targets=tuple(Target(f"smooth loss per character at update {s:,}", f"smooth_loss_at.{s}", v,
                                    cite("sheet-a4-2025"), 0.1, scale=1.0, fmt=".4f")
                             for s, v in SHEET_2025.items())
               + tuple(Target(f"smooth loss per character at update {s:,}, a peer", f"smooth_loss_at.{s}", v,
                              cite("peers-2025"), 0.1, scale=1.0, fmt=".4f") for s, v in PEER_2025.items()),
               figures=("smooth_loss.png",)),
    Experiment("goblet-2025-seeds", "rnn", "rnn-2025", "the same, seeds 0-3", "rnn/goblet-2025.toml",
               kind="repeat", repeat=4,
               targets=(Target("smooth loss per character at update 150,000, mean of 4 seeds", "smooth_loss_mean",
                               1.5344, cite("sheet-a4-2025"), 0.1, scale=1.0, fmt=".4f"),),
               figures=("smooth_loss.png",)),
    Experiment("best-rnn", "rnn", "rnn-best", "our best config", "rnn/best.toml",
               targets=(Target("validation loss per character (nats)", "val_loss_per_char", None, "ours", None,
                               mode="info", scale=1.0, fmt=".4f"),),
               extras=(("baseline", "goblet"),), figures=("smooth_loss.png",)),
)


def samples_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """The samples written during training and the passage from the best model."""
    path = rs.folder / "samples.json"
    samples = read_json(path, lambda p: readers.read_json(p, expect=list)) if rs.state == "done" else None
    if samples is None:
        return None, []
    if not all(isinstance(s, dict) and isinstance(s.get("step"), int) and isinstance(s.get("text"), str)
               for s in samples):
        raise HandgradError(f"{path}: every sample should be an object with an integer 'step' and a 'text'")
    rows = [[f"{s['step']:,}", fmt(s.get("smooth_loss")), s["text"]] for s in samples]
    passage = rs.folder / "passage.txt"
    if passage.is_file():
        rows.append([f"best model (update {rs.metrics.get('best_step', '-')}; validation loss "
                     f"{fmt(rs.metrics.get('val_loss_per_char'), '.4f')} per character)", "-",
                     passage.read_text(encoding="utf-8").rstrip("\n")])
    return {"caption": f"{rs.exp.title}: samples during training (with the smooth loss at the time) and the "
                       "passage from the best model",
            "columns": ["update", "loss", "text"], "rows": rows}, []


def baseline_table(rs: RunState) -> tuple[dict | None, list[dict]]:
    """Validation loss of the best config beside the sheet's setting (run by this family too)."""
    base_id = rs.exp.extra("baseline")
    if not base_id:
        return None, []
    base = read_json(rs.folder.parent / base_id / "metrics.json") or {}
    ours = rs.metrics if rs.state == "done" else {}
    b, o = base.get("val_loss_per_char"), (ours or {}).get("val_loss_per_char")
    if b is None or o is None:
        verdict, diff = NOT_AVAILABLE, "-"
    else:
        verdict, diff = (QUICK if rs.quick else REPRODUCED if o < b else NOT_REPRODUCED), f"{o - b:+.4f}"
    comp = [row(rs.exp, "validation loss per character, below the sheet's setting", fmt(o, ".4f"), fmt(b, ".4f"),
                diff, "lower", verdict, "handgrad (the sheet's setting: configs/rnn/goblet.toml)",
                "" if rs.state == "done" else rs.reason)]
    rows = []
    for name, m in (("the sheet's setting (goblet.toml)", base), ("best.toml", ours or {})):
        rows.append([name, fmt(m.get("val_loss_per_char"), ".4f"),
                     fmt(None if m.get("val_loss_per_char") is None else 25 * m["val_loss_per_char"]),
                     fmt(None if m.get("val_accuracy") is None else 100 * m["val_accuracy"]),
                     fmt(m.get("smooth_loss")), fmt(m.get("n_updates"), ","), fmt(m.get("seconds"), ".0f")])
    return {"caption": "The held-out end of the book: validation loss per character and per 25 characters (the "
                       "sheet's sequence), next-character accuracy, last smooth loss (per the run's sequence "
                       "length), updates and seconds",
            "columns": ["config", "val loss / char", "val loss / 25 chars", "val next-char accuracy %",
                        "smooth loss", "updates", "seconds"], "rows": rows}, comp


FAMILY = register(Family("rnn", "Character-level RNN on Harry Potter and the Goblet of Fire (assignment 4)",
                         SECTIONS, EXPERIMENTS, order=4,
                         quick=QuickBudget(n_train=20_000, epochs=2, updates=200, gradcheck_batch=4),
                         tables=(samples_table, baseline_table)))
