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


class DataConfig(_Strict):
    dataset: Literal["cifar10", "surnames", "synthetic", "text"] = "cifar10"
    #: cifar10: 'a1' (batch 1 / batch 2 / test batch) or 'all' (5 batches minus n_val);
    #: surnames: 'course' (the course's validation names, no test part) or 'grouped' (leak-free:
    #: de-duplicated pairs, no name string in two of train / val / test; see data/grouped.py).
    #: Default: 'a1' for cifar10, 'course' for surnames; text: not used
    split: Literal["a1", "all", "course", "grouped"] | None = None
    #: validation examples held out (text: characters at the end of the file)
    n_val: int = Field(1000, ge=1)
    #: text: the UTF-8 file (relative paths are looked up under $HANDGRAD_DATA first)
    path: str | None = None
    #: keep only the first n_train training examples (text: characters) (quick runs)
    n_train: int | None = Field(None, ge=1)
    #: surnames: the course files or the PyTorch tutorial's names data
    source: Literal["course", "tutorial"] = "course"
    #: surnames, split 'grouped': seed of the split, and the validation (= test) size of each
    #: language: holdout_fraction of its distinct names, clipped to [holdout_min, holdout_max]
    split_seed: int = 0
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5)
    holdout_min: int = Field(10, ge=1)
    holdout_max: int = Field(200, ge=1)
    #: surnames: 'indices' (characters, for ConvNets) or 'ngrams' (TF-IDF character n-grams,
    #: sparse rows for a linear model; see data/ngrams.py)
    features: Literal["indices", "ngrams"] = "indices"
    ngram_range: tuple[int, int] = (1, 4)
    ngram_tf: Literal["count", "log"] = "count"

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


class ModelConfig(_Strict):
    kind: Literal["linear", "mlp", "convnet", "rnn"] = "linear"
    #: the classifiers' loss (an rnn always sums the cross-entropy over each sequence)
    loss: Literal["cross_entropy", "svm", "bce"] = "cross_entropy"
    #: weight initialisation; default per kind: linear 'normal' N(0, .01^2), mlp 'fan_in', convnet 'he'
    init: Literal["normal", "xavier", "he", "fan_in"] | None = None
    std: float | None = Field(None, gt=0)
    hidden: list[int] = Field(default_factory=lambda: [50])
    #: rnn: hidden units
    m: int = Field(100, ge=1)
    #: keep probability of dropout after each hidden layer (mlp) or before the last layer (convnet); 1 = none
    dropout: float = Field(1.0, gt=0, le=1)
    #: mlp: batch normalisation in every hidden layer (never the last), before or after the ReLU
    batch_norm: bool = False
    bn_position: Literal["before", "after"] = "before"
    #: weight of the old running average (mu_av <- alpha mu_av + (1 - alpha) mu), and the variance's eps
    bn_alpha: float = Field(0.9, ge=0, lt=1)
    bn_eps: float = Field(1e-8, gt=0)
    #: convnet: [[k1, n1], [k2, n2], ...] filter widths and counts
    convs: list[tuple[int, int]] = Field(default_factory=lambda: [(5, 20), (3, 20)])
    #: convnet: zero columns on each side of every conv layer's input, or "same" ((k-1)/2, odd k)
    padding: Annotated[int, Field(ge=0)] | Literal["same"] = 0
    bias: bool = False
    #: convnet: 'none' (Dense on every position, the sheet) or 'max' (global max over positions)
    pool: Literal["none", "max"] = "none"
    impl: str = "fast"


class TrainConfig(_Strict):
    n_batch: int = Field(100, ge=1)
    eta: float = Field(0.001, gt=0)
    lam: float = Field(0.0, ge=0, alias="lambda")
    #: training length: exactly one of n_epochs, n_updates, n_cycles
    n_epochs: float | None = Field(None, gt=0)
    n_updates: int | None = Field(None, ge=1)
    n_cycles: float | None = Field(None, gt=0)
    optimizer: Literal["sgd", "momentum", "nesterov", "adam", "adagrad"] = "sgd"
    #: clip every gradient entry to [-clip, clip] before the step (the A4 sheet: 5)
    clip: float | None = Field(None, gt=0)
    rho: float = Field(0.9, ge=0, lt=1)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    schedule: Literal["constant", "step", "exponential", "cyclical"] = "constant"
    decay_factor: float = Field(0.1, gt=0)
    decay_every: int = Field(10, ge=1)
    gamma: float = Field(0.9, gt=0)
    eta_min: float = Field(1e-5, gt=0)
    eta_max: float = Field(1e-1, gt=0)
    #: half-cycle length in updates; or give n_s_factor k for n_s = k * floor(n / n_batch)
    n_s: int | None = Field(None, ge=1)
    n_s_factor: float | None = Field(None, gt=0)
    #: rnn: 'sequential' reads the text in order (n_batch side-by-side streams, state carried),
    #: 'random' takes every sequence from a random location (state reset each update)
    sampling: Literal["sequential", "shuffle", "balanced", "power", "random"] = "sequential"
    #: 'power' sampling: class frequencies n_c^power (0 balanced, 1 natural), loss weights n_c^-power
    sampling_power: float = Field(0.5, ge=0, le=1)
    #: rnn: characters per sequence (truncated BPTT length)
    seq_length: int = Field(25, ge=1)
    #: rnn: record the smooth loss every this many updates
    smooth_every: int = Field(100, ge=1)
    #: rnn: a sample_length-character sample every sample_every updates (0: none)
    sample_every: int = Field(10_000, ge=0)
    sample_length: int = Field(200, ge=1)
    #: rnn: length of the passage written from the final (or best) model
    passage_length: int = Field(1000, ge=1)
    keep_best: bool = False
    best_metric: str = "val_accuracy"
    #: evaluate every this many updates; or records_per_cycle for cyclical runs; default per epoch
    record_every: int | None = Field(None, ge=1)
    records_per_cycle: int | None = Field(None, ge=1)
    flip: bool = False
    translate: int = Field(0, ge=0)
    #: surnames (character indices): replace each character with a random one with this probability
    char_noise: float = Field(0.0, ge=0, lt=1)
    snapshot_ensemble: bool = False
    #: average the parameters over the last part of training, from this fraction of the updates on
    average_from: float | None = Field(None, ge=0, lt=1)
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _one_length(self):
        given = [k for k in ("n_epochs", "n_updates", "n_cycles") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of n_epochs, n_updates, n_cycles (got {', '.join(given)})")
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
    #: use only the first n_dims input features (the sheet's trainX(1:20, :)); None = all
    n_dims: int | None = Field(20, ge=1)
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 100])
    #: lambdas to check; the [train] lambda is always added
    lambdas: list[float] = Field(default_factory=lambda: [0.0, 1.0])
    #: what the table shows: complex (the reference, exact to rounding), or the course's centred
    #: (ComputeGradsNumSlow) / forward (ComputeGradsNum); the verdict always comes from complex
    method: Literal["complex", "centred", "forward"] = "complex"
    #: step of ``method`` (default 1e-20 for complex, 1e-5 for the differences)
    h: float | None = Field(None, gt=0)
    eps: float = Field(1e-6, gt=0)
    tol: float = Field(1e-6, gt=0)
    #: hidden sizes / convs for the check's smaller network (default: the model's own)
    hidden: list[int] | None = None
    convs: list[tuple[int, int]] | None = None
    #: rnn: hidden units of the check's smaller network (the sheet: 5); batch sizes count sequences
    m: int | None = Field(None, ge=1)


class SearchConfig(_Strict):
    #: key -> list of values, every combination tried
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    #: key -> [lo, hi]: value = 10**U(lo, hi), n_trials draws
    log_uniform: dict[str, tuple[float, float]] = Field(default_factory=dict)
    #: key -> [lo, hi, n]: value = 10**l for n evenly spaced l in [lo, hi]
    log_grid: dict[str, tuple[float, float, int]] = Field(default_factory=dict)
    n_trials: int = Field(8, ge=1)
    seed: int = 0


class EnsembleConfig(_Strict):
    #: train this many copies of the config, seeds seed .. seed+seeds-1 (1 = no ensemble)
    seeds: int = Field(1, ge=1)
    #: other configs (TOML paths, relative to this config's folder) trained on the same split
    members: list[str] = Field(default_factory=list)
    #: the members' share of the averaged probabilities; the seed copies share the rest
    members_weight: float = Field(0.5, ge=0, le=1)


class Config(_Strict):
    name: str = "experiment"
    description: str = ""
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    gradcheck: GradcheckConfig = Field(default_factory=GradcheckConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)

    @property
    def is_ensemble(self) -> bool:
        return self.ensemble.seeds > 1 or bool(self.ensemble.members)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def parse_value(text: str) -> Any:
    """A --set value: TOML syntax when it parses (numbers, booleans, lists), else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(raw: dict, dotted: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for 'a.b', creating tables as needed."""
    *path, last = dotted.split(".")
    node = raw
    for p in path:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise HandgradError(f"cannot set {dotted!r}: {p!r} is a value, not a table")
        node = nxt
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
            msg = "unknown key (check the spelling; see the README's config reference)"
        got = err.get("input")
        got_s = "" if isinstance(got, dict) or err["type"] == "extra_forbidden" else f" (got {got!r})"
        lines.append(f"  {key}: {msg}{got_s}")
    return "\n".join(lines)


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
