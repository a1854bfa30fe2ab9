#!/usr/bin/env bash
# Smoke test of the backend on a GPU machine with SGLang installed (not part of CI).
#
#   bench/backend_smoke.sh                      # Qwen/Qwen2.5-0.5B-Instruct, real weights
#   LOAD_FORMAT=dummy bench/backend_smoke.sh    # random weights: no weight download (config+tokenizer still needed)
#
# 1. writes a one-server backend.yaml and runs `alveare-migrate backend check` (SGLang's own parser);
# 2. `alveare-migrate backend up` starts SGLang and waits until /health and /v1/models answer;
# 3. `alveare-migrate check --base-url` runs the OpenAI wire conformance suite against SGLang directly
#    (rows that FAIL there are what the proxy's normalize addon repairs; they do not stop the script);
# 4. SGLang's serving benchmark (python -m sglang.bench_serving, OpenAI chat path, random token prompts)
#    at INPUT_LEN prompt tokens, OUTPUT_LEN output tokens, CONCURRENCY requests in flight;
# 5. prints TTFT p50/p99 (ms), and throughput, then stops the server (SIGTERM to `backend up`).
#
# Settings (environment): MODEL, PORT, LOAD_FORMAT (auto|dummy), MEM_FRACTION, CONTEXT_LENGTH, INPUT_LEN,
# OUTPUT_LEN, CONCURRENCY, NUM_PROMPTS, READY_TIMEOUT (seconds), OUT (folder for logs and results).
set -euo pipefail

MODEL="${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}"
PORT="${PORT:-30000}"
LOAD_FORMAT="${LOAD_FORMAT:-auto}"
MEM_FRACTION="${MEM_FRACTION:-0.8}"
CONTEXT_LENGTH="${CONTEXT_LENGTH:-4096}"
INPUT_LEN="${INPUT_LEN:-512}"
OUTPUT_LEN="${OUTPUT_LEN:-128}"
CONCURRENCY="${CONCURRENCY:-16}"
NUM_PROMPTS="${NUM_PROMPTS:-200}"
READY_TIMEOUT="${READY_TIMEOUT:-900}"
OUT="${OUT:-$(mktemp -d -t backend-smoke-XXXXXX)}"
SERVED="smoke"
BASE="http://127.0.0.1:${PORT}"

mkdir -p "$OUT"
command -v alveare-migrate >/dev/null || { echo "alveare-migrate not on PATH: pip install -e . first" >&2; exit 2; }
command -v sglang >/dev/null || { echo "sglang not on PATH: pip install sglang==0.5.23 (GPU machine)" >&2; exit 2; }

cat >"$OUT/backend.yaml" <<EOF
servers:
  ${SERVED}:
    model: ${MODEL}
    port: ${PORT}
    mem_fraction_static: ${MEM_FRACTION}
    context_length: ${CONTEXT_LENGTH}
    load_format: ${LOAD_FORMAT}
specialists:
  chat: {server: ${SERVED}}
supervision: {health_timeout_s: ${READY_TIMEOUT}, stop_grace_s: 20}
EOF

echo "== plan and parser check"
alveare-migrate backend plan --file "$OUT/backend.yaml" --targets
alveare-migrate backend check --file "$OUT/backend.yaml"

echo "== backend up (logs: $OUT/logs)"
alveare-migrate backend up --file "$OUT/backend.yaml" --log-dir "$OUT/logs" >"$OUT/up.log" 2>&1 &
UP_PID=$!
stop_backend() {
  if kill -0 "$UP_PID" 2>/dev/null; then
    kill -TERM "$UP_PID"
    wait "$UP_PID" || true
  fi
}
trap stop_backend EXIT

started=$SECONDS
until grep -q "backend ready" "$OUT/up.log"; do
  if ! kill -0 "$UP_PID" 2>/dev/null; then
    echo "backend up exited before it was ready:" >&2
    tail -n 20 "$OUT/up.log" >&2
    exit 1
  fi
  if (( SECONDS - started > READY_TIMEOUT )); then
    echo "not ready after ${READY_TIMEOUT} s; see $OUT/logs" >&2
    exit 1
  fi
  sleep 2
done
echo "ready after $(( SECONDS - started )) s"
alveare-migrate backend status --file "$OUT/backend.yaml"

echo "== conformance: alveare-migrate check --base-url ${BASE}/v1 --model ${SERVED}"
set +e
alveare-migrate check --base-url "${BASE}/v1" --model "$SERVED" | tee "$OUT/conformance.txt"
conformance_rc=${PIPESTATUS[0]}
set -e

echo "== sglang.bench_serving: ${NUM_PROMPTS} prompts, ${INPUT_LEN} in / ${OUTPUT_LEN} out tokens, concurrency ${CONCURRENCY}"
python -m sglang.bench_serving \
  --backend sglang-oai-chat \
  --base-url "$BASE" \
  --model "$MODEL" \
  --served-model-name "$SERVED" \
  --dataset-name random-ids \
  --random-input-len "$INPUT_LEN" \
  --random-output-len "$OUTPUT_LEN" \
  --random-range-ratio 1.0 \
  --num-prompts "$NUM_PROMPTS" \
  --max-concurrency "$CONCURRENCY" \
  --seed 1 \
  --output-file "$OUT/bench.jsonl" >"$OUT/bench.txt" 2>&1 || { tail -n 30 "$OUT/bench.txt" >&2; exit 1; }

echo "== figures (${MODEL}, load_format=${LOAD_FORMAT})"
python - "$OUT/bench.jsonl" "$INPUT_LEN" "$OUTPUT_LEN" "$CONCURRENCY" <<'PY'
import json
import sys

path, input_len, output_len, concurrency = sys.argv[1:]
result = json.loads(open(path, encoding="utf-8").read().strip().splitlines()[-1])
print(f"prompt {input_len} tokens, output {output_len} tokens, concurrency {concurrency}, "
      f"{result['completed']} requests completed")
print(f"TTFT p50 {result['median_ttft_ms']:.1f} ms, p99 {result['p99_ttft_ms']:.1f} ms")
print(f"throughput {result['request_throughput']:.2f} req/s, {result['output_throughput']:.0f} output tok/s")
PY
echo "conformance exit code: ${conformance_rc} (table in $OUT/conformance.txt)"
echo "results in $OUT"
