"""docs/cli.md is exactly what the commands' --help says today."""

from __future__ import annotations

from pathlib import Path

from migrate_cli.main import COMMANDS
from migrate_cli.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date() -> None:
    expected = render_reference()
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/cli.md is stale: run `python -m migrate_cli.reference > docs/cli.md`"
    )


def test_every_registered_command_is_documented() -> None:
    text = render_reference()
    for name in COMMANDS:
        assert f"## `alveare-migrate {name}`" in text, f"{name} has no module or no help"
