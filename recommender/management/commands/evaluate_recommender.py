"""Offline evaluation: ALS, BPR, item-item and popularity on one split of the stored interactions; prints JSON."""

import json
import sys

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from recommender import conf
from recommender.evaluation import describe, evaluate_algorithms, prepare_split
from recommender.exceptions import NotEnoughData
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
        parser.add_argument("--k", type=int, default=10)

    def handle(self, *args, source_prefix=None, algorithms="", config=(), split="auto", test_fraction=0.2, seed=42,
               k=10, **options):
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
