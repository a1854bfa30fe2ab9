"""Record: capture what each side sent for a split request and queue the pair for the recorder thread.

Streams are tapped, not buffered: the tap keeps a reference to each chunk as it passes to the client. Nothing is
parsed here; the recorder thread does that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from mitmproxy import http

from proxy.fields import header
from proxy.recorder import Recorder
from proxy.runtime import METADATA_KEY, FlowInfo, Leg, Runtime, client_gave_up

StreamFn = Callable[[bytes], bytes | Iterable[bytes]]


class Tap:
    """Wraps a ``flow.response.stream`` callable (or none) and keeps a copy of every chunk sent to the client."""

    def __init__(self, leg: Leg, inner: StreamFn | None) -> None:
        self.leg = leg
        self.inner = inner

    def __call__(self, data: bytes) -> bytes | Iterable[bytes]:
        out = self.inner(data) if self.inner is not None else data
        if isinstance(out, bytes):
            self._keep(out)
        else:
            out = list(out)
            for chunk in out:
                self._keep(chunk)
        return out

    def _keep(self, chunk: bytes) -> None:
        if chunk:
            if self.leg.first_byte is None:
                self.leg.first_byte = time.perf_counter()
            self.leg.chunks.append(chunk)


class Record:
    after_answer = ("response",)  # run once the answer is on its way (proxy.addons.chain)

    def __init__(self, runtime: Runtime, recorder: Recorder) -> None:
        self.runtime = runtime
        self.recorder = recorder

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        assert response is not None
        is_sse = "text/event-stream" in header(response.headers, b"content-type")
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        if info is None or not info.split:
            if is_sse and not response.stream:
                response.stream = True  # pass-through streams (e.g. /v1/responses) are never buffered
            return
        encoding = header(response.headers, b"content-encoding")
        leg = Leg(
            side=info.side,
            status=response.status_code,
            stream=is_sse,
            started=info.started,
            encoding=encoding,
        )
        info.served = leg
        if is_sse and response.status_code < 400:
            inner = response.stream if callable(response.stream) else None
            response.stream = Tap(leg, inner)
        else:
            leg.first_byte = time.perf_counter()

    def response(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        if info is None or not info.split or flow.response is None:
            return
        leg = info.served
        if leg is None or leg.side != info.side:  # the response was replaced after its headers (failover)
            leg = info.served = Leg(side=info.side, started=info.started, first_byte=time.perf_counter())
        leg.status = flow.response.status_code
        if not leg.stream or leg.status >= 400:
            leg.chunks = [flow.response.raw_content or b""]
            leg.encoding = header(flow.response.headers, b"content-encoding")
        self._finish(info, leg)

    def error(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        if info is None or not info.split or info.recorded:
            return
        if client_gave_up(flow):
            if flow.response is not None and stream_delivered(info.served):
                self.response(flow)  # the app had the whole stream, then hung up: it was served
            return  # an app that hung up before its answer was not served: nothing to compare
        leg = info.served or Leg(side=info.side, started=info.started)
        info.served = leg
        leg.error = flow.error.msg if flow.error else "connection error"
        self._finish(info, leg)

    def _finish(self, info: FlowInfo, leg: Leg) -> None:
        leg.finished = time.perf_counter()
        self.runtime.counts[f"pairs.{info.side}"] += 1
        if not info.mirror_pending:
            self.submit(info)

    def submit(self, info: FlowInfo) -> None:
        if not info.recorded:
            info.recorded = True
            self.recorder.submit(info)


def stream_delivered(leg: Leg | None) -> bool:
    """Whether a streamed answer's last event, ``data: [DONE]``, has passed to the app. An SDK that has read it
    may close the connection before the body's closing chunk frame arrives; mitmproxy then ends the flow with
    "Client disconnected", but the app was served the whole answer (seen in the demo: 2 of ~1,850 streams)."""
    if leg is None or not leg.stream or not leg.chunks:
        return False
    return b"".join(leg.chunks[-2:]).rstrip().endswith(b"data: [DONE]")
