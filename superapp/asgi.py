import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "superapp.settings")
application = get_asgi_application()

from superapp.warmup import process_warm  # noqa: E402 - needs the apps loaded by get_asgi_application

process_warm()
