"""Benchmark every model on the shared real data sets (dev tool, not used in serving).

    python -m recommender.ml.bench_real --data movielens
    python -m recommender.ml.bench_real --data foursquare --tune-trials 20 --tune-budget 240
    python -m recommender.ml.bench_real --data movielens --lightgcn --tune-budget 600   # Recall/NDCG@20 table

Protocols (fixed so numbers are comparable across commits):

* ``movielens``: MovieLens 100k, every rating is a positive interaction weighted by the
  rating; per-user time split, each user's latest 20 % of ratings are test.
* ``foursquare``: check-in counts per (user, place) as weights; random per-user 80/20
  split with seed 42.

Tuning only sees a validation split carved from the training part; the test part is
used once, for the table. Prints a Markdown table (``docs/recommender-ml.md``).

``--lightgcn`` scores the same splits the way ``evaluate_recommender --lightgcn`` scores a
published train/valid/test split (binary interactions, all-item ranking, Recall@20 and
NDCG@20, the fixed baselines and the tuned pipeline): the validation split above plays
the part of ``valid.txt``. Prints the table and one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .dataset import (
    InteractionLog,
    Split,
    build_matrix,
    split_by_time,
    split_random_per_user,
    time_split_mask,
    validation_split,
)
from .evaluate import evaluate
from .lightgcn import LightGCNSplit, run_protocol
from .models import make_model
from .tune import tune

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "movielens": Path("movielens-100k") / "u.data",
    "foursquare": Path("foursquare-checkin-counts") / "ratings_data.txt",
    # Not a required protocol: the random 80/20 split behind the published ML-100k
    # reference numbers (popularity ~0.22, WMF ~0.42), to check we reproduce them.
    "movielens-random": Path("movielens-100k") / "u.data",
}


def data_root() -> Path:
    """Where the public data sets are: ``$SUPERAPP_DATA_DIR``, else ``../shared/data`` beside the checkout.

    ``make data`` downloads them there (``recommender/ml/fetch_data.py``).
    """
    if os.environ.get("SUPERAPP_DATA_DIR"):
        return Path(os.environ["SUPERAPP_DATA_DIR"])
    return REPO_ROOT.parent / "shared" / "data"


def load_split(name: str, *, root: Path | None = None) -> tuple[Split, Split | None]:
    """Load a shared data set and apply its benchmark protocol (see module docstring).

    Returns ``(split, validation)``: for the temporal protocol ``validation`` is the
    same temporal split applied to the training events only (so tuning mimics the
    test protocol); otherwise None and ``tune`` carves a random one.
    Raises ``FileNotFoundError`` with a pointer to the expected location if missing.
    """
    path = (root or data_root()) / FILES[name]
    if not path.exists():
        raise FileNotFoundError(
            f"benchmark data {path} is missing: run `make data` (downloads the public data sets to ../shared/data) "
            "or set SUPERAPP_DATA_DIR to where they are"
        )
    raw = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if name == "movielens":
        log = InteractionLog(user_ids=raw[:, 0], item_ids=raw[:, 1], weights=raw[:, 2], timestamps=raw[:, 3])
        is_test = time_split_mask(log, test_fraction=0.2)
        return split_by_time(log, test_fraction=0.2), split_by_time(log.subset(~is_test), test_fraction=0.2)
    log = InteractionLog(user_ids=raw[:, 0], item_ids=raw[:, 1], weights=raw[:, 2])
    return split_random_per_user(build_matrix(log), test_fraction=0.2, seed=42), None


def run(name: str, *, tune_trials: int, tune_budget: float, threads: int, k: int = 10) -> list[dict[str, Any]]:
    split, validation = load_split(name)
    print(
        f"# {name}: {split.train.shape[0]} users x {split.train.shape[1]} items, "
        f"train {split.train.nnz} pairs, test {split.test.nnz} pairs "
        f"({split.dropped_test_pairs} dropped: cold items or already in train)",
        file=sys.stderr,
    )
    rows: list[dict[str, Any]] = []

    def bench(label: str, algorithm: str, params: dict[str, Any] | None, extra: float = 0.0) -> None:
        t0 = time.monotonic()
        model = make_model(algorithm, params, num_threads=threads).fit(split.train)
        fit_s = time.monotonic() - t0
        t1 = time.monotonic()
        metrics = evaluate(model, split.train, split.test, k=k)
        eval_s = time.monotonic() - t1
        rows.append({"model": label, **metrics, "fit_s": fit_s + extra, "eval_s": eval_s})
        print(f"  {label}: ndcg@{k}={metrics['ndcg']:.4f} fit {fit_s:.1f}s", file=sys.stderr)

    bench("popularity", "popularity", None)
    bench("ALS (defaults)", "als", None)
    t0 = time.monotonic()
    result = tune(
        split.train,
        algorithm="als",
        max_trials=tune_trials,
        time_budget_s=tune_budget,
        num_threads=threads,
        validation=validation,
    )
    tune_s = time.monotonic() - t0
    print(
        f"  tuned ALS: {len(result.trials)} trials in {tune_s:.0f}s, best val ndcg {result.best_score:.4f}, "
        f"params {result.best_params}",
        file=sys.stderr,
    )
    bench("ALS (tuned)", "als", result.best_params, extra=tune_s)
    rows[-1]["params"] = result.best_params
    bench("BPR (defaults)", "bpr", None)
    bench("item-KNN (defaults)", "itemknn", None)
    return rows


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    m.data[:] = 1.0
    return m


def as_lightgcn(split: Split, validation: Split | None, *, seed: int = 0) -> LightGCNSplit:
    """The benchmark protocol's split as train/valid/test in one index space (binary).

    ``valid`` is the protocol's validation split (the temporal one for MovieLens, else a
    random one of the training part), mapped into the split's index space by external id,
    so train + valid is exactly the training part.
    """
    if validation is None:
        validation = validation_split(split.train, seed=seed)
        return LightGCNSplit(_binary(validation.train), _binary(validation.test), _binary(split.test))
    users = np.searchsorted(split.user_ids, validation.user_ids)
    items = np.searchsorted(split.item_ids, validation.item_ids)

    def remap(m: sp.csr_matrix) -> sp.csr_matrix:
        coo = m.tocoo()
        return _binary(sp.csr_matrix((coo.data, (users[coo.row], items[coo.col])), shape=split.train.shape))

    return LightGCNSplit(remap(validation.train), remap(validation.test), _binary(split.test))


def run_lightgcn(name: str, *, budget: float, trials: int, threads: int, k: int = 20,
                 baselines: bool = True) -> dict[str, Any]:
    split, validation = load_split(name)
    data = as_lightgcn(split, validation)
    print(f"# {name}: {data.train.shape[0]} users x {data.train.shape[1]} items, train {data.train.nnz} + valid "
          f"{data.valid.nnz} pairs, test {data.test.nnz}; budget {budget:.0f}s", file=sys.stderr)
    rows, result = run_protocol(data, budget_s=budget, max_trials=trials, k=k, num_threads=threads,
                                baselines=baselines,
                                on_row=lambda row: print(f"  {row}", file=sys.stderr, flush=True))
    print(f"| {name} | Recall@{k} | NDCG@{k} |\n|---|---|---|", file=sys.stderr)
    for row in rows:
        if "skipped" not in row:
            print(f"| {row['model']} | {row['recall']:.4f} | {row['ndcg']:.4f} |", file=sys.stderr)
    return {"data": name, "k": k, "budget_s": budget, "chosen": result.algorithm, "results": rows}


def to_markdown(name: str, rows: list[dict[str, Any]], k: int = 10) -> str:
    head = f"| {name} | nDCG@{k} | P@{k} | R@{k} | MAP@{k} | HR@{k} | coverage | fit s | eval s |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['ndcg']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['map']:.4f} "
            f"| {r['hit_rate']:.4f} | {r['coverage']:.3f} | {r['fit_s']:.1f} | {r['eval_s']:.1f} |"
        )
    pop = rows[0]["ndcg"]
    lines.append("")
    lines.append("nDCG ratio to popularity: " + ", ".join(f"{r['model']} {r['ndcg'] / pop:.2f}x" for r in rows[1:]))
    tuned = [r for r in rows if "params" in r]
    if tuned:
        lines.append(f"Tuned ALS params: `{tuned[0]['params']}`")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=sorted(FILES), action="append", required=True)
    parser.add_argument("--tune-trials", type=int, default=20)
    parser.add_argument("--tune-budget", type=float, default=240.0, help="seconds for the ALS search")
    parser.add_argument("--threads", type=int, default=1, help="implicit threads (machine is shared)")
    parser.add_argument("--lightgcn", action="store_true", help="Recall/NDCG@20 table of evaluate_recommender "
                        "--lightgcn on these splits (baselines + the tuned pipeline, --tune-budget seconds)")
    parser.add_argument("--no-baselines", action="store_true", help="--lightgcn: only the tuned pipeline")
    args = parser.parse_args(argv)
    if args.lightgcn:
        for name in args.data:
            print(json.dumps(run_lightgcn(name, budget=args.tune_budget, trials=max(args.tune_trials, 500),
                                          threads=args.threads, baselines=not args.no_baselines), default=str),
                  flush=True)
        return 0
    for name in args.data:
        rows = run(name, tune_trials=args.tune_trials, tune_budget=args.tune_budget, threads=args.threads)
        print(to_markdown(name, rows))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
