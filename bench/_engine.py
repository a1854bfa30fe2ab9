"""The bare engine, the baseline of ``proxy_overhead.py``: the Master the proxy embeds, with its options, none
of our addons, on the same event loop. What the proxy adds over this is ours.

    python bench/_engine.py --incumbent-url http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from core.config import load_config
from proxy.engine import build_master, event_loop_factory


async def serve(incumbent: str, listen: str) -> None:
    mitm = build_master(load_config(None, {"incumbent.url": incumbent, "listen": listen}))
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
