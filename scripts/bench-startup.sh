#!/usr/bin/env bash
# Warm start-up of `wharf run` and `wharf serve` against wasmtime-cli 48.0.8 running the file
# it precompiled (`wasmtime compile`, then `--allow-precompiled`), side by side. Figures
# only; nothing is asserted.
#   - run: an 18 MiB componentize-py command component (Python hello world), built here
#     with componentize-py from PyPI; wall time with hyperfine (median of 15 after 3 warm-up
#     runs) and peak RSS (median of 7) for `wharf run FILE`, `wharf run REF` (pushed to a
#     local wharf-registry; the manifest is still resolved and checked, the layer is not
#     fetched again) and `wasmtime run --allow-precompiled FILE.cwasm`;
#   - serve: time from start to the first answered request (median of 7) for `wharf serve`
#     and `wasmtime serve --allow-precompiled` of fixtures/guests/hello-http.
# Needs: hyperfine (Debian), python3-venv, wasmtime-cli 48.0.8
# (`cargo install --locked wasmtime-cli --version 48.0.8`), network access to PyPI once.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }
wasmtime --version 2>/dev/null | grep -q '^wasmtime 48\.0\.8' \
  || { echo "install wasmtime-cli 48.0.8: cargo install --locked wasmtime-cli --version 48.0.8" >&2; exit 1; }
cargo build --release -q -p wharf -p wharf-registry
cargo build -q --release --locked --target wasm32-wasip2 \
  --manifest-path fixtures/guests/hello-http/Cargo.toml --target-dir target/guests
WHARF=$PWD/target/release/wharf
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
export WHARF_CACHE_DIR=$work/cache WHARF_CONFIG_DIR=$work/config

venv=target/bench-venv
[ -x $venv/bin/componentize-py ] || { python3 -m venv $venv && $venv/bin/pip install -q componentize-py==0.25.1; }
mkdir -p "$work/py/wit"
cp -r wit/deps "$work/py/wit/"
printf 'package bench:app;\nworld app {\n  include wasi:cli/command@0.2.12;\n}\n' >"$work/py/wit/app.wit"
cat >"$work/py/app.py" <<'EOF'
from wit_world import exports
class Run(exports.Run):
    def run(self) -> None:
        print("hello from python")
EOF
(cd "$work/py" && "$OLDPWD/$venv/bin/componentize-py" -q -d wit -w app componentize app -o cli.wasm)
cli=$work/py/cli.wasm
wasmtime compile "$cli" -o "$work/cli.cwasm"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
WHARF_REGISTRY_LOG=warn target/release/wharf-registry --listen "127.0.0.1:$port" --data-dir "$work/registry" 2>"$work/registry.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/python-hello:1.0.0
"$WHARF" push "$cli" "$ref" >/dev/null 2>&1

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
hf_median() { # command -> median wall time in ms
  hyperfine -N -w 3 -r 15 --export-json "$work/hf.json" "$1" >/dev/null 2>&1
  python3 -c "import json; print(json.load(open('$work/hf.json'))['results'][0]['median']*1000)"
}
rss_median() { # command -> median peak RSS in MiB
  local v=""
  for _ in 1 2 3 4 5 6 7; do
    /usr/bin/time -o "$work/rss" -f '%M' $1 >/dev/null 2>&1; v+="$(tail -1 "$work/rss") "
  done
  python3 -c "print($(echo "$v" | median)/1024)"
}

"$WHARF" run "$cli" >/dev/null
"$WHARF" run "$ref" >/dev/null
declare -A t m
t[wasmtime]=$(hf_median "wasmtime run --allow-precompiled $work/cli.cwasm")
m[wasmtime]=$(rss_median "wasmtime run --allow-precompiled $work/cli.cwasm")
t[file]=$(hf_median "$WHARF run $cli")
m[file]=$(rss_median "$WHARF run $cli")
t[ref]=$(hf_median "$WHARF run $ref")
m[ref]=$(rss_median "$WHARF run $ref")

# serve: start to first answer
http=target/guests/wasm32-wasip2/release/hello_http.wasm
wasmtime compile "$http" -o "$work/http.cwasm"
first_answer() { # command... -> ms from start to the first 200 on /hello
  local p; p=$(free_port)
  python3 - "$p" "$@" <<'EOF'
import subprocess, sys, time, urllib.request
port, cmd = sys.argv[1], [a.replace("PORT", sys.argv[1]) for a in sys.argv[2:]]
t0 = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=1).read()
            break
        except OSError:
            time.sleep(0.001)
    print((time.monotonic() - t0) * 1000)
finally:
    proc.terminate(); proc.wait()
EOF
}
"$WHARF" run "$cli" >/dev/null
first_answer "$WHARF" serve "$http" --addr 127.0.0.1:PORT >/dev/null
declare -A s
for _ in 1 2 3 4 5 6 7; do
  s[wasmtime]+="$(first_answer wasmtime serve -S cli=y --allow-precompiled --addr 127.0.0.1:PORT "$work/http.cwasm") "
  s[wharf]+="$(first_answer "$WHARF" serve "$http" --addr 127.0.0.1:PORT) "
done
s[wasmtime]=$(echo "${s[wasmtime]}" | median); s[wharf]=$(echo "${s[wharf]}" | median)

size=$(python3 -c "print(round($(stat -c %s "$cli")/1048576, 1))")
printf '%-52s %14s %14s %8s\n' figure "wasmtime" "wharf" ratio
row() { printf '%-52s %14.1f %14.1f %7.2fx\n' "$1" "$2" "$3" "$(python3 -c "print($3/$2)")"; }
row "run FILE, ${size} MiB Python component, warm, ms" "${t[wasmtime]}" "${t[file]}"
row "run REF (local registry), warm, ms" "${t[wasmtime]}" "${t[ref]}"
row "run FILE, peak RSS, MiB" "${m[wasmtime]}" "${m[file]}"
row "run REF, peak RSS, MiB" "${m[wasmtime]}" "${m[ref]}"
row "serve hello-http, start to first answer, ms" "${s[wasmtime]}" "${s[wharf]}"
echo "(wasmtime runs the file it precompiled with \`wasmtime compile\`, --allow-precompiled)"
