"""Train a model version now (the same service as the Celery job and the admin action)."""

import json
import sys

from django.core.management import BaseCommand, CommandError

from recommender.exceptions import NotEnoughData, TrainingInProgress
from recommender.models import Algorithm, TrainingConfig
from recommender.progress import TqdmProgress
from recommender.services import model_train, training_config_active


class Command(BaseCommand):
    help = "Train, evaluate and register a model version from the interactions; activate it if it passes the gate."

    def add_arguments(self, parser):
        parser.add_argument("--config", help="Name of a training configuration (default: the active one).")
        parser.add_argument("--algorithm", choices=Algorithm.values, help="Override the configuration's algorithm "
                            "(its params are then ignored unless --params is given).")
        parser.add_argument("--params", help='JSON overrides, e.g. \'{"factors": 32}\'.')
        parser.add_argument("--wait", type=float, default=0.0,
                            help="Seconds to wait for a running training to finish (default: exit at once).")
        parser.add_argument("--no-activate", action="store_true", help="Register only; never activate.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, config=None, algorithm=None, params=None, wait=0.0, no_activate=False,
               no_progress=False, **options):
        if config:
            try:
                training = TrainingConfig.objects.get(name=config)
            except TrainingConfig.DoesNotExist:
                raise CommandError(f"No training configuration named {config!r}.")
        else:
            training = training_config_active()
        if algorithm or params:
            # An unsaved copy: a one-off run must not edit the stored configuration.
            training.pk = None
            training.algorithm = algorithm or training.algorithm
            training.params = json.loads(params) if params else ({} if algorithm else training.params)
        self.stdout.write(f"Training {training.algorithm} {json.dumps(training.params)} ...")
        try:
            version = model_train(config=training,
                                  triggered_by="command", wait_s=wait, activate=not no_activate,
                                  progress=TqdmProgress(sys.stderr, disable=no_progress))
        except TrainingInProgress as exc:
            raise CommandError(f"{exc.message} ({exc.details.get('holder', 'another process')})")
        except NotEnoughData as exc:
            raise CommandError(exc.message)
        except ValueError as exc:
            raise CommandError(f"Invalid configuration: {exc}")
        self.stdout.write(f"v{version.pk} {version.status}: {version.reason}")
        self.stdout.write(json.dumps({"version": version.pk, "status": version.status, "metrics": version.metrics,
                                      "popularity": version.baseline_metrics, "stages": version.stage_timings}))
