"""The layers stay layers: import-linter's contracts (pyproject.toml) hold, and no test reaches outside the repo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("KEPT") >= 4


def test_no_test_reads_a_path_outside_the_repository() -> None:
    outside = re.compile(
        "|".join([r"parents\[[2-9]\]\s*/\s*[\"']shared", r"[\"']\.\./shared", "/work/" + "shared"])
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.joinpath("tests").rglob("*.py")
        if outside.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_ground_truth_is_in_the_repository_with_its_sources() -> None:
    data = ROOT / "tests" / "data" / "openai"
    assert (data / "openapi.yaml").stat().st_size > 1_000_000
    sources = (data / "SOURCES.txt").read_text(encoding="utf-8") + (
        data / "fixtures" / "SOURCES.txt"
    ).read_text(encoding="utf-8")
    assert "License: MIT" in sources and "license: Apache-2.0" in sources
    for cassette in (data / "fixtures").rglob("*.yaml"):
        assert cassette.name in sources, f"{cassette.name} has no source line"
