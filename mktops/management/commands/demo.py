import os
import signal
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Set up and start the console with demo data: migrate, seed, install schedules, "
            "then run the django-q2 cluster and the web server together until Ctrl-C.")

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, addrport, **options):
        call_command("migrate", interactive=False, verbosity=1)
        call_command("seed_demo")
        call_command("setup_schedules")
        call_command("collectstatic", interactive=False, verbosity=0)
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=os.environ.copy())
        self.stdout.write(f"django-q2 cluster started (pid {cluster.pid}); console at http://{addrport}/admin/")
        # stopped with SIGTERM (kill, a process manager) as with Ctrl-C: the
        # cluster goes down with it instead of running on without a parent
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            cluster.terminate()
            cluster.wait(timeout=30)
