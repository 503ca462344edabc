"""The tables every kind of config is made of: the data sets' [data] tables, the [train] table's
common part, [gradcheck], [search], [ensemble], and the base of a whole config. A task module
(``handgrad/tasks/``) composes its kind's config from these and its own [model] table, so that a
config lists only the fields its kind uses. Every field carries its meaning (``handgrad config keys``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """A table: unknown keys are errors (they name themselves, with a 'did you mean')."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def f(default=..., description: str = "", **kw):
    """A config field: its default (a callable: a factory of it), constraints and meaning."""
    if callable(default):
        return Field(default_factory=default, description=description, **kw)
    return Field(default, description=description, **kw)


PositiveInt = Annotated[int, Field(ge=1)]

# ---------------------------------------------------------------------------------------------
# [data]
# ---------------------------------------------------------------------------------------------


class Cifar10Data(Strict):
    """[data]: CIFAR-10 images, standardised with the training statistics."""

    dataset: Literal["cifar10"] = f("cifar10", "the data set: CIFAR-10 images")
    split: Literal["a1", "all"] = f("a1", "'a1' (data_batch_1 / data_batch_2 / test_batch) or 'all' (the five "
                                         "batches minus n_val for validation)")
    n_val: int = f(1000, "validation images held out by split 'all'", ge=1)
    n_train: int | None = f(None, "keep only the first n_train training images (quick runs)", ge=1)


class SurnamesData(Strict):
    """[data]: the course's surnames, 18 languages."""

    dataset: Literal["surnames"] = f("surnames", "the data set: the course's surnames")
    split: Literal["course", "grouped"] = f(
        "course", "'course' (the course's validation names, no test part) or 'grouped' (the leak-free split: "
        "de-duplicated pairs, no name in two parts)")
    n_train: int | None = f(None, "keep a seeded random subset of n_train training names (quick runs)", ge=1)
    source: Literal["course", "tutorial"] = f(
        "course", "the course files under $HANDGRAD_DATA/surnames/, or the PyTorch tutorial's names data "
        "(downloaded, folded to ASCII)")
    split_seed: int = f(0, "split 'grouped': seed of the split")
    holdout_fraction: float = f(0.2, "split 'grouped': each language's validation (and test) share of its "
                                     "distinct names", gt=0, lt=0.5)
    holdout_min: int = f(10, "split 'grouped': at least this many validation (and test) names per language", ge=1)
    holdout_max: int = f(200, "split 'grouped': at most this many validation (and test) names per language", ge=1)
    features: Literal["indices", "ngrams"] = f(
        "indices", "'indices' (characters, for ConvNets) or 'ngrams' (TF-IDF character n-grams, sparse rows "
        "for a linear model)")
    ngram_range: tuple[PositiveInt, PositiveInt] = f((1, 4), "features 'ngrams': the shortest and longest n-gram")
    ngram_tf: Literal["count", "log"] = f("count", "features 'ngrams': term frequency, raw count or 1 + log(count)")

    @model_validator(mode="after")
    def _holdout(self):
        if self.holdout_min > self.holdout_max:
            raise ValueError(f"holdout_min ({self.holdout_min}) must not exceed holdout_max ({self.holdout_max})")
        return self


class TextData(Strict):
    """[data]: any UTF-8 text file, read character by character (the A4 sheet's book)."""

    dataset: Literal["text"] = f("text", "the data set: a UTF-8 text file")
    path: str = f(..., "the UTF-8 file (a relative path is looked up under $HANDGRAD_DATA first)")
    n_val: int = f(1000, "characters held out for validation at the end of the file", ge=1)
    n_train: int | None = f(None, "keep only the first n_train training characters (quick runs)", ge=1)


# ---------------------------------------------------------------------------------------------
# [train]
# ---------------------------------------------------------------------------------------------


class TrainBase(Strict):
    """[train]: optimiser, learning-rate schedule, training length and recording."""

    n_batch: int = f(100, "mini-batch size", ge=1)
    eta: float = f(0.001, "learning rate of the 'constant', 'step' and 'exponential' schedules", gt=0)
    lam: float = f(0.0, "L2 weight lambda: the cost adds lambda * sum of squared weights (not biases)",
                   ge=0, alias="lambda")
    n_epochs: float | None = f(None, "training length in epochs; give one of n_epochs, n_updates, n_cycles "
                                     "(default: 40 epochs)", gt=0)
    n_updates: int | None = f(None, "training length in update steps", ge=1)
    n_cycles: float | None = f(None, "training length in cycles of the cyclical schedule (2 n_s updates each)", gt=0)
    optimizer: Literal["sgd", "momentum", "nesterov", "adam", "adagrad"] = f(
        "sgd", "the update rule: plain SGD, heavy-ball or Nesterov momentum (rho), Adam (beta1, beta2) or AdaGrad")
    clip: float | None = f(None, "clip every gradient entry to [-clip, clip] before the step (the A4 sheet: 5)", gt=0)
    rho: float = f(0.9, "momentum coefficient of 'momentum' and 'nesterov'", ge=0, lt=1)
    beta1: float = f(0.9, "Adam's first-moment decay", ge=0, lt=1)
    beta2: float = f(0.999, "Adam's second-moment decay", ge=0, lt=1)
    schedule: Literal["constant", "step", "exponential", "cyclical"] = f(
        "constant", "learning rate by update step: constant eta, step decay (eta * decay_factor every decay_every "
        "epochs), exponential decay (eta * gamma per epoch), or the triangular cyclical schedule (eta_min .. "
        "eta_max, half-cycle n_s)")
    decay_factor: float = f(0.1, "'step' schedule: multiply eta by this ...", gt=0)
    decay_every: int = f(10, "... every this many epochs", ge=1)
    gamma: float = f(0.9, "'exponential' schedule: eta * gamma ** epoch", gt=0)
    eta_min: float = f(1e-5, "'cyclical' schedule: the lowest learning rate", gt=0)
    eta_max: float = f(1e-1, "'cyclical' schedule: the highest learning rate", gt=0)
    n_s: int | None = f(None, "'cyclical' schedule: half-cycle length in updates (default: n_s_factor * "
                              "floor(n / n_batch))", ge=1)
    n_s_factor: float | None = f(None, "'cyclical' schedule: n_s = k * floor(n / n_batch) for this k (default 2)",
                                 gt=0)
    n_s_growth: float = f(1.0, "'cyclical' schedule: each cycle's half-length is the previous one's times this "
                               "(the 2025 A3 sheet's 'train longer': 2, so 800, 1600, 3200)", gt=0)
    keep_best: bool = f(False, "keep the parameters with the best best_metric seen at a recording point")
    best_metric: str = f("val_accuracy", "what keep_best compares: a recorded key such as val_accuracy, "
                                         "val_balanced_accuracy or val_loss (a loss or cost is best when lowest)")
    record_every: int | None = f(None, "evaluate on the training and validation data every this many updates "
                                       "(default: once per epoch)", ge=1)
    records_per_cycle: int | None = f(None, "'cyclical' schedule: evaluate this many times per cycle", ge=1)
    dtype: Literal["float32", "float64"] = f("float32", "the floating-point type training runs in")

    @model_validator(mode="after")
    def _one_length(self):
        given = [k for k in ("n_epochs", "n_updates", "n_cycles") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of n_epochs, n_updates, n_cycles (got {', '.join(given)}; unset "
                             "one with --set train.KEY=null)")
        if not given:
            self.n_epochs = 40
        if self.n_cycles is not None and self.schedule != "cyclical":
            raise ValueError("n_cycles needs schedule = 'cyclical'")
        if self.schedule == "cyclical" and self.eta_min >= self.eta_max:
            raise ValueError(f"eta_min ({self.eta_min}) must be below eta_max ({self.eta_max})")
        return self


class ClassifierTrain(TrainBase):
    """[train] of a classifier: also how examples are sampled, and what the final parameters are."""

    sampling: Literal["sequential", "shuffle", "balanced", "power"] = f(
        "sequential", "which examples make an epoch: 'sequential' (in order), 'shuffle' (a new order each epoch), "
        "'balanced' (as many of every class as the smallest has), 'power' (between natural and balanced)")
    sampling_power: float = f(0.5, "'power' sampling: class frequencies n_c^power (0 balanced, 1 natural), loss "
                                   "weights n_c^-power", ge=0, le=1)
    snapshot_ensemble: bool = f(False, "keep the parameters at the end of every cycle (or epoch) and report their "
                                       "averaged predictions")
    average_from: float | None = f(None, "average the parameters over the last part of training, from this "
                                         "fraction of the updates on", ge=0, lt=1)

    @model_validator(mode="after")
    def _final_parameters(self):
        if self.average_from is not None and self.keep_best:
            raise ValueError("average_from and keep_best both choose the final parameters: use one")
        return self


class ImageTrain(ClassifierTrain):
    """[train] of an image classifier: also data augmentation."""

    flip: bool = f(False, "cifar10: flip each training image horizontally with probability .5")
    translate: int = f(0, "cifar10: shift each training image by up to this many pixels", ge=0)


# ---------------------------------------------------------------------------------------------
# [gradcheck], [search], [ensemble]
# ---------------------------------------------------------------------------------------------


class GradcheckBase(Strict):
    """[gradcheck]: the course's gradient tests (handgrad gradcheck CONFIG)."""

    batch_sizes: list[PositiveInt] = f(lambda: [1, 100], "the batch sizes checked")
    lambdas: list[Annotated[float, Field(ge=0)]] = f(lambda: [0.0, 1.0], "the lambdas checked; the [train] "
                                                                         "lambda is always added")
    method: Literal["complex", "centred", "forward", "torch"] = f(
        "complex", "what the table shows: the complex step (the reference, exact to rounding), the course's "
        "centred (ComputeGradsNumSlow) or forward (ComputeGradsNum) differences, or PyTorch autograd (the 2025 "
        "sheets; needs torch); the verdict always comes from the complex step")
    h: float | None = f(None, "step of method (default 1e-20 for complex, 1e-5 for the differences)", gt=0)
    eps: float = f(1e-6, "the eps of the relative error |ga - gn| / max(eps, |ga| + |gn|)", gt=0)
    tol: float = f(1e-6, "largest relative error that passes", gt=0)


class DenseGradcheck(GradcheckBase):
    """[gradcheck] of a network on feature vectors: the sheet's reduced input."""

    n_dims: int | None = f(20, "use only the first n_dims input features (the sheet's trainX(1:20, :)); none = all",
                           ge=1)


class SearchConfig(Strict):
    """[search]: the trials of handgrad search."""

    grid: dict[str, list[Any]] = f(dict, "dotted key -> list of values; every combination is a trial")
    log_uniform: dict[str, tuple[float, float]] = f(dict, "dotted key -> [lo, hi]: n_trials values 10**U(lo, hi)")
    log_grid: dict[str, tuple[float, float, int]] = f(dict, "dotted key -> [lo, hi, n]: 10**l for n evenly spaced "
                                                            "l in [lo, hi]")
    n_trials: int = f(8, "draws of log_uniform", ge=1)
    seed: int = f(0, "seed of the log_uniform draws")


class EnsembleConfig(Strict):
    """[ensemble]: several seeds of this config, and other configs, with their probabilities averaged."""

    seeds: int = f(1, "train this many copies of the config, seeds seed .. seed+seeds-1 (1 = no ensemble)", ge=1)
    members: list[str] = f(list, "other configs (TOML paths, relative to this config's folder) trained on the "
                                 "same split")
    members_weight: float = f(0.5, "the members' share of the averaged probabilities; the seed copies share the "
                                   "rest", ge=0, le=1)


class ConfigBase(Strict):
    """A whole experiment config: what every kind has. A task module adds [data], [model], [train],
    [gradcheck] and [search] of its kind (and [ensemble] where it applies)."""

    name: str = f("experiment", "the experiment's name (the default run folder is runs/train/<name>)")
    description: str = f("", "what the experiment is, in words")
    seed: int = f(0, "seed of every random number: initialisation, sampling, dropout, augmentation")
    rng: Literal["spawned", "one"] = f("spawned", "'spawned': one Generator each for the initialisation, the "
                                                  "training and the samples, spawned from seed; 'one': a single "
                                                  "numpy.random.default_rng(seed) for everything in turn, as the "
                                                  "2025 sheets' code (its first draws are the initial weights)")

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def is_ensemble(self) -> bool:
        ens = getattr(self, "ensemble", None)
        return ens is not None and (ens.seeds > 1 or bool(ens.members))

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)
