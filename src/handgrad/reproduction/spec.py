"""What a family declares: published numbers (:class:`Target`), report sections (:class:`Section`) and
the experiments that produce ours (:class:`Experiment`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: what ``reproduce`` can do with an experiment's config
KINDS = ("run", "repeat", "search", "gradcheck", "timing")

#: relative-error bound our gradient checks must meet (the course's threshold, as Ruggeri 2020's A1 report reads it)
GRADCHECK_BOUND = 1e-6


@dataclass(frozen=True)
class Target:
    """One published number and how ours is compared with it.

    ``key`` is a key of the run's metrics.json (dots descend into dicts); ours is multiplied by
    ``scale`` (accuracies are fractions in metrics.json, percentages in the reports). ``mode``:

    - ``abs``: reproduced when |ours - published| <= tol (same units as the numbers);
    - ``at_least``: reproduced when ours >= published - tol (a target to reach);
    - ``at_most``: reproduced when ours <= published + tol (a loss to get below);
    - ``log``: reproduced when |log10 ours - log10 published| <= tol (hyper-parameters);
    - ``rel``: reproduced when |ours / published - 1| <= tol (speed-ups);
    - ``info``: shown for reference only (e.g. seconds on another machine and language).
    """

    label: str
    key: str
    published: float | None
    source: str
    tol: float | None = 1.0
    mode: str = "abs"
    scale: float = 100.0
    fmt: str = ".2f"
    published_std: float | None = None
    note: str = ""

    def tolerance_text(self) -> str:
        if self.mode == "info" or self.tol is None:
            return "-"
        return {"abs": f"± {self.tol:g}", "at_least": f">= published - {self.tol:g}",
                "at_most": f"<= published + {self.tol:g}",
                "log": f"within a factor {10 ** self.tol:.3g}", "rel": f"± {100 * self.tol:g}%"}[self.mode]


def acc(label, published, source, tol=1.0, key="test_accuracy", **kw) -> Target:
    """An accuracy target (test accuracy unless ``key`` says otherwise), in percent."""
    return Target(label, key, published, source, tol, **kw)


@dataclass(frozen=True)
class Section:
    """A table or figure group of the report."""

    id: str
    family: str
    title: str
    source: str
    text: str = ""


@dataclass(frozen=True)
class Experiment:
    """One thing to run: a config and what to do with it, and what it is compared with."""

    id: str
    family: str
    section: str
    title: str
    config: str  # relative to the configs folder, e.g. "linear/setting1.toml"
    kind: str = "run"
    repeat: int = 1
    targets: tuple[Target, ...] = ()
    #: figures of the run folder shown in the report (file names under figures/ or the folder)
    figures: tuple[str, ...] = ("learning_curves.png",)
    #: gradcheck: the cases (batch size, lambda, n_dims or None for all); published rows per case
    cases: tuple[tuple[int, float, int | None], ...] = ()
    gradcheck_published: tuple[tuple[dict, ...], ...] = ()
    #: gradcheck: where the published rows (or bound) come from; True when only a bound was published
    gradcheck_source: str = "-"
    gradcheck_published_bound: bool = False
    #: extra data for the family's tables, e.g. "per_class" (dict class -> %), "predictions"
    #: (name -> (class, prob)), "search_top" (list of (lambda, train %, val %)), "timing"
    #: (impl -> (seconds, speed-up)); timing experiments: "argv" and "argv_quick" of the benchmark
    extras: tuple[tuple[str, Any], ...] = ()
    #: --set overrides applied to the config before running (e.g. the same config on another split)
    overrides: tuple[tuple[str, Any], ...] = ()
    note: str = ""

    def extra(self, name: str, default=None):
        return dict(self.extras).get(name, default)
