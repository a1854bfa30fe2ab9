"""build_report and its renderings (the one test module that loads the embedding model, once)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from core.config import CandidateCostSettings, PriceSettings
from core.pair import Pair
from core.store import Store
from evaluator import DEFAULT_GATES, build_report, write_reports
from evaluator.embed import CACHE, cosine_similarities
from evaluator.report import SCHEMA_VERSION, Report
from evaluator.verdict import GateSpec, Verdict
from tests.evaluator.factory import classify_pairs, error, ok, pair, request

SUMMARY = "Revenue grew 12% year over year, driven by strong cloud sales, while hardware declined."
PARAPHRASE = "Cloud sales pushed revenue up 12% from last year; hardware sales fell."


def _mixed() -> list[Pair]:
    json_mode = request("x", response_format={"type": "json_object"})
    pairs = classify_pairs(60, 2)
    pairs += [pair(ok(SUMMARY), ok(PARAPHRASE), task="summarise") for _ in range(30)]
    pairs += [
        pair(
            ok("The patient is allergic to penicillin."),
            ok("The patient is not allergic to penicillin."),
            task="summarise",
        )
    ]
    pairs += [
        pair(ok('{"a": 1}'), ok("{'a': 1}"), req=json_mode),
        pair(ok("Positive"), None),
        pair(error(), ok("x")),
    ]
    return pairs


@pytest.fixture(scope="module")
def mixed_report(embedding_model: Any) -> Report:
    return build_report(
        _mixed(),
        DEFAULT_GATES,
        pricing={"gpt-4o-mini": PriceSettings(0.15, 0.6)},
        candidate_cost=CandidateCostSettings(usd_per_gpu_hour=1.0),
    )


def test_embedding_similarity(embedding_model: Any) -> None:
    same, paraphrase, unrelated, empty = cosine_similarities(
        [
            (SUMMARY, SUMMARY),
            (SUMMARY, PARAPHRASE),
            (SUMMARY, "The weather in Paris will be sunny."),
            (SUMMARY, ""),
        ]
    )
    assert same == 1.0 and empty == 0.0
    assert paraphrase > 0.75 > 0.3 > unrelated
    assert CACHE.get(PARAPHRASE) is not None  # the next look embeds only new answers


def test_report_scores_everything_and_lists_bad_input(mixed_report: Report) -> None:
    report = mixed_report
    assert report.total == 96 and report.compared == 94
    tasks = {t.task: t for t in report.tasks}
    assert tasks["classify"].agreement == pytest.approx(60 / 62)
    assert ("positive", "negative", 2) in tasks["classify"].confusion
    assert tasks["summarise"].similar_share == pytest.approx(30 / 31)  # the flagged pair counts as different
    assert report.review_total == 1 and "negation" in report.review[0].note
    assert report.problems["candidate missing (not mirrored)"] == 1
    assert report.problems["candidate invalid JSON"] == 1
    assert report.worst[0].score == 0.0
    assert report.cost is not None and report.cost.candidate_monthly_usd == 730.0
    assert report.verdict is Verdict.INCONCLUSIVE and report.more_needed is not None


def test_renderings(mixed_report: Report, tmp_path: Path) -> None:
    written = write_reports(mixed_report, ("md", "json", "junit", "html"), tmp_path)
    assert [p.name for p in written] == ["parity.md", "parity.json", "parity.junit.xml", "parity.html"]
    markdown = (tmp_path / "parity.md").read_text()
    assert markdown.startswith("## ⏳ INCONCLUSIVE") and "not enough pairs yet" in markdown.splitlines()[2]
    assert (
        "| classify/agreement |" in markdown and "### Worst pairs" in markdown and "### Bad input" in markdown
    )
    data = json.loads((tmp_path / "parity.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 1 and data["verdict"] == "INCONCLUSIVE"
    assert len(data["gates"]) == len(mixed_report.results) and data["review"]["total"] == 1
    suite = ET.parse(tmp_path / "parity.junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(mixed_report.results) == int(suite.get("tests", "0"))
    inconclusive = cases[0].find("error")  # never "skipped": a CI must not read INCONCLUSIVE as green
    assert (
        inconclusive is not None
        and inconclusive.get("type") == "Inconclusive"
        and "interval [" in inconclusive.get("message", "")
        and "margin" in inconclusive.get("message", "")
    )
    assert int(suite.get("errors", "0")) >= 1 and cases[0].find("skipped") is None
    page = (tmp_path / "parity.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # similarity per task, latency per side
    assert "&lt;" not in page.split("<body>")[0]
    for section in (
        "<h2>Tasks</h2>",
        "Label pairs for classify",
        "Needs human review",
        "Worst pairs",
        "Bad input",
    ):
        assert section in page  # what the Markdown has
    assert not [ch for ch in page if ord(ch) > 0x2FFF]  # no emoji: no empty boxes without an emoji font


def test_worst_pairs_show_flagged_close_pairs_and_group_identical_ones(embedding_model: Any) -> None:
    """A negated summary is close in embedding space (cosine ~0.98) but flagged: it must be in the worst
    pairs; twelve identical flagged pairs are one row with a count."""
    flipped = [
        pair(ok("The patient is allergic to penicillin."), ok("The patient is not allergic to penicillin."),
             task="summarise")
        for _ in range(12)
    ]  # fmt: skip
    far = [
        pair(ok(SUMMARY), ok(f"Unrelated text number {i} about gardening."), task="summarise")
        for i in range(8)
    ]
    report = build_report(flipped + far, [GateSpec("summarise", "similarity", 0.1)])
    counts = {v.candidate: v.count for v in report.worst}
    assert counts["The patient is not allergic to penicillin."] == 12
    negated = [v for v in report.review if v.candidate == "The patient is not allergic to penicillin."]
    assert report.review_total == 20 and len(report.review) == 9 and negated[0].count == 12


def test_needed_is_given_as_pairs_and_as_time(tmp_path: Path) -> None:
    """20 agreeing pairs, one a minute: the report says how many more and how long at that rate."""
    pairs = [
        pair(ok("Positive"), ok("positive"), task="classify", ts=1_700_000_000.0 + 60 * i) for i in range(20)
    ]
    report = build_report(pairs, [GateSpec("classify", "agreement", 0.05)])
    assert report.window_s == 19 * 60
    markdown = (write_reports(report, ("md",), tmp_path)[0]).read_text()
    assert "pairs (~" in markdown and "more at 63.2 pairs/h" in markdown


def test_fail_report_names_the_gate_in_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = build_report(
        classify_pairs(200, 60), [GateSpec("classify", "agreement", 0.05)], progress=True, expected=260
    )
    assert report.verdict is Verdict.FAIL
    assert "scoring pairs" in capsys.readouterr().err  # the tqdm bar, on stderr
    write_reports(report, ("junit", "md"), tmp_path)
    failure = ET.parse(tmp_path / "parity.junit.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message", "").startswith("FAIL: classify/agreement estimate")
    assert "margin 0.05" in failure.get("message", "")
    assert (tmp_path / "parity.md").read_text().startswith("## ❌ FAIL")


def test_empty_store_is_inconclusive(store: Store, tmp_path: Path) -> None:
    report = build_report(store.iter_pairs(), DEFAULT_GATES)
    assert report.verdict is Verdict.INCONCLUSIVE and report.total == 0
    write_reports(report, ("md", "json", "junit", "html"), tmp_path)
    assert "no pairs recorded yet" in (tmp_path / "parity.md").read_text()
    assert "No data to plot yet" in (tmp_path / "parity.html").read_text()
