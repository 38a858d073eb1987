"""The documents a user reads: the README's two commands first, the configuration page in step with the
settings, and no development history in the README, the docs or the code's docstrings."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT

HISTORY = re.compile(
    r"\bsession \d+|\(now\)|\|\s*(?:before|now):|\*\*\*+\s*\|?$|rounds? of work|later issues", re.I | re.M
)


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert (
        lines[0] == "```bash"
        and lines[1].startswith("bash scripts/run.sh")
        and lines[2].startswith("bash scripts/test.sh")
        and lines[3] == "```"
    )
    assert len(lines) <= 150
    for link in re.findall(r"\]\((docs/[^)#]+)", "\n".join(lines)):
        assert (ROOT / link).exists(), link


def test_the_configuration_page_is_generated_from_the_settings():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_docs.py"), "--check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_no_development_history_in_documents_or_docstrings():
    texts = {
        p: p.read_text(encoding="utf-8")
        for p in [
            ROOT / "README.md",
            *(ROOT / "docs").glob("*.md"),
            *(ROOT / "rag").rglob("*.py"),
            ROOT / "app.py",
        ]
    }
    found = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p, t in texts.items() for m in HISTORY.finditer(t)]
    assert not found, found
