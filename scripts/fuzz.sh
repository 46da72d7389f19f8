#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined)
# for the HTTP response and request parsers + chunked decoder, the URL parser and the
# gzip/deflate decoder, and runs each for FUZZ_SECONDS (default 60) from
# the seed corpus in
# tests/fuzz/corpus. Crashers are left in build-fuzz/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps clang libclang-rt-14-dev
secs=${FUZZ_SECONDS:-60}
out=build-fuzz
mkdir -p "$out"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Inet)
srcs=(net/http/parser.cpp net/http/url.cpp net/http/decode.cpp net/address.cpp)
status=0
for t in response request url decode; do
  clang++ "${flags[@]}" "tests/fuzz/fuzz_$t.cpp" "${srcs[@]}" -lz -o "$out/fuzz_$t"
  mkdir -p "$out/corpus-$t"
  if (cd "$out" && "./fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "corpus-$t" "../tests/fuzz/corpus/$t" >"fuzz_$t.log" 2>&1); then
    echo "fuzz: $t ok ($(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out/fuzz_$t.log" | grep -oE '[0-9]+$') runs in ${secs}s)"
  else
    echo "fuzz: $t FAILED (build-fuzz/fuzz_$t.log)"
    tail -30 "$out/fuzz_$t.log"
    status=1
  fi
done
exit "$status"
