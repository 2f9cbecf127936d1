#!/usr/bin/env bash
# Blob storage benchmarks, printing figures side by side (never asserted by tests):
#   1. push and pull MiB/s of a 100 MiB blob (curl: POST + PUT ?digest=, GET following
#      redirects) on the filesystem store, on S3 (s3s-fs on loopback) with whole-blob reads
#      redirected to pre-signed URLs, and on S3 with the registry serving reads itself;
#      median of 5 runs each, the three stores alternating;
#   2. registry peak RSS (VmHWM) while a 1 GiB blob is pushed to S3 and pulled back.
# Usage: scripts/bench-storage.sh   (builds the release registry; installs s3s-fs 0.14.1
# with cargo when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wharf-registry
REGISTRY=target/release/wharf-registry
if ! s3s-fs --version 2>/dev/null | grep -q 0.14.1; then
  cargo install --locked s3s-fs --version 0.14.1 --features binary
fi
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_http() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# the S3 server
s3_port=$(free_port)
mkdir -p "$work/s3/bench"
s3s-fs --host 127.0.0.1 --port "$s3_port" --access-key bench-ak --secret-key bench-sk "$work/s3" >/dev/null 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=bench-ak AWS_SECRET_ACCESS_KEY=bench-sk AWS_ALLOW_HTTP=true
sleep 0.5

# three registries: filesystem, S3 with redirects, S3 without
declare -A addr pid
start_registry() { # name, extra args...
  local name=$1; shift
  local port; port=$(free_port)
  mkdir -p "$work/$name"
  WHARF_REGISTRY_LOG=warn "$REGISTRY" --listen "127.0.0.1:$port" --data-dir "$work/$name" "$@" 2>"$work/$name.log" &
  pid[$name]=$!
  pids+=($!)
  addr[$name]=127.0.0.1:$port
  wait_http "http://127.0.0.1:$port/v2/"
}
echo 'blob-redirect = false' > "$work/no-redirect.toml"
start_registry fs
start_registry s3-redirect --storage-url s3://bench/redirect
start_registry s3-proxy --storage-url s3://bench/proxy --config "$work/no-redirect.toml"

push() { # registry address, repository, file, digest
  local location
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
  curl -fsS -X PUT -T "$3" -H 'Content-Type: application/octet-stream' "http://$1${location}?digest=$4" -o /dev/null
}

echo "== 1. 100 MiB blob: push and pull MiB/s (median of 5)"
declare -A push_s pull_s
for run in 1 2 3 4 5; do
  head -c $((100*1024*1024)) /dev/urandom > "$work/blob.bin"
  digest="sha256:$(sha256sum "$work/blob.bin" | cut -d' ' -f1)"
  for name in fs s3-redirect s3-proxy; do
    a=${addr[$name]}
    t0=$(now); push "$a" "bench/b$run" "$work/blob.bin" "$digest"; t1=$(now)
    curl -fsSL "http://$a/v2/bench/b$run/blobs/$digest" -o "$work/back.bin"; t2=$(now)
    cmp -s "$work/blob.bin" "$work/back.bin" || { echo "$name: pulled bytes differ" >&2; exit 1; }
    push_s[$name]+="$(python3 -c "print($t1-$t0)") "
    pull_s[$name]+="$(python3 -c "print($t2-$t1)") "
  done
done
printf '%-34s %12s %12s\n' store "push MiB/s" "pull MiB/s"
for name in fs s3-redirect s3-proxy; do
  python3 - "$name" "${push_s[$name]}" "${pull_s[$name]}" <<'PY'
import sys, statistics
name, push, pull = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
label = {"fs": "filesystem", "s3-redirect": "S3 (s3s-fs), reads redirected",
         "s3-proxy": "S3 (s3s-fs), reads proxied"}[name]
mib = 100
print(f"{label:<34} {mib/statistics.median(map(float, push)):>12.1f} {mib/statistics.median(map(float, pull)):>12.1f}")
PY
done

echo "== 2. registry memory while 1 GiB goes to S3 and back (a fresh registry process)"
start_registry s3-memory --storage-url s3://bench/memory --config "$work/no-redirect.toml"
head -c $((1024*1024*1024)) /dev/urandom > "$work/big.bin"
digest="sha256:$(sha256sum "$work/big.bin" | cut -d' ' -f1)"
p=${pid[s3-memory]}
echo "idle RSS: $(awk '/VmRSS/ {print $2}' /proc/$p/status) KiB"
t0=$(now); push "${addr[s3-memory]}" bench/big "$work/big.bin" "$digest"; t1=$(now)
echo "push 1 GiB to S3: $(python3 -c "print(f'{1024/($t1-$t0):.1f}')") MiB/s, peak RSS $(awk '/VmHWM/ {print $2}' /proc/$p/status) KiB (part size 8 MiB)"
curl -fsS "http://${addr[s3-memory]}/v2/bench/big/blobs/$digest" -o "$work/big.back"
cmp -s "$work/big.bin" "$work/big.back" || { echo "1 GiB pulled bytes differ" >&2; exit 1; }
echo "registry peak RSS (VmHWM) over push+pull of 1 GiB through S3: $(awk '/VmHWM/ {print $2}' /proc/$p/status) KiB"
echo "(filesystem store, same process kind, for comparison: see scripts/bench.sh part 1)"
