"""Offline evaluation: ALS, BPR, item-item and popularity on one split of the stored interactions, or the
LightGCN papers' protocol on a published train/valid/test split (`--lightgcn DIR`); prints JSON."""

import json
import sys
import time

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from recommender import conf
from recommender.evaluation import describe, evaluate_algorithms, prepare_split
from recommender.exceptions import NotEnoughData
from recommender.ml.lightgcn import load_lightgcn, run_protocol
from recommender.models import Algorithm, TrainingConfig


class Command(BaseCommand):
    help = ("Evaluate algorithms on a per-user split of the interactions (time-based when timestamps exist, else "
            "random with a fixed seed): precision/recall/nDCG/MAP@k and coverage, with the popularity baseline. "
            "The last line is one JSON object.")

    def add_arguments(self, parser):
        parser.add_argument("--source-prefix", help="Only interactions whose source starts with this, e.g. "
                            "'import:ml100k:' for one imported data set.")
        parser.add_argument("--algorithms", default="als,bpr,itemknn",
                            help="Comma-separated, with the ML core's default parameters.")
        parser.add_argument("--config", action="append", default=[],
                            help="Also evaluate a stored training configuration (e.g. the tuned one); repeatable.")
        parser.add_argument("--split", choices=["auto", "time", "random"], default="auto")
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--k", type=int, default=None, help="Cut-off (default 10; 20 with --lightgcn).")
        lightgcn = parser.add_argument_group("LightGCN protocol (files instead of the database)")
        lightgcn.add_argument("--lightgcn", metavar="DIR",
                              help="A directory with train.txt, valid.txt (optional) and test.txt ('user item item "
                                   "...'): the fixed baselines and the tuned pipeline, fitted on train+valid, "
                                   "all-item ranking, Recall@k and NDCG@k on test.")
        lightgcn.add_argument("--budget", type=float, default=600.0,
                              help="Tuning time budget in seconds for --lightgcn (default 600).")
        lightgcn.add_argument("--trials", type=int, default=500, help="Maximum tuning trials for --lightgcn.")
        lightgcn.add_argument("--no-baselines", action="store_true", help="--lightgcn: only the tuned pipeline.")

    def handle(self, *args, source_prefix=None, algorithms="", config=(), split="auto", test_fraction=0.2, seed=42,
               k=None, lightgcn=None, budget=600.0, trials=500, no_baselines=False, **options):
        if lightgcn:
            return self.lightgcn(lightgcn, k=k or 20, budget=budget, trials=trials, seed=seed,
                                 baselines=not no_baselines)
        k = k or 10
        candidates = []
        for name in filter(None, (a.strip() for a in algorithms.split(","))):
            if name not in Algorithm.values:
                raise CommandError(f"Unknown algorithm {name!r}; choose from {Algorithm.values}.")
            candidates.append((name, name, {}))
        for config_name in config:
            stored = TrainingConfig.objects.filter(name=config_name).first()
            if stored is None:
                raise CommandError(f"No training configuration named {config_name!r}.")
            candidates.append((f"config:{stored.name}", stored.algorithm, stored.params))
        try:
            self.stderr.write("Extracting and splitting ...")
            prepared = prepare_split(source_prefix=source_prefix, split=split, test_fraction=test_fraction, seed=seed)
        except NotEnoughData as exc:
            raise CommandError(exc.message)
        bar = tqdm(total=len(candidates) + 1, desc="models", file=sys.stderr)

        def on_model(label: str) -> None:
            bar.set_postfix_str(label)
            bar.update(0 if bar.n == 0 and label == candidates[0][0] else 1)

        results = evaluate_algorithms(prepared, candidates=candidates, k=k, num_threads=conf.train_threads(),
                                      on_model=on_model)
        bar.update(bar.total - bar.n)
        bar.close()
        popularity = results["popularity"]["ndcg"]
        for label, metrics in results.items():
            lift = metrics["ndcg"] / popularity if popularity else float("inf")
            self.stderr.write(f"  {label:<24} nDCG@{k} {metrics['ndcg']:.4f}  P {metrics['precision']:.4f}  "
                              f"R {metrics['recall']:.4f}  MAP {metrics['map']:.4f}  cov {metrics['coverage']:.3f}  "
                              f"x{lift:.2f} popularity  fit {metrics['fit_s']}s")
        body = {"data": {"source_prefix": source_prefix, **describe(prepared, k=k, test_fraction=test_fraction,
                                                                   seed=seed)}, "results": results}
        self.stdout.write(json.dumps(body))

    def lightgcn(self, directory: str, *, k: int, budget: float, trials: int, seed: int, baselines: bool) -> None:
        try:
            data = load_lightgcn(directory)
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc))
        started = time.monotonic()
        self.stderr.write(f"{directory}: {data.train.shape[0]} users x {data.train.shape[1]} items, train "
                          f"{data.train.nnz} + valid {0 if data.valid is None else data.valid.nnz} pairs, test "
                          f"{data.test.nnz}; tuning budget {budget:.0f}s")
        bar = tqdm(total=trials, desc="tuning", unit="trial", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        def on_row(row: dict) -> None:
            bar.clear()
            if "skipped" in row:
                self.stderr.write(f"  {row['model']:<52} skipped: {row['skipped']}")
                return
            extra = f"  (tuning {row['tune_s']}s, {row['trials']} trials)" if "tune_s" in row else ""
            self.stderr.write(f"  {row['model']:<52} Recall@{k} {row['recall']:.4f}  NDCG@{k} {row['ndcg']:.4f}"
                              f"  fit {row['fit_s']}s{extra}")

        rows, result = run_protocol(data, budget_s=budget, max_trials=trials, k=k, seed=seed,
                                    num_threads=conf.train_threads(), baselines=baselines, progress=progress,
                                    on_row=on_row)
        bar.close()
        self.stderr.write(f"| model | Recall@{k} | NDCG@{k} |\n|---|---|---|")
        for row in rows:
            if "skipped" not in row:
                self.stderr.write(f"| {row['model']} | {row['recall']:.4f} | {row['ndcg']:.4f} |")
        self.stdout.write(json.dumps({
            "data": {"dir": str(directory), "users": int(data.train.shape[0]), "items": int(data.train.shape[1]),
                     "train_pairs": int(data.training_part.nnz), "test_pairs": int(data.test.nnz), "k": k},
            "budget_s": budget, "seconds": round(time.monotonic() - started, 1),
            "chosen": {"algorithm": result.algorithm, "validation_ndcg": round(result.best_score, 5),
                       "best_single": result.best_single},
            "results": rows,
        }, default=str))
