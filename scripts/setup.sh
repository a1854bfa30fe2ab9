#!/usr/bin/env bash
# Creates .venv at the repo root with everything the demo and the tests need (CPU only, offline-capable).
# torch is pinned to the CPU wheel first: a plain `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[embeddings,fast,dev]"
# SGLang's argument parser only (for `alveare-migrate backend check`), without its GPU dependencies.
"${PIP[@]}" --no-deps sglang==0.5.23 sglang-router==0.3.2
"${PIP[@]}" -e ".[sglang-parser]"
# SGLang's own serving code for `sim --flavor sglang-real`: its grammar library, at the versions sglang 0.5.23 pins,
# without their GPU requirements (triton).
"${PIP[@]}" --no-deps xgrammar==0.2.7 apache-tvm-ffi==0.1.11
# The official Node SDK, for the test that drives the proxy from Node as an app would.
if command -v npm >/dev/null 2>&1; then
  npm install --prefix tests/node --no-audit --no-fund --silent
  # The client matrix's Node SDK (openai 7.x), in its own folder (tests/clients/test_matrix.py).
  npm install --prefix tests/clients/node --no-audit --no-fund --silent
else
  echo "npm not found: tests/proxy/test_node_sdk.py and tests/clients need Node.js and npm" >&2
fi
# The client matrix's Python libraries (tests/clients/python_libs.py), in their own venvs: their pins (openai 3.x
# for langchain-openai, pydantic-ai, litellm, instructor; openai 2.x for llama-index) conflict with the project's.
client_venv() {  # NAME PACKAGE...
  local dir=".venv-clients/$1"; shift
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}
client_venv python "langchain-openai>=1.7,<2" "instructor>=1.17,<2" "pydantic-ai-slim[openai]>=2.38,<3" \
  "litellm>=1.110,<2"
client_venv llama-index "llama-index-llms-openai>=0.8,<0.9"
echo "setup done: $(.venv/bin/alveare-migrate --version)"
