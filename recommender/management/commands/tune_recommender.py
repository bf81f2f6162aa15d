"""Model search (algorithm and hyperparameters, Optuna TPE) within a time budget; stores the best configuration."""

import json
import sys

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from recommender.exceptions import NotEnoughData
from recommender.ml.tune import SEARCHABLE
from recommender.services import training_config_tune


class Command(BaseCommand):
    help = ("Search the algorithm (ALS, EASE when the catalogue fits, RP3beta, item-kNN, BPR, and blends of two) "
            "and its hyperparameters on a validation split carved from the training part, report tuned and default on "
            "the held-out test part, and save the tuned one as a training configuration (active unless --no-activate). "
            "The last line is one JSON object.")

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", choices=["auto", *SEARCHABLE], default="auto",
                            help="auto (default): search every algorithm that fits the data, and blends.")
        parser.add_argument("--budget", type=float, default=600.0, help="Time budget in seconds (default 600).")
        parser.add_argument("--trials", type=int, default=500, help="Maximum number of trials.")
        parser.add_argument("--source-prefix", help="Only interactions whose source starts with this.")
        parser.add_argument("--split", choices=["auto", "time", "random"], default="auto")
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--name", help="Configuration name to save (default: tuned-<algorithm>).")
        parser.add_argument("--no-activate", action="store_true", help="Save without making it the active config.")

    def handle(self, *args, algorithm="auto", budget=600.0, trials=500, source_prefix=None, split="auto",
               test_fraction=0.2, seed=42, k=10, name=None, no_activate=False, **options):
        with tqdm(total=trials, desc=f"tuning {algorithm}", unit="trial", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.n = done
                bar.refresh()

            try:
                config, outcome = training_config_tune(
                    algorithm=algorithm, name=name, activate=not no_activate, k=k, max_trials=trials,
                    time_budget_s=budget, seed=seed, source_prefix=source_prefix, split=split,
                    test_fraction=test_fraction, progress=progress)
            except NotEnoughData as exc:
                raise CommandError(exc.message)
        result = outcome.result
        for trial in result.trials:
            self.stderr.write(f"  {trial.algorithm:<8} {trial.phase:<8} nDCG@{k} {trial.score:.4f} "
                              f"{trial.seconds:6.1f}s {json.dumps(trial.params, sort_keys=True)}")
        self.stderr.write(f"Saved “{config.name}” ({'active' if config.is_active else 'inactive'}): {config.notes}")
        self.stdout.write(json.dumps({
            "algorithm": result.algorithm, "searched": algorithm, "trials": len(result.trials),
            "seconds": round(result.seconds, 1),
            "validation_ndcg": round(result.best_score, 5), "best_params": result.best_params,
            "saved": {"name": config.name, "active": config.is_active, "params": config.params},
            "test": {label: {m: v for m, v in metrics.items() if m != "params"}
                     for label, metrics in outcome.tested.items()},
        }))
