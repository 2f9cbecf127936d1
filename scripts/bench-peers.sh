#!/usr/bin/env bash
# wharf side by side with its peers, in one run (figures, never asserted by tests):
#   1. wharf-registry against CNCF Distribution (Debian's docker-registry), alternating:
#      push and pull of a 100 MiB blob with curl (medians of 5), manifest GET with wrk
#      (64 connections, 10 s), peak RSS after pushing and pulling 1 GiB; where nginx is
#      installed, nginx with sendfile serving the same file, as the ceiling of any server here;
#   2. `wharf push`/`pull` of a 100 MiB component against `wkg oci push`/`pull`, on the same
#      wharf-registry (medians of 5);
#   3. `wharf componentize` of a 50 MiB wasip1 module against `wasm-tools component new`
#      1.254.2 (the CLI of our wasm-tools libraries; hyperfine, and peak RSS).
# Usage: scripts/bench-peers.sh [rows…]   (rows: registry client componentize; default all)
# Needs: docker-registry, wrk, hyperfine (Debian), wkg 0.16 and wasm-tools 1.254.2
# (installed with cargo when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${*:-registry client componentize}
for tool in docker-registry wrk hyperfine; do
  command -v $tool >/dev/null || { echo "install $tool (apt-get install docker-registry wrk hyperfine)" >&2; exit 1; }
done
cargo build --release -q -p wharf -p wharf-registry
WHARF=$PWD/target/release/wharf
REGISTRY=$PWD/target/release/wharf-registry
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_http() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
median() { python3 -c 'import sys, statistics; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }
peak_kib() { awk '/VmHWM/ {print $2}' /proc/$1/status; }

start_wharf() { # name → addr[name], pid[name]
  local port; port=$(free_port)
  # warnings only, as Distribution runs here (log level error): no access line per request
  WHARF_REGISTRY_LOG=warn "$REGISTRY" --listen "127.0.0.1:$port" --data-dir "$work/$1" 2>"$work/$1.log" &
  pid[$1]=$!; pids+=($!); addr[$1]=127.0.0.1:$port
  wait_http "http://127.0.0.1:$port/v2/"
}
start_distribution() {
  local port; port=$(free_port)
  mkdir -p "$work/$1"
  cat > "$work/$1.yml" <<YML
version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: $work/$1 }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$port }
YML
  docker-registry serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
  pid[$1]=$!; pids+=($!); addr[$1]=127.0.0.1:$port
  wait_http "http://127.0.0.1:$port/v2/"
}
declare -A addr pid

push_blob() { # addr repo file digest
  local location
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
  case $location in http*) ;; *) location="http://$1$location";; esac
  local sep='?'; case $location in *\?*) sep='&';; esac
  curl -fsS -X PUT -T "$3" -H 'Content-Type: application/octet-stream' "$location${sep}digest=$4" -o /dev/null
}

if [[ " $rows " == *" registry "* ]]; then
  echo "== 1. wharf-registry vs CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $3}')"
  start_wharf wharf; start_distribution distribution
  if command -v nginx >/dev/null; then
    nginx_port=$(free_port); mkdir -p "$work/www"
    chmod 755 "$work"  # nginx's workers read as an unprivileged user
    cat > "$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx.log;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on;
  server { listen 127.0.0.1:$nginx_port; root $work/www; } }
CONF
    echo ok > "$work/www/ready"
    nginx -c "$work/nginx.conf" & pids+=($!)
    wait_http "http://127.0.0.1:$nginx_port/ready"
  fi
  declare -A push pull
  for run in 1 2 3 4 5; do
    head -c $((100*1024*1024)) /dev/urandom > "$work/blob"
    d="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
    if [ -n "${nginx_port:-}" ]; then
      ln -f "$work/blob" "$work/www/blob"
      t0=$(now); curl -fsS "http://127.0.0.1:$nginx_port/blob" -o /dev/null; t1=$(now)
      pull[nginx]+="$(python3 -c "print(100/($t1-$t0))") "
    fi
    for r in distribution wharf; do
      t0=$(now); push_blob "${addr[$r]}" "bench/b$run" "$work/blob" "$d"; t1=$(now)
      curl -fsSL "http://${addr[$r]}/v2/bench/b$run/blobs/$d" -o /dev/null; t2=$(now)
      # checked apart from the timed pull, which writes nothing to disk
      curl -fsSL "http://${addr[$r]}/v2/bench/b$run/blobs/$d" -o "$work/back"
      cmp -s "$work/blob" "$work/back"
      push[$r]+="$(python3 -c "print(100/($t1-$t0))") "; pull[$r]+="$(python3 -c "print(100/($t2-$t1))") "
    done
  done
  # a small manifest for wrk
  for r in distribution wharf; do
    cfg="$work/config.json"; printf '{}' > "$cfg"; cd_=$(sha256sum "$cfg" | cut -d' ' -f1)
    push_blob "${addr[$r]}" bench/m "$cfg" "sha256:$cd_"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":2},"layers":[]}' "$cd_" > "$work/m.json"
    curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$work/m.json" "http://${addr[$r]}/v2/bench/m/manifests/v1" -o /dev/null
  done
  declare -A rps p99
  for r in distribution wharf distribution wharf; do
    out=$(wrk -t2 -c64 -d10s --latency -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://${addr[$r]}/v2/bench/m/manifests/v1")
    rps[$r]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
    p99[$r]+="$(echo "$out" | awk '$1=="99%" {print $2}') "
  done
  # 1 GiB push + pull, peak RSS of each server process
  head -c $((1024*1024*1024)) /dev/urandom > "$work/big"
  d="sha256:$(sha256sum "$work/big" | cut -d' ' -f1)"
  for r in distribution wharf; do
    push_blob "${addr[$r]}" bench/big "$work/big" "$d"
    curl -fsSL "http://${addr[$r]}/v2/bench/big/blobs/$d" -o /dev/null
  done
  rm -f "$work/big" "$work/blob" "$work/back" "$work/www/blob"
  printf '%-44s %16s %16s %8s\n' figure distribution wharf ratio
  for f in push pull; do
    declare -n arr=$f
    a=$(median ${arr[distribution]}); b=$(median ${arr[wharf]})
    printf '%-44s %16.1f %16.1f %7.2fx\n' "$f of a 100 MiB blob, MiB/s (curl)" "$a" "$b" "$(python3 -c "print($b/$a)")"
  done
  if [ -n "${pull[nginx]:-}" ]; then
    printf '%-44s %16.1f %16s %7.2fx\n' "  nginx $(nginx -v 2>&1 | sed 's|.*/||') sendfile, same file, MiB/s" "$(median ${pull[nginx]})" "" \
      "$(python3 -c "print($(median ${pull[nginx]})/$(median ${pull[distribution]}))")"
  fi
  a=$(median ${rps[distribution]}); b=$(median ${rps[wharf]})
  printf '%-44s %16.0f %16.0f %7.2fx\n' "manifest GET, 64 connections, req/s (wrk)" "$a" "$b" "$(python3 -c "print($b/$a)")"
  printf '%-44s %16s %16s\n' "  p99 latency (both runs)" "${p99[distribution]}" "${p99[wharf]}"
  printf '%-44s %16s %16s\n' "peak RSS after 1 GiB push + pull, KiB" "$(peak_kib ${pid[distribution]})" "$(peak_kib ${pid[wharf]})"
fi

if [[ " $rows " == *" client "* ]]; then
  echo "== 2. wharf push/pull vs wkg oci push/pull, 100 MiB component, on one wharf-registry"
  command -v wkg >/dev/null || cargo install --locked wkg --version 0.16.1
  [ -n "${addr[client]:-}" ] || start_wharf client
  python3 scripts/big-module.py 100 "$work/core.wasm"
  "$WHARF" componentize "$work/core.wasm" -o "$work/big.wasm" 2>/dev/null
  size=$(stat -c %s "$work/big.wasm")
  mib=$(python3 -c "print($size/1048576)")
  declare -A cpush cpull
  for run in 1 2 3 4 5; do
    for tool in wkg wharf; do
      ref="${addr[client]}/bench/$tool$run:1.0.0"
      if [ $tool = wharf ]; then
        t0=$(now); "$WHARF" push "$work/big.wasm" "$ref" >/dev/null 2>&1; t1=$(now)
        "$WHARF" pull "$ref" -o "$work/back.wasm" >/dev/null 2>&1; t2=$(now)
      else
        t0=$(now); wkg oci push --insecure "${addr[client]}" "$ref" "$work/big.wasm" >/dev/null 2>&1; t1=$(now)
        wkg oci pull --insecure "${addr[client]}" "$ref" -o "$work/back.wasm" >/dev/null 2>&1; t2=$(now)
      fi
      cmp -s "$work/big.wasm" "$work/back.wasm"
      cpush[$tool]+="$(python3 -c "print($mib/($t1-$t0))") "; cpull[$tool]+="$(python3 -c "print($mib/($t2-$t1))") "
    done
  done
  printf '%-44s %16s %16s %8s\n' figure wkg wharf ratio
  for f in cpush cpull; do
    declare -n arr=$f
    a=$(median ${arr[wkg]}); b=$(median ${arr[wharf]})
    printf '%-44s %16.1f %16.1f %7.2fx\n' "${f#c} of a $(printf %.0f $mib) MiB component, MiB/s" "$a" "$b" "$(python3 -c "print($b/$a)")"
  done
  # the client's own memory for one more push each (a push never holds the file whole)
  rss_wkg=$(/usr/bin/time -f %M wkg oci push --insecure "${addr[client]}" "${addr[client]}/bench/rss-wkg:1.0.0" "$work/big.wasm" 2>&1 >/dev/null | tail -1)
  rss_wharf=$(/usr/bin/time -f %M "$WHARF" push "$work/big.wasm" "${addr[client]}/bench/rss-wharf:1.0.0" 2>&1 >/dev/null | tail -1)
  printf '%-44s %16s %16s\n' "client peak RSS during one push, KiB" "$rss_wkg" "$rss_wharf"
  echo "registry peak RSS after these pushes (each layer validated as it streams): $(peak_kib ${pid[client]}) KiB"
  # `wharf publish` of a new version compares its WIT with the previous one's (both read as
  # they stream, the previous one fetched into an empty cache)
  mkdir -p "$work/proj"; ln -f "$work/big.wasm" "$work/proj/app.wasm"
  for v in 1.0.0 1.0.1; do
    printf '[package]\nname = "bench:big"\nversion = "%s"\nfile = "app.wasm"\nregistry = "%s"\n' "$v" "${addr[client]}" > "$work/proj/wharf.toml"
    rss_publish=$(XDG_CACHE_HOME="$work/publish-cache" /usr/bin/time -f %M "$WHARF" publish --manifest-path "$work/proj" 2>&1 >/dev/null | tail -1)
  done
  echo "wharf publish of a second version (WIT compared with the first), peak RSS: $rss_publish KiB"
fi

if [[ " $rows " == *" componentize "* ]]; then
  echo "== 3. componentize a 50 MiB wasip1 module: wharf vs wasm-tools component new"
  wasm-tools --version 2>/dev/null | grep -q '^wasm-tools 1.254.2' || cargo install --locked wasm-tools --version 1.254.2
  python3 scripts/big-module.py 50 "$work/core50.wasm" --command
  adapter=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*wasi-preview1-component-adapter-provider-48.0.8*' -name 'wasi_snapshot_preview1.command.wasm' | head -1)
  [ -n "$adapter" ] || { echo "the command adapter of wasi-preview1-component-adapter-provider 48.0.8 is not in cargo's registry (build wharf first)" >&2; exit 1; }
  hyperfine -N -w 1 -r 5 --export-json "$work/hf.json" \
    "wasm-tools component new $work/core50.wasm --adapt wasi_snapshot_preview1=$adapter -o $work/a.wasm" \
    "$WHARF componentize $work/core50.wasm -o $work/b.wasm" >/dev/null
  cmp -s "$work/a.wasm" "$work/b.wasm" && echo "outputs byte-identical" || echo "outputs differ"
  python3 - "$work/hf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
wt, wh = r[0], r[1]
print(f"{'figure':<44} {'wasm-tools':>16} {'wharf':>16} {'ratio':>8}")
print(f"{'componentize, median wall time, s':<44} {wt['median']:>16.3f} {wh['median']:>16.3f} {wh['median']/wt['median']:>7.2f}x")
print(f"{'componentize, user+system CPU, s':<44} {wt['user']+wt['system']:>16.3f} {wh['user']+wh['system']:>16.3f} {(wh['user']+wh['system'])/(wt['user']+wt['system']):>7.2f}x")
PY
  for cmd in "wasm-tools component new $work/core50.wasm --adapt wasi_snapshot_preview1=$adapter -o $work/a.wasm" \
             "$WHARF componentize $work/core50.wasm -o $work/b.wasm"; do
    /usr/bin/time -f "%M KiB peak RSS: ${cmd%% *}" $cmd 2>&1 >/dev/null | tail -1
  done
fi
