"""Assignment 2: two-layer networks with cyclical learning rates on CIFAR-10 (Straathof 2019 and the A2 sheet)."""

from __future__ import annotations

from handgrad.families import Family, register
from handgrad.references import cite
from handgrad.reproduction.spec import GRADCHECK_BOUND, Experiment, Section, Target
from handgrad.reproduction.spec import acc as _acc

SECTIONS: tuple[Section, ...] = (
    Section("mlp-gradcheck", "mlp", "Gradient checks: two-layer network",
            cite("straathof2019-a2", "section 2"),
            "Straathof found analytic and numerical gradients equal to 5 decimals; the sheet's check is "
            f"the relative error, which we require below {GRADCHECK_BOUND:g}."),
    Section("mlp-sheet", "mlp", "Cyclical learning rates: the sheet's figures 3 and 4",
            f"{cite('sheet-a2', 'figures 3-4')}; {cite('straathof2019-a2', 'figures 1-2')}",
            "m=50, eta 1e-5..1e-1, lambda .01, batch 100, data_batch_1 for training."),
    Section("mlp-search", "mlp", "Coarse-to-fine search for lambda",
            cite("straathof2019-a2", "tables 1-2"),
            "All five batches with 5,000 validation images, 2 cycles with n_s = 2 floor(n / n_batch). "
            "The report drew 20 random coarse values and 30 fine ones; our configs use the 2020 sheet's "
            "log grid of eight coarse values and 12 random fine ones, so the best lambdas are compared "
            "within a factor, and the best validation accuracies within a tolerance."),
    Section("mlp-final", "mlp", "Best lambda on 49,000 images, 10 seeds", cite("straathof2019-a2", "section 4"),
            "n_s 980, 49,000 training and 1,000 validation images, trained with 10 seeds; mean and standard "
            "deviation. First the report's own setting (lambda .00895, 3 cycles), then ours, whose lambda and "
            "number of cycles our searches chose on validation accuracy for this copy of the data."),
    Section("mlp-best", "mlp", "Best two-layer network (bonus)", cite("peer-ruggeri"),
            "m=1000, dropout, flips, snapshot ensemble over 5 cycles."),
)

#: Straathof 2019, tables 1-2, the three best of each search: (lambda, train %, val %)
_COARSE_TOP_002 = ((0.0113158071, 58.01, 52.60), (1.82477332600308e-05, 63.29, 52.32), (0.0060451793, 63.34, 52.32))
_FINE_TOP_002 = ((0.0089500283, 59.32, 54.40), (0.0094896297, 58.97, 54.20), (0.0082752579, 59.54, 54.14))


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("gradcheck-mlp", "mlp", "mlp-gradcheck", "two-layer gradients (m=50, 20 dimensions)",
               "mlp/sheet-fig3.toml", kind="gradcheck",
               cases=((1, 0.0, 20), (20, 0.0, 20), (20, 0.1, 20)), gradcheck_source=cite("straathof2019-a2", "section 2"),
               figures=()),
    Experiment("sheet-fig3", "mlp", "mlp-sheet", "figure 3: one cycle, n_s=500", "mlp/sheet-fig3.toml",
               targets=(_acc("figure 3 test accuracy (%)", 45.85, cite("sheet-a2", "figure 3"), 1.0),
                        _acc("figure 3 test accuracy (%), Straathof 2019", 45.73, cite("straathof2019-a2", "figure 1"), 1.0)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("sheet-fig4", "mlp", "mlp-sheet", "figure 4: three cycles, n_s=800", "mlp/sheet-fig4.toml",
               targets=(_acc("figure 4 test accuracy (%)", 47.47, cite("sheet-a2", "figure 4"), 1.0),
                        _acc("figure 4 test accuracy (%), Straathof 2019", 45.59, cite("straathof2019-a2", "figure 2"), 1.0)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("search-coarse", "mlp", "mlp-search", "coarse search: lambda = 10^l, l in [-5, -1]",
               "mlp/search-coarse.toml", kind="search",
               targets=(_acc("coarse search: best validation accuracy (%)", 52.60, cite("straathof2019-a2", "table 1"), 1.5,
                             key="best_val_accuracy"),
                        Target("coarse search: best lambda", "best_lambda", 0.0113158071, cite("straathof2019-a2", "table 1"),
                               1.0, mode="log", scale=1.0, fmt=".3g",
                               note="the report's top 3 span 1.8e-5 .. 1.3e-2: a flat optimum")),
               extras=(("search_top", _COARSE_TOP_002),), figures=("val_accuracy_vs_lambda.png",)),
    Experiment("search-fine", "mlp", "mlp-search", "fine search: l ~ U(-3, -1.7)", "mlp/search-fine.toml",
               kind="search",
               targets=(_acc("fine search: best validation accuracy (%)", 54.40, cite("straathof2019-a2", "table 2"), 1.5,
                             key="best_val_accuracy"),
                        Target("fine search: best lambda", "best_lambda", 0.00895, cite("straathof2019-a2", "table 2"),
                               0.5, mode="log", scale=1.0, fmt=".3g")),
               extras=(("search_top", _FINE_TOP_002),), figures=("val_accuracy_vs_lambda.png",)),
    Experiment("report-final", "mlp", "mlp-final", "Straathof 2019's setting: lambda .00895, 3 cycles, 10 seeds",
               "mlp/report-final.toml", kind="repeat", repeat=10,
               targets=(_acc("test accuracy, mean of 10 (%)", 52.07, cite("straathof2019-a2", "section 4"), 1.0,
                             key="test_accuracy_mean", published_std=0.26),
                        _acc("validation accuracy, mean of 10 (%)", 52.28, cite("straathof2019-a2", "section 4"), 1.5,
                             key="val_accuracy_mean", published_std=0.66),
                        _acc("training accuracy, mean of 10 (%)", 57.01, cite("straathof2019-a2", "section 4"), 1.5,
                             key="train_accuracy_mean", published_std=0.15)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("final", "mlp", "mlp-final", "our final: lambda .0025, 4 cycles (chosen on validation), 10 seeds",
               "mlp/final.toml", kind="repeat", repeat=10,
               targets=(_acc("test accuracy, mean of 10 (%)", 52.0, f"handgrad's target ({cite('straathof2019-a2')}: 52.07)", 0.0,
                             key="test_accuracy_mean", mode="at_least"),
                        _acc("test accuracy, mean of 10 (%)", 52.07, cite("straathof2019-a2", "section 4"), 1.0,
                             key="test_accuracy_mean", published_std=0.26)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("best-mlp", "mlp", "mlp-best", "m=1000, dropout .8, flips, snapshot ensemble", "mlp/best.toml",
               targets=(_acc("test accuracy (%)", 57.0, f"handgrad's target ({cite('peer-ruggeri')}: 58.04)", 0.0,
                             mode="at_least"),
                        _acc("snapshot-ensemble test accuracy (%)", 58.04, cite("peer-ruggeri"),
                             1.0, key="ensemble_test_accuracy", mode="at_least")),
               figures=("learning_curves.png", "learning_rate.png")),
)

FAMILY = register(Family("mlp", "Two-layer networks with cyclical learning rates on CIFAR-10 (assignment 2)",
                           SECTIONS, EXPERIMENTS, order=2))
