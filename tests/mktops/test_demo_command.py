"""The README's first command: `manage.py demo` starts the console and its cluster, and stops both."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fixtures.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()  # a zombie has stopped; nobody may reap it here
    except FileNotFoundError:
        return False


def test_demo_serves_the_console_and_takes_its_cluster_down_on_sigterm(tmp_path):
    env = {**os.environ, "DEBUG": "1", "MKTOPS_ALLOW_PRIVATE_TARGETS": "1",
           "DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3"}
    env.pop("REDIS_URL", None)  # the embedded defaults: SQLite and the database broker
    port = free_port()
    demo = subprocess.Popen([sys.executable, "manage.py", "demo", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cluster_pid = None
    try:
        for line in demo.stdout:
            if "django-q2 cluster started (pid " in line:
                cluster_pid = int(line.split("(pid ")[1].split(")")[0])
                break
        assert cluster_pid and _running(cluster_pid)
        wait_for_port(port, seconds=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/") as page:
            assert page.status == 200 and b"mktops" in page.read()
        demo.send_signal(signal.SIGTERM)  # as kill or a process manager stops it
        assert demo.wait(timeout=60) == 0
        for _ in range(300):
            if not _running(cluster_pid):
                break
            time.sleep(0.1)
        assert not _running(cluster_pid)
    finally:
        demo.kill()
        demo.wait()
        if cluster_pid and _running(cluster_pid):  # a failed test leaves nothing running
            os.kill(cluster_pid, signal.SIGKILL)
