"""`alveare-migrate replay`: recorded requests sent to a candidate sim (never to the incumbent), the answers
stored as replayed pairs and judged by `report --source replay` with the same gates; resumable."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backend.sim.server import SimOptions, SimServer
from core.store import Store
from migrate_cli.main import cli
from policies.runner import candidate_pairs
from tests.migrate_cli.recorded import SEED, Recorded, record_traffic, stop

REQUESTS = 150


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    # 0% and no mirror: step zero of a migration, only the incumbent has ever answered.
    done = record_traffic(tmp_path_factory.mktemp("replay"), {"classify": REQUESTS}, users=50)
    try:
        yield done
    finally:
        stop(done)


@pytest.fixture
def store_copy(recorded: Recorded, tmp_path: Path) -> str:
    """A private copy of the recorded store, so each test replays from scratch."""
    source = Store.open(recorded.store_url)
    target = Store.open(f"sqlite:///{tmp_path / 'copy.sqlite'}")
    target.write_pairs(source.iter_pairs())
    return f"sqlite:///{target.path}"


def config(tmp_path: Path, store_url: str, incumbent: str, candidate: str) -> Path:
    path = tmp_path / "alveare.yaml"
    path.write_text(f"store: {store_url}\nincumbent: {{url: {incumbent}}}\ncandidate: {{url: {candidate}}}\n")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def candidate_sim(disagree: float) -> SimServer:
    return SimServer(SimOptions(flavor="sglang", seed=SEED, disagree=disagree)).start()


@pytest.mark.parametrize(("disagree", "verdicts"), [(0.4, {1}), (0.0, {0, 3})])
def test_replay_is_judged_by_the_same_gates_and_never_calls_the_incumbent(
    recorded: Recorded, store_copy: str, tmp_path: Path, disagree: float, verdicts: set[int]
) -> None:
    seen_before = recorded.incumbent.app.requests_seen
    with candidate_sim(disagree) as candidate:
        path = config(tmp_path, store_copy, recorded.incumbent.base_url, candidate.base_url)
        result = invoke(
            "replay", "-c", str(path), "--task", "classify", "--concurrency", "4", "--no-progress"
        )
        assert result.exit_code == 0, result.output
        assert candidate.app.requests_seen == REQUESTS
    assert recorded.incumbent.app.requests_seen == seen_before  # not one request to the incumbent
    assert f"replayed {REQUESTS} of {REQUESTS} recorded classify requests" in result.stdout

    out = tmp_path / "reports"
    report = invoke("report", "-c", str(path), "--source", "replay", "--task", "classify", "--out", str(out))
    assert report.exit_code in verdicts, report.output
    data = json.loads((out / "parity.json").read_text())
    assert data["pairs"] == {"total": REQUESTS, "compared": REQUESTS}
    assert data["filters"]["source"] == "replay"

    store = Store.open(store_copy)
    assert store.count_pairs() == REQUESTS and store.count_pairs(source="replay") == REQUESTS
    assert candidate_pairs(store, 0.0) == 0  # the rollout's gates never see replayed answers
    live = invoke("report", "-c", str(path), "--task", "classify", "--out", str(tmp_path / "live"))
    assert live.exit_code == 3  # live traffic alone: no candidate answer yet, nothing decided


def test_replay_resumes_and_retries_what_got_no_answer(
    recorded: Recorded, store_copy: str, tmp_path: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
        path = config(tmp_path, store_copy, recorded.incumbent.base_url, dead)
        down = invoke("replay", "-c", str(path), "--task", "classify", "--no-progress")
    assert down.exit_code == 2 and "does not answer" in down.stderr and "run the same command" in down.stderr
    assert Store.open(store_copy).count_pairs(source="replay") == 0

    with candidate_sim(0.0) as candidate:
        path = config(tmp_path, store_copy, recorded.incumbent.base_url, candidate.base_url)
        first = invoke("replay", "-c", str(path), "--task", "classify", "--limit", "40", "--no-progress")
        rest = invoke("replay", "-c", str(path), "--task", "classify", "--no-progress")
        again = invoke("replay", "-c", str(path), "--task", "classify", "--no-progress")
        assert candidate.app.requests_seen == REQUESTS
    assert first.exit_code == rest.exit_code == again.exit_code == 0
    assert f"replayed {REQUESTS - 40} of {REQUESTS} recorded classify requests" in rest.stdout
    assert "40 done by an earlier run" in rest.stdout
    assert f"replayed 0 of {REQUESTS}" in again.stdout
    assert Store.open(store_copy).count_pairs(source="replay") == REQUESTS


def test_replay_refuses_bad_input_with_one_line(recorded: Recorded, store_copy: str, tmp_path: Path) -> None:
    same = config(tmp_path, store_copy, recorded.incumbent.base_url, recorded.incumbent.base_url)
    refused = invoke("replay", "-c", str(same), "--task", "classify")
    assert refused.exit_code == 2 and "replay only ever calls the candidate" in refused.stderr
    path = config(tmp_path, store_copy, recorded.incumbent.base_url, "http://127.0.0.1:9")
    empty = invoke("replay", "-c", str(path), "--task", "summarise")
    assert empty.exit_code == 2 and "nothing to replay" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
