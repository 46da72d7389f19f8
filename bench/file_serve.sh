#!/usr/bin/env bash
# Static files over HTTP: examples/http_server --root (file_reply: small
# files read and sent with the head, larger ones spliced with send_file)
# against nginx with one worker and sendfile on (bench/nginx-files.conf),
# serving the same 1 KiB, 64 KiB and 1 MiB files. wrk -t1 -c100 for 4 s
# per run, servers pinned to CPU 0 and wrk to CPU 1, the two servers
# alternating; prints each run and the medians with the ratio.
# Usage: bench/file_serve.sh [REPS] (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps wrk nginx-light
reps=${1:-3}
dir=build-bench
[ -d "$dir" ] || meson setup "$dir" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$dir" -j2 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/www" "$work/nginx/logs"
head -c 1024 /dev/urandom >"$work/www/1k"
head -c 65536 /dev/urandom >"$work/www/64k"
head -c 1048576 /dev/urandom >"$work/www/1m"
gport=18196 nport=18197
sed -e "s|@PORT@|$nport|" -e "s|@ROOT@|$work/www|" bench/nginx-files.conf >"$work/nginx/nginx.conf"
rps() { taskset -c 1 wrk -t1 -c100 -d4s "$1" 2>&1 | awk '/Requests\/sec/{print $2}'; }
for f in 1k 64k 1m; do
  g_all="" n_all=""
  for _ in $(seq "$reps"); do
    taskset -c 0 "./$dir/examples/http_server" --root "$work/www" "$gport" >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    g=$(rps "http://127.0.0.1:$gport/file/$f")
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
    pid=$!
    sleep 0.5
    n=$(rps "http://127.0.0.1:$nport/file/$f")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$f: greenring $g req/s, nginx $n req/s"
    g_all="$g_all $g" n_all="$n_all $n"
  done
  python3 - "$f" "$g_all" "$n_all" <<'PY'
import statistics, sys
f, g, n = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mg, mn = statistics.median(g), statistics.median(n)
print(f"{f} file, medians: greenring {mg:,.0f} req/s, nginx {mn:,.0f} req/s, greenring is {mg / mn:.2f}x")
PY
done
