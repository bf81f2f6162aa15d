"""Hyperparameter search (the ML core's random search) within a time budget; stores the best configuration."""

import json
import sys

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from recommender import conf
from recommender.evaluation import describe, evaluate_algorithms, prepare_split, tune_on
from recommender.exceptions import NotEnoughData
from recommender.models import Algorithm
from recommender.services import training_config_save


class Command(BaseCommand):
    help = ("Search hyperparameters on a validation split carved from the training part, report default vs tuned "
            "on the held-out test part, and save the best as a training configuration (active unless --no-activate).")

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", choices=Algorithm.values, default=Algorithm.ALS)
        parser.add_argument("--budget", type=float, default=300.0, help="Time budget in seconds (default 300).")
        parser.add_argument("--trials", type=int, default=20, help="Maximum number of trials.")
        parser.add_argument("--source-prefix", help="Only interactions whose source starts with this.")
        parser.add_argument("--split", choices=["auto", "time", "random"], default="auto")
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--name", help="Configuration name to save (default: tuned-<algorithm>).")
        parser.add_argument("--no-activate", action="store_true", help="Save without making it the active config.")
        parser.add_argument("--dry-run", action="store_true", help="Report only; save nothing.")

    def handle(self, *args, algorithm="als", budget=300.0, trials=20, source_prefix=None, split="auto",
               test_fraction=0.2, seed=42, k=10, name=None, no_activate=False, dry_run=False, **options):
        try:
            prepared = prepare_split(source_prefix=source_prefix, split=split, test_fraction=test_fraction, seed=seed)
        except NotEnoughData as exc:
            raise CommandError(exc.message)
        with tqdm(total=trials, desc=f"tuning {algorithm}", unit="trial", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.n = done
                bar.refresh()

            result = tune_on(prepared, algorithm=algorithm, k=k, max_trials=trials, time_budget_s=budget, seed=seed,
                             progress=progress, num_threads=conf.train_threads())
        for trial in result.trials:
            self.stderr.write(f"  {trial.phase:<8} nDCG@{k} {trial.score:.4f} {trial.seconds:6.1f}s "
                              f"{json.dumps(trial.params, sort_keys=True)}")
        # Only the test part, never seen by the search, says whether tuning helped.
        tested = evaluate_algorithms(prepared, k=k, num_threads=conf.train_threads(), candidates=[
            ("default", algorithm, {}), ("tuned", algorithm, result.best_params)])
        saved = None
        if not dry_run:
            config = training_config_save(
                name=name or f"tuned-{algorithm}", algorithm=algorithm, params=result.best_params,
                activate=not no_activate, k=k,
                notes=f"tune_recommender: {len(result.trials)} trials in {result.seconds:.0f}s; validation "
                      f"nDCG@{k} {result.best_score:.4f}; test nDCG@{k} {tested['tuned']['ndcg']:.4f} vs default "
                      f"{tested['default']['ndcg']:.4f} and popularity {tested['popularity']['ndcg']:.4f}.")
            saved = {"name": config.name, "active": config.is_active}
        self.stdout.write(json.dumps({
            "algorithm": algorithm, "trials": len(result.trials), "seconds": round(result.seconds, 1),
            "validation_ndcg": round(result.best_score, 5), "best_params": result.best_params,
            "test": {label: {m: v for m, v in metrics.items() if m != "params"} for label, metrics in tested.items()},
            "data": describe(prepared, k=k, test_fraction=test_fraction, seed=seed), "saved": saved,
        }))
