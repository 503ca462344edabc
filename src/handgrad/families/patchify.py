"""Assignment 3 as taught in 2025/26: the patchify ConvNet on CIFAR-10 (the 2025/26 sheet and peers)."""

from __future__ import annotations

from handgrad.families import Family, register
from handgrad.references import cite
from handgrad.reproduction.quick import QuickBudget
from handgrad.reproduction.spec import GRADCHECK_BOUND, Experiment, Section, Target
from handgrad.reproduction.spec import acc as _acc

SHEET = cite("sheet-a3-2025")
PEERS = cite("peers-2025")

SECTIONS: tuple[Section, ...] = (
    Section("patchify-gradcheck", "patchify", "Gradient checks: the patchify ConvNet", SHEET,
            "The filters, their biases and both dense layers of a small net of the same kind (f = 4, 2 filters, 6 "
            "hidden units) on whole CIFAR-10 images, in float64: the course's centred differences beside the "
            f"complex step (the verdict, below {GRADCHECK_BOUND:g}), and, when PyTorch is installed, PyTorch "
            "autograd, which the 2025/26 sheets use to check students' gradients."),
    Section("patchify-basic", "patchify", "Architectures 1-4, the basic run", f"{SHEET}; {PEERS}",
            "49,000 training / 1,000 validation images, batch 100, eta 1e-5..1e-1 in 3 cycles of n_s = 800, "
            "lambda .003, He initialisation, the training images reshuffled every epoch. Architectures (f, n_f, "
            "n_h): 1 = (2, 3, 50), 2 = (4, 10, 50), 3 = (8, 40, 50), 4 = (16, 160, 50). The sheet gives a number "
            "for architecture 2 only; the peers' runs are single runs of the same settings."),
    Section("patchify-longer", "patchify", "Training longer: cycles that double", f"{SHEET}; {PEERS}",
            "3 cycles whose half-length doubles (800, 1,600, 3,200: 11,200 updates); the sheet expects at least "
            "one model above 60%."),
    Section("patchify-arch5", "patchify", "Architecture 5, and label smoothing", f"{SHEET}; {PEERS}",
            "(f, n_f, n_h) = (4, 40, 300), 4 doubling cycles (24,000 updates), lambda .0025; then the same with "
            "label smoothing (eps .1: 1 - eps on the true class, eps / 9 on each other)."),
    Section("patchify-best", "patchify", "Best patchify ConvNet (bonus)", f"{SHEET}; {PEERS}",
            "Augmentation allowed (flips and translations). The sheet gives bonus points at 68% and 70%; the "
            "best public run reached 74.88% in 6,945 s. handgrad's target: 70% within an hour on 2 cores."),
    Section("patchify-timing", "patchify", "Speed: against PyTorch, and the matrix form against loops",
            SHEET, "benchmarks/bench_patchify.py: architecture 5's first 2,400 updates (with the first cycle's "
                   "evaluations) in handgrad and in idiomatic PyTorch (nn.Conv2d with stride 4, the same optimiser "
                   "and schedule), alternated in one process, one BLAS thread each; and the convolution on a "
                   "prebuilt patch matrix MX as one matrix product against a loop over the images, which the sheet "
                   "says is more than 3x slower."),
)

#: the peers' basic runs of architectures 1-4 (sil-pixel, Jackson0422, K-I-D-1412)
PEERS_BASIC = {"1": (51.5, 50.0, 51.2), "2": (55.9, 55.9, 56.2), "3": (57.6, 58.0, 58.7), "4": (57.0, 56.8, 56.6)}


def _peers(arch: str) -> Target:
    lo, hi = min(PEERS_BASIC[arch]), max(PEERS_BASIC[arch])
    mid = round((lo + hi) / 2, 2)
    return _acc(f"architecture {arch}: test accuracy (%), peers {lo:g}-{hi:g}", mid, PEERS, round((hi - lo) / 2 + 1, 2),
                note="the middle of the peers' range, within a point of it")


_GC_CASES = ((1, 0.0, None), (10, 0.1, None))

EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("gradcheck-patchify", "patchify", "patchify-gradcheck",
               "patchify gradients (f = 4, 2 filters, 6 hidden units), centred differences", "patchify/arch2.toml",
               kind="gradcheck", cases=_GC_CASES, gradcheck_source=SHEET, gradcheck_published_bound=True,
               figures=()),
    Experiment("gradcheck-patchify-torch", "patchify", "patchify-gradcheck",
               "patchify gradients against PyTorch autograd (when torch is installed)", "patchify/arch2.toml",
               kind="gradcheck", cases=_GC_CASES, gradcheck_source=SHEET, gradcheck_published_bound=True,
               extras=(("method", "torch"), ("requires", "torch")), figures=()),
    *(Experiment(f"patchify-arch{a}", "patchify", "patchify-basic",
                 f"architecture {a}, basic run", f"patchify/arch{a}.toml",
                 targets=((_acc("architecture 2: test accuracy (%)", 57.61, SHEET, 2.0,
                                note="the sheet: about 57.61%"),
                           _acc("architecture 2: test accuracy (%), handgrad's target", 55.5, "handgrad's target", 0.0,
                                mode="at_least"))
                          if a == "2" else ()) + (_peers(a),),
                 figures=("learning_curves.png", "learning_rate.png")) for a in ("1", "2", "3", "4")),
    Experiment("patchify-arch3-longer", "patchify", "patchify-longer", "architecture 3, doubling cycles",
               "patchify/arch3-longer.toml",
               targets=(_acc("architecture 3, longer: test accuracy (%), above 60", 60.0, SHEET, 0.0, mode="at_least"),
                        _acc("architecture 3, longer: test accuracy (%), peers 60.4-61.3", 60.85, PEERS, 1.45)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("patchify-arch2-wide-longer", "patchify", "patchify-longer",
               "architecture 2 with 40 filters, doubling cycles", "patchify/arch2-wide-longer.toml",
               targets=(_acc("architecture 2-wide, longer: test accuracy (%), at least 63.5", 63.5,
                             "handgrad's target (the peers' lowest)", 0.0, mode="at_least"),
                        _acc("architecture 2-wide, longer: test accuracy (%), peers 63.5-64.6", 64.05, PEERS, 1.55)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("patchify-arch5", "patchify", "patchify-arch5", "architecture 5: (4, 40, 300), 4 doubling cycles",
               "patchify/arch5.toml",
               targets=(_acc("architecture 5: test accuracy (%), at least 65.5", 65.5, "handgrad's target", 0.0,
                             mode="at_least"),
                        _acc("architecture 5: test accuracy (%), peers 65.7-66.1", 65.9, PEERS, 1.2),
                        Target("architecture 5: training time (s; the sheet: about 10 minutes on a laptop)",
                               "seconds", 600.0, SHEET, None, mode="info", scale=1.0, fmt=".0f")),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("patchify-arch5-ls", "patchify", "patchify-arch5", "architecture 5 with label smoothing .1",
               "patchify/arch5-ls.toml",
               targets=(_acc("architecture 5 with label smoothing: test accuracy (%), peers 65.6-66.1", 65.85, PEERS,
                             1.25),),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("patchify-best", "patchify", "patchify-best", "best patchify ConvNet", "patchify/best.toml",
               targets=(_acc("best: test accuracy (%), at least 70", 70.0, "handgrad's target (the sheet's top bonus "
                                                                         "tier)", 0.0, mode="at_least"),
                        _acc("best: test accuracy (%), the instructor's best", 67.26, SHEET, 0.0, mode="at_least"),
                        _acc("best: test accuracy (%), the best public run", 74.88, PEERS, None, mode="info",
                             note="shown for how far there is to go"),
                        Target("best: training time (s), under an hour", "seconds", 3600.0, "handgrad's target", 0.0,
                               mode="at_most", scale=1.0, fmt=".0f")),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("patchify-timing", "patchify", "patchify-timing", "architecture 5: handgrad against PyTorch",
               "../benchmarks/bench_patchify.py", kind="timing",
               targets=(Target("handgrad / PyTorch time, at most 0.6", "summary.ratio", 0.6, "handgrad's target", 0.0,
                               mode="at_most", scale=1.0, fmt=".3f"),
                        Target("the convolution on MX, one product against a loop over 100 images: speed-up",
                               "conv_forms.speedup", 3.0, SHEET, None, mode="info", scale=1.0, fmt=".1f",
                               note="the sheet: more than 3x (its batch size not stated)"),
                        Target("the same on 1,000 images: speed-up", "conv_forms_large.speedup", 3.0, SHEET, None,
                               mode="info", scale=1.0, fmt=".1f")),
               # the first 2,400 updates (the first cycle's rate of evaluations): the per-update ratio, in minutes
               extras=(("argv", ("--updates", "2400", "--repeats", "3", "--threads", "1")), ("requires", "torch"),
                       ("argv_quick", ("--repeats", "1", "--updates", "200", "--threads", "1"))),
               figures=()),
)

FAMILY = register(Family("patchify", "The patchify ConvNet on CIFAR-10 (assignment 3, 2025/26)", SECTIONS,
                           EXPERIMENTS, order=6, quick=QuickBudget(cycles=1, wide=400)))
