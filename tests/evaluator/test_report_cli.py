"""`alveare-migrate report`: exit codes 0 / 1 / 3 (and 2 for a report that cannot run), files written."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from core.pair import Pair
from core.store import Store
from migrate_cli.main import cli
from migrate_cli.report import parse_since
from tests.evaluator.factory import classify_pairs

POLICY = """
gates:
  - {task: classify, metric: agreement, margin: 0.05}
  - {task: extract, metric: field_f1, margin: 0.05}
ignore_idle_gates: true
stages:
  - {percent: 100, min_pairs: 1}
"""


def _store(tmp_path: Path, pairs: list[Pair]) -> str:
    url = f"sqlite:///{tmp_path / 'pairs.sqlite'}"
    store = Store.open(url)
    store.write_pairs(pairs)
    store.close()
    return url


def _run(tmp_path: Path, url: str, *extra: str) -> tuple[int, str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    args = ["report", "--store", url, "--policy", str(policy), "--out", str(tmp_path / "reports"), *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("agree", "disagree", "code", "word"),
    [(400, 0, 0, "PASS"), (300, 100, 1, "FAIL"), (10, 0, 3, "INCONCLUSIVE")],
)
def test_exit_code_is_the_verdict(tmp_path: Path, agree: int, disagree: int, code: int, word: str) -> None:
    url = _store(tmp_path, classify_pairs(agree, disagree))
    exit_code, output = _run(tmp_path, url, "--format", "md,json,junit,html")
    assert exit_code == code, output
    assert output.startswith(word)
    reports = tmp_path / "reports"
    assert json.loads((reports / "parity.json").read_text())["schema_version"] == 1
    root = ET.parse(reports / "parity.junit.xml").getroot()
    assert root.tag == "testsuites" and int(root.get("tests", "0")) == 2  # agreement + the idle extract gate
    assert (reports / "parity.md").read_text().splitlines()[0].endswith("alveare-migrate parity report")
    assert (reports / "parity.html").stat().st_size > 1000
    if code == 3:
        assert "not enough pairs yet, about" in output and "more comparable pairs needed" in output


def test_empty_store_and_filters(tmp_path: Path) -> None:
    url = _store(tmp_path, [])
    assert _run(tmp_path, url)[0] == 3
    url = _store(tmp_path, classify_pairs(400, 0))
    code, output = _run(tmp_path, url, "--task", "nothing-like-this", "--format", "json")
    assert code == 3 and "no pairs recorded yet" in output
    code, _ = _run(tmp_path, url, "--model", "gpt-4o-mini", "--since", "0", "--task", "classify")
    assert code == 0


def test_errors_exit_2_with_a_fix(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nope.sqlite'}"
    code, output = _run(tmp_path, missing)
    assert code == 2 and "does not exist" in output and not (tmp_path / "nope.sqlite").exists()
    url = _store(tmp_path, classify_pairs(5, 0))
    code, output = _run(tmp_path, url, "--format", "md,pdf")
    assert code == 2 and "pdf" in output
    code, output = _run(tmp_path, url, "--since", "last tuesday")
    assert code == 2 and "24h" in output


def test_parse_since() -> None:
    now = 1_700_000_000.0
    assert parse_since("24h", now) == now - 86400
    assert parse_since("30m", now) == now - 1800
    assert parse_since("1700000000", now) == 1_700_000_000.0
    assert parse_since("2023-11-14T22:13:20+00:00", now) == 1_700_000_000.0
    assert abs(parse_since("2024-01-01", time.time()) - time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, -1))) < 1


def test_unreadable_rows_are_counted_not_fatal(tmp_path: Path) -> None:
    url = _store(tmp_path, classify_pairs(400, 0))
    store = Store.open(url)
    with store.engine.begin() as conn:  # hand-edited rows, as a person with sqlite3 could leave them
        conn.execute(text("UPDATE pairs SET request = '{not json' WHERE rowid = 3"))
        conn.execute(text("UPDATE pairs SET incumbent = '{\"status\": 200}' WHERE rowid = 4"))
    store.close()
    code, output = _run(tmp_path, url, "--format", "md,json")
    assert code == 0, output
    bad = json.loads((tmp_path / "reports" / "parity.json").read_text())["bad_input"]
    assert bad["unreadable record (JSONDecodeError)"]["count"] == 1
    assert bad["unreadable record (TypeError)"]["count"] == 1
    assert "unreadable record" in (tmp_path / "reports" / "parity.md").read_text()
