# Default periodic jobs (written to django-celery-beat by `manage.py setup_schedules`; edit them in the admin).
from recommender import conf

SCHEDULES = [
    ("Retrain the recommender", "recommender.tasks.retrain", conf.retrain_every_s()),
]
