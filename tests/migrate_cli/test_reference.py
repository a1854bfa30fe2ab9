"""docs/cli.md is exactly what the commands' --help says today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from migrate_cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"


def generated() -> str:
    """In a fresh interpreter, as the doc is made: click caches help options per command object, so commands
    other tests invoked in this process could render differently."""
    done = subprocess.run(
        [sys.executable, "-m", "migrate_cli.reference"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_cli_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == generated(), (
        "docs/cli.md is stale: run `python -m migrate_cli.reference > docs/cli.md`"
    )


def test_every_registered_command_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"## `alveare-migrate {name}`" in text, f"{name} has no module or no help"
