"""How ours is judged against a published number, and the comparison rows the report shows."""

from __future__ import annotations

import math

from handgrad.reproduction.spec import Experiment, Target

#: verdicts, in the order the summary lists them
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
PASSED, FAILED = "check passed", "check failed"
QUICK, REFERENCE, NOT_AVAILABLE = "quick run, not comparable", "for reference", "not available"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, PASSED, FAILED, QUICK, REFERENCE, NOT_AVAILABLE)
VERDICT_CLASS = {REPRODUCED: "ok", PASSED: "ok", NOT_REPRODUCED: "bad", FAILED: "bad", QUICK: "quick",
                 REFERENCE: "ref", NOT_AVAILABLE: "na"}


def fmt(x, spec=".2f") -> str:
    """A number for a report cell; "-" for None and NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def judge(t: Target, ours: float | None, quick: bool) -> tuple[str, str]:
    """(difference text, verdict) of ours (already scaled) against the target."""
    if ours is None:
        return "-", NOT_AVAILABLE
    pub = t.published
    if pub is None:
        return "-", REFERENCE
    if t.mode == "log":
        diff = f"x{ours / pub:.3g}" if pub and ours > 0 else "-"
        ok = ours > 0 and pub > 0 and abs(math.log10(ours) - math.log10(pub)) <= t.tol
    elif t.mode == "rel":
        diff = f"{100 * (ours / pub - 1):+.0f}%"
        ok = abs(ours / pub - 1) <= t.tol
    else:
        diff = f"{float(format(ours - pub, t.fmt)) + 0.0:+{t.fmt}}"  # + 0.0: no "-0.00"
        ok = (ours >= pub - t.tol if t.mode == "at_least" else ours <= pub + t.tol if t.mode == "at_most"
              else abs(ours - pub) <= (t.tol or 0))
    if t.mode == "info" or t.tol is None:
        return diff, REFERENCE
    if quick:
        return diff, QUICK
    return diff, REPRODUCED if ok else NOT_REPRODUCED


def row(exp: Experiment, label: str, ours: str, published: str, diff: str, tol: str, verdict: str,
        source: str, note: str = "") -> dict:
    """One line of a section's comparison table."""
    return {"experiment": exp.id, "quantity": label, "ours": ours, "published": published, "diff": diff,
            "tolerance": tol, "verdict": verdict, "css": VERDICT_CLASS[verdict], "source": source, "note": note}
