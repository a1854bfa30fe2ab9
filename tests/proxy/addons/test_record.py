"""Record: what the client received kept and queued as a pair. Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

import gzip
from pathlib import Path

from mitmproxy.test import tutils

from core.store import Store
from proxy.addons.record import Record, Tap
from proxy.record_worker import leg_answer
from proxy.recorder import Recorder
from proxy.runtime import METADATA_KEY, Leg, Runtime
from tests.proxy.addons.flows import chat_flow, drive, routed


def test_tap_keeps_what_the_client_received_and_the_recorder_reassembles_it(tmp_path: Path) -> None:
    leg = Leg(side="incumbent", status=200, stream=True, started=0.0)
    tap = Tap(leg, None)
    payload = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    assert tap(payload) == payload
    answer = leg_answer(leg)
    assert answer.ok and answer.content == "Hello" and answer.error is None


def test_record_queues_a_finished_pair(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    routed(runtime, flow)
    store = Store.open(runtime.config.store)
    recorder = Recorder(runtime.config.store, runtime.config.record, runtime.counts)
    record = Record(runtime, recorder)
    flow.response = tutils.tresp(
        content=b'{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}'
    )
    drive(record, lambda: record.responseheaders(flow), lambda: record.response(flow))
    recorder.close()
    (pair,) = list(store.iter_pairs())
    assert pair.served_side == "candidate" and pair.candidate is not None and pair.candidate.content == "ok"
    assert pair.incumbent is None and pair.percent == 100


def test_recorder_decodes_compressed_answers() -> None:
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"zipped"}}]}'
    leg = Leg(side="incumbent", status=200, chunks=[gzip.compress(body)], encoding="gzip", started=0.0)
    assert leg_answer(leg).content == "zipped"
    broken = Leg(side="incumbent", status=200, chunks=[b"not gzip"], encoding="gzip", started=0.0)
    assert leg_answer(broken).error == "cannot decode a gzip body"


def test_a_stream_the_app_had_whole_is_recorded_though_it_hung_up_before_the_last_frame(
    runtime: Runtime,
) -> None:
    """An SDK that has read ``data: [DONE]`` may close the connection before the body's closing chunk: mitmproxy
    ends the flow as "Client disconnected", yet the app was served. A stream cut before [DONE] is not a pair."""
    from mitmproxy import flow as mitm_flow

    runtime.percent = 100
    store = Store.open(runtime.config.store)
    recorder = Recorder(runtime.config.store, runtime.config.record, runtime.counts)
    record = Record(runtime, recorder)
    event = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}]}\n\n'
    )
    flows = []
    for sent in (event + b"data: [DONE]\n\n", event):  # whole, then cut before [DONE]
        flow = chat_flow()
        routed(runtime, flow)
        flow.response = tutils.tresp(content=b"", headers=((b"content-type", b"text/event-stream"),))

        def serve_then_hang_up(flow: object = flow, sent: bytes = sent) -> None:
            record.responseheaders(flow)  # type: ignore[arg-type]
            flow.response.stream(sent)  # type: ignore[attr-defined]
            flow.error = mitm_flow.Error("Client disconnected.")  # type: ignore[attr-defined]
            record.error(flow)  # type: ignore[arg-type]

        drive(record, serve_then_hang_up)
        flows.append(flow)
    recorder.close()
    (pair,) = list(store.iter_pairs())
    assert pair.pair_id == flows[0].metadata[METADATA_KEY].pair_id
    assert pair.candidate is not None and pair.candidate.content == "Hello" and pair.candidate.error is None
