import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mktops.settings")
application = get_asgi_application()

# as in wsgi.py: load the views, then keep the collector off what they loaded
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
gc.collect()
gc.freeze()
