"""The pairwise judge against a stand-in OpenAI-compatible server on 127.0.0.1 (a real HTTP server)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.config import EvaluationSettings, JudgeSettings
from core.pair import Pair
from core.store import Store
from evaluator import evaluate_gates
from evaluator.guards import Flag
from evaluator.judge import Judge, combine, parse_choice, to_judge
from evaluator.metrics import SUMMARISE
from evaluator.scoring import PairScore, score_pairs
from evaluator.verdict import GateSpec
from tests.evaluator.factory import ok, pair

ANSWER = re.compile(r"Answer A:\n(.*)\n\nAnswer B:\n(.*)\n\nWhich", re.S)


class JudgeHandler(BaseHTTPRequestHandler):
    """Model ``fair`` prefers the answer containing "good"; model ``biased`` always says A."""

    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})  # type: ignore[attr-defined]
        match = ANSWER.search(body["messages"][-1]["content"])
        assert match is not None
        first, second = ("good" in match.group(1)), ("good" in match.group(2))
        choice = (
            "A"
            if body["model"] == "biased"
            else ("A" if first and not second else "B" if second and not first else "TIE")
        )
        reply = {
            "id": "chatcmpl-judge",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": choice}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def judge_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), JudgeHandler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def _pairs() -> list[Pair]:
    return [
        pair(ok("a bad summary of it"), ok("a good summary of it"), task="summarise", pair_id="better"),
        pair(ok("a good summary of it"), ok("a bad summary of it"), task="summarise", pair_id="worse"),
        pair(ok("the same text"), ok("the same text"), task="summarise", pair_id="same"),
        pair(ok("fine one"), ok("fine two"), task="summarise", pair_id="tie"),
    ]


def test_parse_and_combine() -> None:
    assert [parse_choice(t) for t in ("A", " b.", "Tie", "[[B]]", "neither")] == ["A", "B", "TIE", "B", None]
    assert combine("B", "A") == 1.0 and combine("A", "B") == 0.0  # consistent both orders
    assert combine("A", "A") == 0.5  # position bias cancels out
    assert combine("TIE", "A") == 0.75


def test_judge_asks_both_orders_and_caches(judge_server: ThreadingHTTPServer, store: Store) -> None:
    scores = score_pairs(_pairs(), similarity=False).scores
    run = Judge(_url(judge_server), "fair", store, api_key="sk-judge").run(scores)
    assert run.scores == {"better": 1.0, "worse": 0.0, "same": 0.5, "tie": 0.5}
    assert run.asked == 3 and run.unasked_identical == 1 and not run.failures
    seen = judge_server.seen  # type: ignore[attr-defined]
    assert len(seen) == 6 and {s["path"] for s in seen} == {"/v1/chat/completions"}
    assert {s["auth"] for s in seen} == {"Bearer sk-judge"}

    biased = Judge(_url(judge_server), "biased", store).run(scores)
    assert biased.scores["better"] == 0.5 and biased.scores["worse"] == 0.5  # "always A" is a tie

    judge_server.shutdown()  # replay without network: offline, and online with everything cached
    assert Judge(_url(judge_server), "fair", store, offline=True).run(scores).scores == run.scores
    replay = Judge(_url(judge_server), "fair", store).run(scores)
    assert replay.cached == 4 and replay.asked == 0


def test_judge_score_gate_replays_the_cache(judge_server: ThreadingHTTPServer, store: Store) -> None:
    pairs = _pairs()
    Judge(_url(judge_server), "fair", store).run(score_pairs(pairs, similarity=False).scores)
    settings = EvaluationSettings(judge=JudgeSettings(url=_url(judge_server), model="fair"))
    result = evaluate_gates(
        pairs, [GateSpec("summarise", "judge_score", margin=0.1)], settings=settings, store=store
    )[0]
    assert result.n == 4 and result.extra["candidate"] == pytest.approx(0.5)


def test_judge_failures_are_counted_not_cached(store: Store) -> None:
    with socket.socket() as probe:  # a port nothing listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    scores = score_pairs(_pairs()[:1], similarity=False).scores
    run = Judge(url, "fair", store, timeout_s=2.0).run(scores)
    assert run.scores == {} and sum(run.failures.values()) == 2
    assert Judge(url, "fair", store, offline=True).run(scores).missing == 1


def _summary_score(
    pair_id: str, similarity: float, flagged: bool, incumbent: str, candidate: str
) -> PairScore:
    flags = (Flag("numbers", "2092 -> 52"),) if flagged else ()
    return PairScore(
        pair_id=pair_id,
        task="summarise",
        kind=SUMMARISE,
        similarity=similarity,
        flags=flags,
        request="summarise the report",
        incumbent_text=incumbent,
        candidate_text=candidate,
    )


def test_the_judge_settles_only_what_similarity_and_the_rules_disagree_on(
    judge_server: ThreadingHTTPServer, store: Store
) -> None:
    scores = [
        _summary_score("close-but-flagged", 0.95, True, "a bad summary", "a good summary"),
        _summary_score("far-but-unflagged", 0.40, False, "a bad summary", "a good summary"),
        _summary_score("close-flagged-worse", 0.90, True, "a good summary", "a bad summary"),
        _summary_score("close-and-clean", 0.95, False, "one summary", "another summary"),
        _summary_score("far-and-flagged", 0.30, True, "one summary", "a wrong summary"),
    ]
    asked = to_judge(scores, every_pair=False)
    assert [s.pair_id for s in asked] == ["close-but-flagged", "far-but-unflagged", "close-flagged-worse"]
    assert to_judge(scores, every_pair=True) == scores  # a judge_score gate asks about every pair
    run = Judge(_url(judge_server), "fair", store).run(asked)
    assert len(judge_server.seen) == 6  # both orders for each unsettled pair, none for the settled ones
    ruled = [replace(s, judge=run.scores.get(s.pair_id)) for s in scores]
    # the judge's ruling stands where the cosine and the rules disagree, in either direction
    assert {s.pair_id: s.similar for s in ruled} == {
        "close-but-flagged": True,
        "far-but-unflagged": True,
        "close-flagged-worse": False,
        "close-and-clean": True,
        "far-and-flagged": False,
    }
    assert [s.similar for s in scores] == [False, False, False, True, False]  # without the judge
