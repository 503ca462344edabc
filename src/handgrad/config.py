"""Experiment configs: TOML files validated by pydantic (unknown keys are errors).

A config has four tables: ``[data]``, ``[model]``, ``[train]``, and optional ``[gradcheck]`` and
``[search]``. ``--set key=value`` overrides use dotted keys (``train.lambda=0.1``) and are applied
to the raw TOML before validation, so they get the same checks and messages.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handgrad.errors import HandgradError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _f(default=..., description: str = "", **kw):
    """A config field: its default (a callable: a factory of it), constraints and meaning (``handgrad config
    keys`` prints them)."""
    if callable(default):
        return Field(default_factory=default, description=description, **kw)
    return Field(default, description=description, **kw)


class DataConfig(_Strict):
    """[data]: which data set, which split, and how names or text become model inputs."""

    dataset: Literal["cifar10", "surnames", "text"] = _f(
        "cifar10", "the data set: CIFAR-10 images, the course's surnames, or a UTF-8 text file")
    split: Literal["a1", "all", "course", "grouped"] | None = _f(
        None, "cifar10: 'a1' (data_batch_1 / data_batch_2 / test_batch) or 'all' (the five batches minus n_val "
        "for validation); surnames: 'course' (the course's validation names, no test part) or 'grouped' (the "
        "leak-free split: de-duplicated pairs, no name in two parts). Default: 'a1' for cifar10, 'course' for "
        "surnames; not used for text")
    n_val: int = _f(1000, "validation examples held out by split 'all' (text: characters at the end of the file)",
                    ge=1)
    path: str | None = _f(None, "text: the UTF-8 file (a relative path is looked up under $HANDGRAD_DATA first)")
    n_train: int | None = _f(None, "keep only the first n_train training examples (text: characters), for quick "
                                   "runs; surnames: a seeded random subset", ge=1)
    source: Literal["course", "tutorial"] = _f(
        "course", "surnames: the course files under $HANDGRAD_DATA/surnames/, or the PyTorch tutorial's names "
        "data (downloaded, folded to ASCII)")
    split_seed: int = _f(0, "surnames, split 'grouped': seed of the split")
    holdout_fraction: float = _f(0.2, "surnames, split 'grouped': each language's validation (and test) share "
                                      "of its distinct names", gt=0, lt=0.5)
    holdout_min: int = _f(10, "surnames, split 'grouped': at least this many validation (and test) names per "
                              "language", ge=1)
    holdout_max: int = _f(200, "surnames, split 'grouped': at most this many validation (and test) names per "
                               "language", ge=1)
    features: Literal["indices", "ngrams"] = _f(
        "indices", "surnames: 'indices' (characters, for ConvNets) or 'ngrams' (TF-IDF character n-grams, "
        "sparse rows for a linear model)")
    ngram_range: tuple[int, int] = _f((1, 4), "surnames, features 'ngrams': the shortest and longest n-gram")
    ngram_tf: Literal["count", "log"] = _f("count", "surnames, features 'ngrams': term frequency, raw count or "
                                                    "1 + log(count)")

    @model_validator(mode="after")
    def _split_for_dataset(self):
        if self.split is None:
            self.split = "course" if self.dataset == "surnames" else "a1"
        allowed = {"surnames": ("course", "grouped")}.get(self.dataset, ("a1", "all"))
        if self.split not in allowed:
            raise ValueError(f"split {self.split!r} does not apply to {self.dataset}; choose {' or '.join(allowed)}")
        if self.features == "ngrams" and self.dataset != "surnames":
            raise ValueError("features = 'ngrams' applies to the surnames data only")
        if self.holdout_min > self.holdout_max:
            raise ValueError(f"holdout_min ({self.holdout_min}) must not exceed holdout_max ({self.holdout_max})")
        return self


PositiveInt = Annotated[int, Field(ge=1)]


class ModelConfig(_Strict):
    """[model]: the network and its loss."""

    kind: Literal["linear", "mlp", "convnet", "rnn"] = _f(
        "linear", "linear classifier, k-layer perceptron (with optional batch norm), character ConvNet or "
        "character RNN")
    loss: Literal["cross_entropy", "svm", "bce"] = _f(
        "cross_entropy", "softmax + cross-entropy, multi-class hinge (SVM) or sigmoid + multiple binary "
        "cross-entropy (an rnn always sums the cross-entropy over each sequence)")
    init: Literal["normal", "xavier", "he", "fan_in"] | None = _f(
        None, "weight initialisation: 'normal' N(0, std^2), 'xavier', 'he' or 'fan_in' N(0, 1/fan_in). Default "
        "per kind: linear 'normal' (std .01), mlp 'fan_in', convnet 'he'")
    std: float | None = _f(None, "standard deviation of every initial weight, overriding init's rule (rnn: of "
                                 "U, W and V; default .01)", gt=0)
    hidden: list[PositiveInt] = _f(lambda: [50], "mlp: the size of every hidden layer, e.g. [50, 50]")
    m: int = _f(100, "rnn: hidden units", ge=1)
    dropout: float = _f(1.0, "keep probability of dropout after each hidden ReLU (mlp) or before the last layer "
                             "(convnet); 1 = no dropout", gt=0, le=1)
    batch_norm: bool = _f(False, "mlp: batch normalisation in every hidden layer (never the last)")
    bn_position: Literal["before", "after"] = _f("before", "mlp: batch norm before the ReLU (the sheet) or after it")
    bn_alpha: float = _f(0.9, "mlp: weight of the old running average, mu_av <- alpha mu_av + (1 - alpha) mu",
                         ge=0, lt=1)
    bn_eps: float = _f(1e-8, "mlp: added to the batch variance", gt=0)
    convs: list[tuple[PositiveInt, PositiveInt]] = _f(lambda: [(5, 20), (3, 20)],
                                                      "convnet: [[k1, n1], [k2, n2], ...] filter widths and counts")
    padding: Annotated[int, Field(ge=0)] | Literal["same"] = _f(
        0, "convnet: zero columns on each side of every conv layer's input, or 'same' ((k-1)/2, odd k)")
    bias: bool = _f(False, "convnet: bias terms in every layer (the sheet has none)")
    pool: Literal["none", "max"] = _f("none", "convnet: 'none' (the Dense layer sees every position, the sheet) "
                                              "or 'max' (each filter's maximum over the positions)")
    impl: Literal["mfmx", "a", "b", "ab", "fast"] = _f(
        "fast", "convnet: the convolution's implementation: the sheet's MF/MX reference 'mfmx', its speed-ups "
        "'a', 'b', 'ab', or handgrad's 'fast' path (all give the same numbers)")


class TrainConfig(_Strict):
    """[train]: optimiser, learning-rate schedule, training length, sampling and recording."""

    n_batch: int = _f(100, "mini-batch size (rnn: sequences read side by side per update)", ge=1)
    eta: float = _f(0.001, "learning rate of the 'constant', 'step' and 'exponential' schedules", gt=0)
    lam: float = _f(0.0, "L2 weight lambda: the cost adds lambda * sum of squared weights (not biases)",
                    ge=0, alias="lambda")
    n_epochs: float | None = _f(None, "training length in epochs; give one of n_epochs, n_updates, n_cycles "
                                      "(default: 40 epochs)", gt=0)
    n_updates: int | None = _f(None, "training length in update steps", ge=1)
    n_cycles: float | None = _f(None, "training length in cycles of the cyclical schedule (2 n_s updates each)",
                                gt=0)
    optimizer: Literal["sgd", "momentum", "nesterov", "adam", "adagrad"] = _f(
        "sgd", "the update rule: plain SGD, heavy-ball or Nesterov momentum (rho), Adam (beta1, beta2) or AdaGrad")
    clip: float | None = _f(None, "clip every gradient entry to [-clip, clip] before the step (the A4 sheet: 5)",
                            gt=0)
    rho: float = _f(0.9, "momentum coefficient of 'momentum' and 'nesterov'", ge=0, lt=1)
    beta1: float = _f(0.9, "Adam's first-moment decay", ge=0, lt=1)
    beta2: float = _f(0.999, "Adam's second-moment decay", ge=0, lt=1)
    schedule: Literal["constant", "step", "exponential", "cyclical"] = _f(
        "constant", "learning rate by update step: constant eta, step decay (eta * decay_factor every decay_every "
        "epochs), exponential decay (eta * gamma per epoch), or the triangular cyclical schedule (eta_min .. "
        "eta_max, half-cycle n_s)")
    decay_factor: float = _f(0.1, "'step' schedule: multiply eta by this ...", gt=0)
    decay_every: int = _f(10, "... every this many epochs", ge=1)
    gamma: float = _f(0.9, "'exponential' schedule: eta * gamma ** epoch", gt=0)
    eta_min: float = _f(1e-5, "'cyclical' schedule: the lowest learning rate", gt=0)
    eta_max: float = _f(1e-1, "'cyclical' schedule: the highest learning rate", gt=0)
    n_s: int | None = _f(None, "'cyclical' schedule: half-cycle length in updates (default: n_s_factor * "
                               "floor(n / n_batch))", ge=1)
    n_s_factor: float | None = _f(None, "'cyclical' schedule: n_s = k * floor(n / n_batch) for this k (default 2)",
                                  gt=0)
    sampling: Literal["sequential", "shuffle", "balanced", "power", "random"] = _f(
        "sequential", "which examples make an epoch: 'sequential' (in order), 'shuffle' (a new order each epoch), "
        "'balanced' (as many of every class as the smallest has), 'power' (between natural and balanced); rnn: "
        "'sequential' (the text in order, state carried) or 'random' (sequences at random places)")
    sampling_power: float = _f(0.5, "'power' sampling: class frequencies n_c^power (0 balanced, 1 natural), loss "
                                    "weights n_c^-power", ge=0, le=1)
    seq_length: int = _f(25, "rnn: characters per sequence (the truncated BPTT length)", ge=1)
    smooth_every: int = _f(100, "rnn: record the smooth loss every this many updates", ge=1)
    sample_every: int = _f(10_000, "rnn: a sample_length-character sample every this many updates (0: none; a "
                                   "run shorter than this samples once, at the end)", ge=0)
    sample_length: int = _f(200, "rnn: characters of each sample", ge=1)
    passage_length: int = _f(1000, "rnn: characters of the passage written from the final (or best) model", ge=1)
    keep_best: bool = _f(False, "keep the parameters with the best best_metric seen at a recording point")
    best_metric: str = _f("val_accuracy", "what keep_best compares: a recorded key such as val_accuracy, "
                                          "val_balanced_accuracy or val_loss (a loss or cost is best when lowest)")
    record_every: int | None = _f(None, "evaluate on the training and validation data every this many updates "
                                        "(default: once per epoch)", ge=1)
    records_per_cycle: int | None = _f(None, "'cyclical' schedule: evaluate this many times per cycle", ge=1)
    flip: bool = _f(False, "cifar10: flip each training image horizontally with probability .5")
    translate: int = _f(0, "cifar10: shift each training image by up to this many pixels", ge=0)
    char_noise: float = _f(0.0, "surnames (character indices): replace each character by a random one with this "
                                "probability", ge=0, lt=1)
    snapshot_ensemble: bool = _f(False, "keep the parameters at the end of every cycle (or epoch) and report "
                                        "their averaged predictions")
    average_from: float | None = _f(None, "average the parameters over the last part of training, from this "
                                          "fraction of the updates on", ge=0, lt=1)
    dtype: Literal["float32", "float64"] = _f("float32", "the floating-point type training runs in")

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
        if self.average_from is not None and self.keep_best:
            raise ValueError("average_from and keep_best both choose the final parameters: use one")
        if self.schedule == "cyclical" and self.eta_min >= self.eta_max:
            raise ValueError(f"eta_min ({self.eta_min}) must be below eta_max ({self.eta_max})")
        return self


class GradcheckConfig(_Strict):
    """[gradcheck]: the course's gradient tests (handgrad gradcheck CONFIG)."""

    n_dims: int | None = _f(20, "use only the first n_dims input features (the sheet's trainX(1:20, :)); "
                                "none = all", ge=1)
    batch_sizes: list[PositiveInt] = _f(lambda: [1, 100], "the batch sizes checked (rnn: sequences)")
    lambdas: list[Annotated[float, Field(ge=0)]] = _f(lambda: [0.0, 1.0], "the lambdas checked; the [train] "
                                                                          "lambda is always added")
    method: Literal["complex", "centred", "forward"] = _f(
        "complex", "what the table shows: the complex step (the reference, exact to rounding) or the course's "
        "centred (ComputeGradsNumSlow) or forward (ComputeGradsNum) differences; the verdict always comes from "
        "the complex step")
    h: float | None = _f(None, "step of method (default 1e-20 for complex, 1e-5 for the differences)", gt=0)
    eps: float = _f(1e-6, "the eps of the relative error |ga - gn| / max(eps, |ga| + |gn|)", gt=0)
    tol: float = _f(1e-6, "largest relative error that passes", gt=0)
    hidden: list[PositiveInt] | None = _f(None, "mlp: hidden sizes of the check's network (default: the model's)")
    convs: list[tuple[PositiveInt, PositiveInt]] | None = _f(None, "convnet: [k, n] layers of the check's network "
                                                                  "(default: the model's)")
    m: int | None = _f(None, "rnn: hidden units of the check's network (the sheet: 5)", ge=1)


class SearchConfig(_Strict):
    """[search]: the trials of handgrad search."""

    grid: dict[str, list[Any]] = _f(dict, "dotted key -> list of values; every combination is a trial")
    log_uniform: dict[str, tuple[float, float]] = _f(dict, "dotted key -> [lo, hi]: n_trials values 10**U(lo, hi)")
    log_grid: dict[str, tuple[float, float, int]] = _f(dict, "dotted key -> [lo, hi, n]: 10**l for n evenly "
                                                             "spaced l in [lo, hi]")
    n_trials: int = _f(8, "draws of log_uniform", ge=1)
    seed: int = _f(0, "seed of the log_uniform draws")


class EnsembleConfig(_Strict):
    """[ensemble]: several seeds of this config, and other configs, with their probabilities averaged."""

    seeds: int = _f(1, "train this many copies of the config, seeds seed .. seed+seeds-1 (1 = no ensemble)", ge=1)
    members: list[str] = _f(list, "other configs (TOML paths, relative to this config's folder) trained on the "
                                  "same split")
    members_weight: float = _f(0.5, "the members' share of the averaged probabilities; the seed copies share the "
                                    "rest", ge=0, le=1)


class Config(_Strict):
    """A whole experiment config."""

    name: str = _f("experiment", "the experiment's name (the default run folder is runs/train/<name>)")
    description: str = _f("", "what the experiment is, in words")
    seed: int = _f(0, "seed of every random number: initialisation, sampling, dropout, augmentation")
    data: DataConfig = _f(DataConfig, DataConfig.__doc__)
    model: ModelConfig = _f(ModelConfig, ModelConfig.__doc__)
    train: TrainConfig = _f(TrainConfig, TrainConfig.__doc__)
    gradcheck: GradcheckConfig = _f(GradcheckConfig, GradcheckConfig.__doc__)
    search: SearchConfig = _f(SearchConfig, SearchConfig.__doc__)
    ensemble: EnsembleConfig = _f(EnsembleConfig, EnsembleConfig.__doc__)

    @property
    def is_ensemble(self) -> bool:
        return self.ensemble.seeds > 1 or bool(self.ensemble.members)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def parse_value(text: str) -> Any:
    """A --set value: TOML syntax when it parses (numbers, booleans, lists), ``null`` for None (which
    unsets the key: its default applies), else a plain string."""
    if text == "null":
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(raw: dict, dotted: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for 'a.b', creating tables as needed; None removes the key, so
    its default applies (``--set train.n_updates=null --set train.n_epochs=5``)."""
    *path, last = dotted.split(".")
    node = raw
    for p in path:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise HandgradError(f"cannot set {dotted!r}: {p!r} is a value, not a table")
        node = nxt
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """['train.eta=0.01', ...] -> {'train.eta': 0.01, ...}; a bad item names itself."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise HandgradError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(v.strip())
    return out


def _format_errors(e: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key{did_you_mean(key)} (`handgrad config keys` lists every key)"
        got = err.get("input")
        got_s = "" if isinstance(got, dict) or err["type"] == "extra_forbidden" else f" (got {got!r})"
        lines.append(f"  {key}: {msg}{got_s}")
    return "\n".join(lines)


def did_you_mean(dotted: str) -> str:
    """'; did you mean train.lambda?' for a misspelt or misplaced key, or ''."""
    import difflib

    keys = [k for k, _ in fields()]
    keys += sorted({k.rpartition(".")[0] for k in keys if "." in k})  # the tables themselves
    table, _, name = dotted.rpartition(".")
    same_name = [k for k in keys if k.rpartition(".")[2] == name and k != dotted]  # in another table
    close = difflib.get_close_matches(dotted, keys, n=1, cutoff=0.75)
    near = same_name or close or [k for k in difflib.get_close_matches(
        name, [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == table], n=1, cutoff=0.6)
        for k in [f"{table}.{k}" if table else k]]
    return f"; did you mean {near[0]}?" if near else ""


def from_dict(raw: dict, source: str = "<dict>", overrides: dict[str, Any] | None = None) -> Config:
    raw = json.loads(json.dumps(raw))  # deep copy; tomllib output is JSON-able
    for k, v in (overrides or {}).items():
        set_key(raw, k, v)
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise HandgradError(_format_errors(e, source)) from None


def read_run_config(path: str | Path) -> dict:
    """A run folder's resolved config.json, checked as a config; returns its dict."""
    return load_config(path).to_dict()


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a TOML (or a run folder's config.json) config file."""
    from handgrad.readers import read_text

    path = Path(path)
    if not path.exists():
        raise HandgradError(f"config file not found: {path}")
    text = read_text(path)  # a folder, unreadable or non-UTF-8 file: one message naming it
    try:
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
        raise HandgradError(f"cannot parse {path}: {e}") from None
    if not isinstance(raw, dict):
        raise HandgradError(f"{path} should hold a table of settings, found {type(raw).__name__}")
    cfg = from_dict(raw, str(path), overrides)
    # a TOML's member configs are named relative to it; a run folder's config.json only records them
    if cfg.ensemble.members and path.suffix != ".json":
        members = []
        for m in cfg.ensemble.members:
            mp = Path(m) if Path(m).is_absolute() else (path.parent / m).resolve()
            if not mp.is_file():
                raise HandgradError(f"{path}: ensemble member config {m!r} not found (looked for {mp})")
            members.append(str(mp))
        cfg.ensemble.members = members
    return cfg


def fields(model: type[BaseModel] | None = None, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, pydantic FieldInfo) of every key of a config, in the order the schema declares
    them (``handgrad.config_reference`` turns them into the reference)."""
    model = Config if model is None else model
    out = []
    for name, f in model.model_fields.items():
        key = prefix + (f.alias or name)
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            out += fields(f.annotation, key + ".")
        else:
            out.append((key, f))
    return out


def toml_value(v) -> str:
    """A value in the TOML syntax ``--set`` parses."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        raise ValueError("TOML has no null")
    return str(v)
