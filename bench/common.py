"""What the benchmarks share: free ports, waiting for a server, a fresh database, moto S3."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, what: str) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def prepare_database(url: str, suffix: str) -> str:
    """A fresh database for a benchmark (`<name>_<suffix>` on PostgreSQL, a temporary SQLite file
    otherwise); returns its URL."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tempfile.mkdtemp(prefix=f'mk{suffix}')}/bench.sqlite3"
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_{suffix}"
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parts._replace(path=f"/{name}").geturl()


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto in its own process, as a real S3 endpoint would be: not sharing the benchmark's GIL."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port, "the moto S3 server")
    return server, f"http://127.0.0.1:{port}"
