#!/usr/bin/env bash
# `wharf serve` against `wasmtime serve` (wasmtime-cli of our wasmtime line, 48.0.8) on the
# same wasi:http/proxy component (fixtures/guests/hello-http), side by side: requests per
# second and latency with wrk (16 connections, 10 s, alternating, best of 3). Figures only;
# nothing is asserted.
# Needs: wrk (Debian), wasmtime-cli 48.0.8 (`cargo install --locked wasmtime-cli --version 48.0.8`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
wasmtime --version 2>/dev/null | grep -q '^wasmtime 48\.0\.8' \
  || { echo "install wasmtime-cli 48.0.8: cargo install --locked wasmtime-cli --version 48.0.8" >&2; exit 1; }
cargo build --release -q -p wharf
cargo build -q --release --locked --target wasm32-wasip2 \
  --manifest-path fixtures/guests/hello-http/Cargo.toml --target-dir target/guests
wasm=target/guests/wasm32-wasip2/release/hello_http.wasm
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }
declare -A best lat
for round in 1 2 3; do
  for tool in wasmtime wharf; do
    port=$(free_port)
    if [ $tool = wharf ]; then
      WHARF_CACHE_DIR=$(mktemp -d) target/release/wharf serve "$wasm" --addr "127.0.0.1:$port" 2>/dev/null &
    else
      wasmtime serve -S cli=y --addr "127.0.0.1:$port" "$wasm" >/dev/null 2>&1 &
    fi
    pid=$!
    wait_http "http://127.0.0.1:$port/"
    out=$(wrk -t 2 -c 16 -d 10s --latency "http://127.0.0.1:$port/hello")
    kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if [ -z "${best[$tool]:-}" ] || python3 -c "import sys; sys.exit(not $rps > ${best[$tool]})"; then
      best[$tool]=$rps; lat[$tool]=$p99
    fi
  done
done
printf '%-40s %14s %14s %8s\n' figure "wasmtime serve" "wharf serve" ratio
printf '%-40s %14.0f %14.0f %7.2fx\n' "hello handler, requests/s (best of 3)" "${best[wasmtime]}" "${best[wharf]}" \
  "$(python3 -c "print(${best[wharf]}/${best[wasmtime]})")"
printf '%-40s %14s %14s\n' "p99 latency at that run" "${lat[wasmtime]}" "${lat[wharf]}"
