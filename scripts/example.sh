#!/usr/bin/env bash
# Builds greenring (release) and runs its main example, fetch_urls (with no
# URL it serves pages itself on 127.0.0.1 and fetches them concurrently),
# then the smaller examples. Extra arguments go to fetch_urls.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps
[ -d build-release ] || meson setup build-release --buildtype=release -Dtests=false -Dbenchmarks=false >/dev/null
meson compile -C build-release -j2 >/dev/null
echo "== examples/fetch_urls $*"
./build-release/examples/fetch_urls "$@"
for ex in greenlet_switch spawn_joinall thread_pool "echo_client --seconds 1" producer_consumer task_local pool_map subprocess processes \
    port_forwarder udp_echo worker_pool hub_workers shared_cache; do
  echo "== examples/$ex"
  ./build-release/examples/$ex
done
