"""The bare engine, the baseline of ``proxy_overhead.py``: the Master the proxy embeds, with its options, none
of our addons, on the same event loop. What the proxy adds over this is ours.

One hook is added: SSE answers are streamed (``response.stream = True``), as the proxy streams them. mitmproxy
buffers every answer by default, and a buffering baseline would hold idle streams without passing a byte and
show the whole stream's time as its time to first chunk.

    python bench/_engine.py --incumbent-url http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from mitmproxy import http

from core.config import load_config
from proxy.engine import build_master, event_loop_factory


class StreamEvents:
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and "text/event-stream" in flow.response.headers.get("content-type", ""):
            flow.response.stream = True


async def serve(incumbent: str, listen: str) -> None:
    mitm = build_master(load_config(None, {"incumbent.url": incumbent, "listen": listen}))
    mitm.addons.add(StreamEvents())
    task = asyncio.get_running_loop().create_task(mitm.run())
    server = mitm.addons.get("proxyserver")
    for _ in range(500):
        if server.listen_addrs():
            break
        await asyncio.sleep(0.01)
    host, port = server.listen_addrs()[0][:2]
    print(f"engine listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    mitm.shutdown()
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incumbent-url", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(args.incumbent_url, args.listen))


if __name__ == "__main__":
    main()
