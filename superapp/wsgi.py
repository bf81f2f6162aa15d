import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "superapp.settings")
application = get_wsgi_application()

from superapp.warmup import concurrency_model, process_warm, taking_turns  # noqa: E402 - needs the apps loaded

if concurrency_model() == "gevent":
    application = taking_turns(application)

process_warm()
