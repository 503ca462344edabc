"""The report's rows and tables every family gets: published targets, gradient checks, the best
trials of a search, every seed of a repeated run."""

from __future__ import annotations

from handgrad import readers
from handgrad.errors import HandgradError
from handgrad.reproduction.runstate import RunState, read_json
from handgrad.reproduction.spec import GRADCHECK_BOUND
from handgrad.reproduction.verdicts import (
    FAILED,
    NOT_AVAILABLE,
    PASSED,
    fmt,
    judge,
    row,
)


def target_rows(rs: RunState) -> list[dict]:
    exp, rows = rs.exp, []
    for t in exp.targets:
        raw = rs.value(t.key) if rs.state == "done" else None
        ours = None if raw is None else raw * t.scale
        diff, verdict = judge(t, ours, rs.quick)
        ours_s = fmt(ours, t.fmt)
        if ours is not None and t.key.endswith("_mean"):
            std = rs.value(t.key[:-5] + "_std")
            n = rs.metrics.get("repeat")
            ours_s += f" ± {fmt(None if std is None else std * t.scale, t.fmt)} (n={n})"
        pub_s = fmt(t.published, t.fmt) + (f" ± {fmt(t.published_std, t.fmt)}" if t.published_std is not None else "")
        note = t.note if rs.state == "done" else rs.reason
        rows.append(row(exp, t.label, ours_s, pub_s, diff, t.tolerance_text(), verdict, t.source, note))
    return rows


def gradcheck_tables(rs: RunState) -> tuple[list[dict], dict | None]:
    """(comparison rows, detail table) of a gradient-check experiment."""
    exp = rs.exp
    pub_max = max((r["max_rel"] for case in exp.gradcheck_published for r in case), default=None)
    pub_text = (fmt(pub_max, ".2e") if pub_max is not None
                else f"< {GRADCHECK_BOUND:g}" if exp.gradcheck_published_bound else "-")
    source = exp.gradcheck_source
    if rs.state != "done":
        return [row(exp, f"{exp.title}: largest relative error", "-", pub_text, "-", f"< {GRADCHECK_BOUND:g}",
                    NOT_AVAILABLE, source, rs.reason)], None
    m = rs.metrics
    bound = m.get("bound", GRADCHECK_BOUND)
    # the verdict is the complex-step reference's (runs saved before it existed: the shown method's)
    verdict = PASSED if m.get("passed", m["max_rel"] <= bound) else FAILED
    ref = "verdict: the complex-step reference (its errors in the table below)" if "reference_max_rel" in m else ""
    note = "; ".join(x for x in ("quick: 20 dimensions, at most 20 examples" if rs.quick else "", ref) if x)
    comp = [row(exp, f"{exp.title}: largest relative error", fmt(m["max_rel"], ".2e"), pub_text, "-",
                f"< {bound:g}", verdict, source, note)]
    rows = []
    # gradcheck_cases returns one case per (batch, lambda); reproduce asks one lambda per case, in order
    for i, case in enumerate(m["cases"]):
        pub_case = exp.gradcheck_published[i] if i < len(exp.gradcheck_published) else ()
        refs = case.get("reference", case)["rows"]
        for j, r in enumerate(case["rows"]):
            p = pub_case[j] if j < len(pub_case) else {}
            ref_rel = refs[j]["max_rel"]
            rows.append([i + 1, case["batch_size"], f"{case['lambda']:g}", case["n_dims"],
                         r["param"] + (f" ({p['param']})" if p else ""), fmt(r["max_abs"], ".2e"),
                         fmt(r["max_rel"], ".2e"), fmt(p.get("max_abs"), ".2e"), fmt(p.get("max_rel"), ".2e"),
                         fmt(ref_rel, ".2e"), "yes" if ref_rel <= bound else "NO"])
    table = {"caption": f"{exp.title} ({m['cases'][0]['method']} differences, h={m['cases'][0]['h']:g}, float64)",
             "columns": ["case", "batch", "lambda", "dims", "parameter", "ours max abs", "ours max rel",
                         "published max abs", "published max rel", "complex-step max rel", f"rel < {bound:g}"],
             "rows": rows}
    return comp, table


def search_table(rs: RunState) -> dict | None:
    try:
        res = read_json(rs.folder / "results.json", readers.read_trials)
    except HandgradError as e:
        return {"caption": f"{rs.exp.title}: search results not available ({e})", "columns": [], "rows": []}
    if not res:
        return None
    top = rs.exp.extra("search_top", ())
    keys = sorted({k for r in res for k in r["overrides"]})
    rows = []
    for i in range(3):
        r = res[i] if i < len(res) else None
        p = top[i] if i < len(top) else None
        ours = ([", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in r["overrides"].items()),
                 fmt(100 * r["metrics"]["train_accuracy"]), fmt(100 * r["metrics"]["val_accuracy"]),
                 fmt(None if r["metrics"].get("test_accuracy") is None else 100 * r["metrics"]["test_accuracy"])]
                if r else ["-"] * 4)
        pub = [f"lambda={p[0]:.3g}", fmt(p[1]), fmt(p[2])] if p else ["-"] * 3
        rows.append([i + 1, *ours, *pub])
    return {"caption": f"{rs.exp.title}: the three best of {len(res)} trials (by validation accuracy); "
                       f"varied: {', '.join(keys)}",
            "columns": ["rank", "ours: setting", "train %", "val %", "test %", "published: setting", "train %",
                        "val %"],
            "rows": rows}


def repeat_table(rs: RunState) -> dict | None:
    m = rs.metrics
    if not m or "test_accuracy_runs" not in m:
        return None
    rows = []
    for i, seed in enumerate(m.get("seeds", range(len(m["test_accuracy_runs"])))):
        rows.append([seed] + [fmt(100 * m[f"{s}_accuracy_runs"][i]) if f"{s}_accuracy_runs" in m else "-"
                              for s in ("train", "val", "test")])
    rows.append(["mean ± std"] + [f"{fmt(100 * m[f'{s}_accuracy_mean'])} ± {fmt(100 * m[f'{s}_accuracy_std'])}"
                                  if f"{s}_accuracy_mean" in m else "-" for s in ("train", "val", "test")])
    return {"caption": f"{rs.exp.title}: every seed", "columns": ["seed", "train %", "val %", "test %"],
            "rows": rows}


#: the tables each kind of experiment gets when it has finished
KIND_TABLES = {"search": search_table, "repeat": repeat_table}
