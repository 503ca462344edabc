"""``handgrad gradcheck``: the course's gradient tests on a config's data, and one table over every layer
and loss of the package (``--all``).

For a config, for each batch size and lambda of its [gradcheck] table, a float64 model (on the first
``n_dims`` features, with the table's smaller network) is checked parameter by parameter, by
``gradcheck.method`` as the reports show it and by the complex-step reference for the verdict."""

from __future__ import annotations

import numpy as np

from handgrad.config import ConfigBase
from handgrad.gradcheck import (
    DEFAULT_H,
    REFERENCE,
    Row,
    check_gradients,
    check_layer_grads,
    check_loss_grads,
    check_model,
    describe,
)
from handgrad.losses import LOSSES
from handgrad.networks import mlp
from handgrad.nn import LAYER_TYPES
from handgrad.testing import VARIANTS, _built, layer_factory, loss_factory, middle_draw
from handgrad.tasks import load_data, task_for


def gradcheck_cases(cfg: ConfigBase) -> list[dict]:
    task = task_for(cfg)
    gc = cfg.gradcheck
    data = load_data(cfg)
    lambdas = sorted(set(gc.lambdas) | {cfg.train.lam})
    # no dropout: evaluation mode ignores it, and batch-norm nets are checked in training mode
    model_update = task.gradcheck_config(cfg)
    cases = []
    for n in gc.batch_sizes:
        X, y = task.gradcheck_inputs(cfg, data, n)
        if task.slice_inputs(cfg) and getattr(gc, "n_dims", None) is not None:
            X = X[:, :gc.n_dims]
        for lam in lambdas:
            c = cfg.model_copy(update={"model": cfg.model.model_copy(update=model_update),
                                       "train": cfg.train.model_copy(update={"lam": lam})})
            rng = np.random.default_rng(cfg.seed)
            model = task.build(c, data, rng, d=X.shape[1]).astype(np.float64)
            task.gradcheck_setup(model, c, rng)
            case = check_case(model, X, y, method=gc.method, h=gc.h, eps=gc.eps)
            cases.append({"batch_size": int(len(y)), "lambda": lam, "n_dims": int(X.shape[1]), **case})
    return cases


def check_case(model, X: np.ndarray, y: np.ndarray, *, method: str = REFERENCE, h: float | None = None,
               eps: float = 1e-6) -> dict:
    """One case of ``handgrad gradcheck``: ``method``'s rows (as the reports print them) and the
    reference's (the verdict; the same rows when ``method`` is the reference)."""
    if method == "torch":  # PyTorch autograd, as the 2025 sheets check (torch installed)
        rows = check_gradients(model, X, y, oracle="torch", eps=eps).rows
    else:
        rows = check_model(model, X, y, h, method, eps)
    ref = rows if method == REFERENCE else check_model(model, X, y, None, REFERENCE, eps)
    return {"method": method, "h": DEFAULT_H.get(method, 0.0) if h is None else h,
            "rows": [r.to_dict() for r in rows], "max_rel": max(r.max_rel for r in rows),
            "kinks": sum(r.kinks for r in rows),
            "reference": {"method": REFERENCE, "h": DEFAULT_H[REFERENCE], "rows": [r.to_dict() for r in ref],
                          "max_rel": max(r.max_rel for r in ref), "kinks": sum(r.kinks for r in ref)}}


def passed(cases: list[dict], tol: float) -> bool:
    """The verdict: every case's reference (complex-step) error at most ``tol``."""
    return all(c["reference"]["max_rel"] <= tol for c in cases)


def format_cases(cases: list[dict], tol: float) -> str:
    """The table ``handgrad gradcheck CONFIG`` prints: per case and parameter the shown method's max
    absolute and relative difference and kink crossings, the reference's when it is another method."""
    other = cases and cases[0]["method"] != REFERENCE
    head = f"{'batch':>5} {'lambda':>7} {'dims':>5} {'param':>8} {'max abs diff':>13} {'max rel diff':>13} {'kinks':>5}"
    lines = [head + (f" {'complex rel':>12} {'kinks':>5}" if other else "")]
    for c in cases:
        for r, ref in zip(c["rows"], c["reference"]["rows"]):
            line = (f"{c['batch_size']:>5} {c['lambda']:>7g} {c['n_dims']:>5} {r['param']:>8} "
                    f"{r['max_abs']:>13.2e} {r['max_rel']:>13.2e} {r['kinks']:>5}")
            if other:
                line += f" {ref['max_rel']:>12.2e} {ref['kinks']:>5}"
            lines.append(line + ("" if ref["max_rel"] <= tol else "  <-- above tolerance"))
    if cases:
        c = cases[0]
        if other:
            lines.append(f"table: {describe(c['method'], c['h'])}")
        ref = c["reference"]
        n_kinks = sum(x["reference"]["kinks"] for x in cases)
        lines.append(f"verdict: {describe(ref['method'], ref['h'])}: {'PASSED' if passed(cases, tol) else 'FAILED'} "
                     f"(tolerance {tol:g}; {n_kinks} kink crossings skipped)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# ``handgrad gradcheck --all``
# ---------------------------------------------------------------------------------------------
def check_all(seed: int = 0, lam: float = 0.5) -> list[dict]:
    """One table over every layer (evaluation and, for random layers, training mode), every loss, and
    the model's L2 term: per parameter the max abs and rel error against the reference and kinks."""
    out = []

    def add(component: str, rows: list[Row]) -> None:
        out.extend({"component": component, **r.to_dict(), "method": REFERENCE, "h": DEFAULT_H[REFERENCE]}
                   for r in rows)

    for name in sorted(LAYER_TYPES):
        for label, factory in VARIANTS.get(name, {name: layer_factory(name)}).items():
            layer, x, inputs = _built(factory, middle_draw(), seed)
            add(label, check_layer_grads(layer, x, seed=seed, **inputs))
            if isinstance(getattr(layer, "rng", None), np.random.Generator):
                add(f"{label} (train)", check_layer_grads(layer, x, train=True, seed=seed, **inputs))
    rng = np.random.default_rng(seed)
    for name in sorted(LOSSES):
        loss = loss_factory(name)()
        add(f"loss {name}", check_loss_grads(loss, 3 * rng.standard_normal((4, 5)), rng.integers(0, 5, 4)))
    model = mlp(6, [5], 4, lam=lam, rng=rng).astype(np.float64)
    add(f"L2 term (MLP, lambda {lam:g})", check_model(model, rng.standard_normal((3, 6)), rng.integers(0, 4, 3)))
    return out


def format_all(rows: list[dict], tol: float) -> str:
    lines = [f"{'component':<26} {'param':>8} {'shape':>12} {'max abs diff':>13} {'max rel diff':>13} "
             f"{'method':>8} {'kinks':>5}"]
    for r in rows:
        lines.append(f"{r['component']:<26} {r['param']:>8} {str(tuple(r['shape'])):>12} {r['max_abs']:>13.2e} "
                     f"{r['max_rel']:>13.2e} {r['method']:>8} {r['kinks']:>5}"
                     + ("" if r["max_rel"] <= tol else "  <-- above tolerance"))
    ok = all(r["max_rel"] <= tol for r in rows)
    lines.append(f"verdict: {describe(REFERENCE, DEFAULT_H[REFERENCE])}: {'PASSED' if ok else 'FAILED'} "
                 f"(tolerance {tol:g}; {sum(r['kinks'] for r in rows)} kink crossings skipped)")
    return "\n".join(lines)
