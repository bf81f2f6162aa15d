import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "superapp.settings")
application = get_wsgi_application()

from superapp.warmup import process_warm  # noqa: E402 - needs the apps loaded by get_wsgi_application

process_warm()
