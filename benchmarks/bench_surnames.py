"""Surname languages on the leak-free split: scikit-learn's n-gram baseline, handgrad's n-gram linear
model and handgrad's predictor, side by side (issue 8).

All three train on the same grouped split (``data.split = "grouped"``, the predictor config's
``split_seed`` and holdout sizes: de-duplicated (name, language) pairs, no name string in two of
train / validation / test) and are scored by balanced accuracy (the mean of the 18 per-language
accuracies) on its validation and test parts. The test labels are checked to be the same arrays.

- sklearn: ``TfidfVectorizer(analyzer='char_wb', ngram_range=(1, 4))`` +
  ``LogisticRegression(class_weight='balanced', max_iter=1000)``, scikit-learn's defaults otherwise
  (C=1, lbfgs): the five-line baseline of the issue, not tuned here (nothing is chosen on test);
- handgrad n-gram: ``configs/convnet/ngram-linear.toml`` (TF-IDF character 1-4-grams as sparse rows
  into handgrad's linear softmax classifier);
- handgrad predictor: ``configs/convnet/predictor.toml`` (trained here unless ``--predictor-run``
  names a folder it already trained on the same split, which is then only evaluated).

    .venv/bin/pip install -e '.[bench]'          # scikit-learn (and torch) for the benchmarks
    HANDGRAD_DATA=/path/to/data .venv/bin/python benchmarks/bench_surnames.py [--split-seed 0]
        [--predictor-run runs/predictor] [--out runs/bench-surnames] [--json out.json] [--threads 1]

scikit-learn is a benchmark dependency only (the ``bench`` extra); handgrad never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
CONFIGS = ROOT / "configs" / "convnet"


def sklearn_baseline(tr, va, te, classes) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    t0 = time.perf_counter()
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4))
    clf = LogisticRegression(class_weight="balanced", max_iter=1000)
    clf.fit(vec.fit_transform(tr[0]), tr[1])
    out = {"seconds": time.perf_counter() - t0, "n_features": len(vec.vocabulary_)}
    for part, (names, y) in (("val", va), ("test", te)):
        out[f"{part}_balanced_accuracy"] = float(balanced_accuracy_score(y, clf.predict(vec.transform(names))))
    return out


def handgrad_run(cfg, run_dir: Path | None, existing: Path | None = None) -> dict:
    """Train ``cfg`` into ``run_dir`` (or read a finished run folder ``existing``) -> its metrics."""
    from handgrad import readers
    from handgrad.tasks import ensemble

    if existing is not None:
        m = readers.read_json(existing / "metrics.json")
        saved = readers.read_json(existing / "config.json")["data"]
        want = cfg.to_dict()["data"]
        if saved != want:
            sys.exit(f"{existing} was trained on other data settings than the benchmark's split:\n"
                     f"  {saved}\n  {want}")
        return m
    return ensemble.run_config(cfg, run_dir, figures=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--predictor", type=Path, default=CONFIGS / "predictor.toml")
    ap.add_argument("--ngram", type=Path, default=CONFIGS / "ngram-linear.toml")
    ap.add_argument("--predictor-run", type=Path, default=None,
                    help="a run folder of the predictor config already trained on this split: evaluate only")
    ap.add_argument("--split-seed", type=int, default=None, help="override data.split_seed of both configs")
    ap.add_argument("--out", type=Path, default=None, help="keep the handgrad run folders here")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="limit numpy's BLAS to N threads (the ConvNets' training is chaotic: another thread count "
                         "gives other numbers, as another seed would; benchmarks/README.md's tables name theirs)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=args.threads, user_api="blas")  # noqa: F841 - held for the run
    machine = common.machine_line()
    print(machine, flush=True)

    from handgrad import tasks
    from handgrad.config import load_config
    from handgrad.datasets.names.grouped import grouped_split
    from handgrad.datasets.names.tutorial import resolve_surnames

    ov = {"data.split_seed": args.split_seed} if args.split_seed is not None else {}
    pred_cfg, ngram_cfg = load_config(args.predictor, ov), load_config(args.ngram, ov)
    dc = pred_cfg.data
    if dc.split != "grouped" or ngram_cfg.data.model_dump(include={"split", "split_seed", "holdout_fraction",
                                                                   "holdout_min", "holdout_max"}) != \
            dc.model_dump(include={"split", "split_seed", "holdout_fraction", "holdout_min", "holdout_max"}):
        sys.exit("the predictor and n-gram configs must both use the same grouped split")
    data = resolve_surnames(dc.source)
    gs = grouped_split(data.names, data.labels, data.K, seed=dc.split_seed, fraction=dc.holdout_fraction,
                       min_per_class=dc.holdout_min, max_per_class=dc.holdout_max)
    tr, va, te = (gs.subset(p) for p in ("train", "val", "test"))
    print(f"leak-free split seed {dc.split_seed}: train {len(tr[1])}, validation {len(va[1])}, "
          f"test {len(te[1])} (name, language) pairs, {data.K} languages, "
          f"test names per language {min(gs.sizes['test_per_class'])}..{max(gs.sizes['test_per_class'])}",
          flush=True)
    import numpy as np

    prepared = tasks.load_data(pred_cfg)
    if not np.array_equal(prepared.y_test, te[1]):  # pragma: no cover - one function makes both
        sys.exit("handgrad's test part differs from the benchmark's")

    rows = {"sklearn tfidf char_wb 1-4 + LogisticRegression(balanced)": sklearn_baseline(tr, va, te, data.classes)}
    print("sklearn done", flush=True)
    out = args.out
    rows["handgrad n-gram linear (ngram-linear.toml)"] = handgrad_run(ngram_cfg, out / "ngram" if out else None)
    print("handgrad n-gram done", flush=True)
    rows["handgrad predictor (predictor.toml)"] = handgrad_run(pred_cfg, out / "predictor" if out else None,
                                                               args.predictor_run)
    w = max(len(k) for k in rows)
    print(f"\n{'model':<{w}}  {'val bal. acc':>12}  {'test bal. acc':>13}  {'seconds':>8}")
    for k, m in rows.items():
        print(f"{k:<{w}}  {100 * m['val_balanced_accuracy']:>11.2f}%  {100 * m['test_balanced_accuracy']:>12.2f}%"
              f"  {m.get('seconds', float('nan')):>8.1f}")
    base = rows["sklearn tfidf char_wb 1-4 + LogisticRegression(balanced)"]["test_balanced_accuracy"]
    pred = rows["handgrad predictor (predictor.toml)"]["test_balanced_accuracy"]
    print(f"\npredictor - sklearn on test: {100 * (pred - base):+.2f} points (target >= +3.00)")
    if args.json:
        keep = ("val_balanced_accuracy", "test_balanced_accuracy", "seconds", "n_features")
        args.json.write_text(json.dumps({"split_seed": dc.split_seed, "n_test": len(te[1]), "machine": machine,
                                         "blas_threads": common.numpy_threads(),
                                         "rows": {k: {f: m[f] for f in keep if f in m} for k, m in rows.items()}},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
