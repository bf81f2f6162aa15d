# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Traffic: detect incidents", "traffic.tasks.incidents_detect", 5 * 60),
    ("Traffic: refresh speed forecasts", "traffic.tasks.forecasts_refresh", 5 * 60),
    ("Traffic: refresh signal plans", "traffic.tasks.signal_plans_refresh", 15 * 60),
    ("Traffic: train the speed predictor", "traffic.tasks.predictor_train", 24 * 60 * 60),
]
