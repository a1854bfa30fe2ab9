"""The official openai Node SDK works through the proxy unchanged (base URL and key only).

scripts/setup.sh installs it into tests/node with npm (the Node.js that ships on these machines)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_node_sdk_through_the_proxy(proxy_factory: Any, sim_process: Any) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for this test: install it, then run scripts/setup.sh"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run scripts/setup.sh (it installs tests/node)"
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    done = subprocess.run(
        [node, str(NODE_DIR / "client.mjs"), proxy.url + "/v1"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == "gpt-4o-mini" and result["content"]
    assert result["streamed"] and result["usage"]["total_tokens"] > 0
    assert result["error"] == {
        "name": "NotFoundError",
        "status": 404,
        "code": "model_not_found",
        "type": "invalid_request_error",
    }
    assert {p.served_side for p in proxy.pairs(expected=3)} == {"candidate"}
