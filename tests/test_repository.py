"""The repository explains itself: nothing in it points at files outside it."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a relative path that climbs out of the checkout, or the steering folder by name
# (or this workplace's own folders: a test that wrote there would fail on any other machine)
OUTSIDE = re.compile(r"(?<![\w.])\.\./(?:shared|seeds|DESIGN)|\bshared/(?:DESIGN|seeds)|/work/(?:notes|shared|main)\b")


def _tracked_texts():
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in names.splitlines():
        if name.endswith((".md", ".py", ".toml", ".html", ".txt")) or name.startswith(".ci/"):
            path = ROOT / name
            if path.is_file():
                yield name, path.read_text(encoding="utf-8", errors="replace")


def test_no_file_points_outside_the_repository():
    offenders = [name for name, text in _tracked_texts() if OUTSIDE.search(text) and name != "tests/test_repository.py"]
    assert offenders == []


def test_architecture_document_is_linked_from_the_readme():
    assert (ROOT / "ARCHITECTURE.md").is_file()
    assert "ARCHITECTURE.md" in (ROOT / "README.md").read_text()
