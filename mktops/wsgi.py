import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mktops.settings")
application = get_wsgi_application()

# Load the views now and move everything loaded so far out of the garbage
# collector's reach: it would otherwise walk these ~100k long-lived objects
# again and again while a request allocates, a tenth of an ingest request.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - imports every view module
gc.collect()
gc.freeze()
