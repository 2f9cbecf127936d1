#!/usr/bin/env bash
# Benchmarks of the main job, printing figures (never asserted by tests):
#   1. wharf-registry peak RSS while a 1 GiB blob is pushed and pulled (streamed with curl);
#   2. push and pull MiB/s of a 100 MiB component with the wharf CLI;
#   3. componentize time of the hello-cli guest.
# Usage: scripts/bench.sh            (builds release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wharf -p wharf-registry
WHARF=target/release/wharf
REGISTRY=target/release/wharf-registry
work=$(mktemp -d)
trap 'kill $reg_pid 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
WHARF_REGISTRY_LOG=warn $REGISTRY --listen "$addr" --data-dir "$work/data" 2>"$work/registry.log" &
reg_pid=$!
for _ in $(seq 50); do curl -fs "http://$addr/v2/" >/dev/null && break; sleep 0.1; done
rss_kib() { awk '/VmRSS/ {print $2}' /proc/$reg_pid/status; }
peak_kib() { awk '/VmHWM/ {print $2}' /proc/$reg_pid/status; }
now() { date +%s.%N; }
mib_s() { python3 -c "print(f'{$1/1048576/($3-$2):.1f}')"; }

echo "== 1. registry memory while streaming a 1 GiB blob"
head -c $((1024*1024*1024)) /dev/urandom > "$work/big.bin"
digest="sha256:$(sha256sum "$work/big.bin" | cut -d' ' -f1)"
echo "idle RSS: $(rss_kib) KiB"
location=$(curl -fsS -X POST -D - -o /dev/null "http://$addr/v2/bench/blob/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
t0=$(now)
curl -fsS -X PUT -T "$work/big.bin" -H 'Content-Type: application/octet-stream' "http://$addr${location}?digest=$digest" -o /dev/null
t1=$(now)
echo "push 1 GiB: $(mib_s $((1024*1024*1024)) $t0 $t1) MiB/s, peak RSS so far $(peak_kib) KiB"
t0=$(now)
curl -fsS "http://$addr/v2/bench/blob/blobs/$digest" -o "$work/big.back"
t1=$(now)
cmp "$work/big.bin" "$work/big.back"
echo "pull 1 GiB: $(mib_s $((1024*1024*1024)) $t0 $t1) MiB/s, byte-identical"
echo "registry peak RSS (VmHWM) over push+pull of 1 GiB: $(peak_kib) KiB"
rm -f "$work/big.bin" "$work/big.back"

echo "== 2. wharf push/pull of a 100 MiB component"
python3 - "$work/big-core.wasm" <<'PY'
import sys, os
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n: return bytes(out)
def section(i, body): return bytes([i]) + leb(len(body)) + body
size = 100 * 1024 * 1024
pages = size // 65536 + 1
memory = section(5, b"\x01\x00" + leb(pages))
exports = section(7, b"\x01" + leb(6) + b"memory" + b"\x02\x00")
data = os.urandom(size)
seg = b"\x00\x41\x00\x0b" + leb(len(data)) + data
datas = section(11, b"\x01" + seg)
open(sys.argv[1], "wb").write(b"\0asm\x01\0\0\0" + memory + exports + datas)
PY
$WHARF componentize "$work/big-core.wasm" -o "$work/big.wasm" 2>/dev/null
size=$(stat -c %s "$work/big.wasm")
t0=$(now); $WHARF push "$work/big.wasm" "$addr/bench/big:1.0.0" >/dev/null 2>&1; t1=$(now)
echo "push $((size/1048576)) MiB component: $(mib_s $size $t0 $t1) MiB/s (includes validation and indexing on the server)"
t0=$(now); $WHARF pull "$addr/bench/big:1.0.0" -o "$work/big.back.wasm" 2>/dev/null; t1=$(now)
cmp "$work/big.wasm" "$work/big.back.wasm"
echo "pull $((size/1048576)) MiB component: $(mib_s $size $t0 $t1) MiB/s (digest verified)"
echo "registry peak RSS after the component push (indexing reads the layer): $(peak_kib) KiB"

echo "== 3. componentize the hello-cli guest"
(cd fixtures/guests/hello-cli && CARGO_TARGET_DIR="$PWD/../../../target/guests" cargo build -q --release --locked --target wasm32-wasip1)
core=target/guests/wasm32-wasip1/release/hello-cli.wasm
runs=20
t0=$(now)
for _ in $(seq $runs); do $WHARF componentize "$core" -o "$work/hello.wasm" 2>/dev/null; done
t1=$(now)
python3 -c "print(f'componentize hello-cli ({$(stat -c %s $core)} bytes): {($t1-$t0)/$runs*1000:.1f} ms per run, process start included, mean of $runs')"
