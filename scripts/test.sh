#!/usr/bin/env bash
# Builds and runs the whole test suite four times: an optimised build, an
# AddressSanitizer + UndefinedBehaviorSanitizer build and a ThreadSanitizer
# build (both fiber-annotated), and a Clang release build with LTO;
# then the runtime suites on the Boost.Context switch, and under Valgrind
# memcheck; then the HTTP
# parsers' libFuzzer targets for FUZZ_SECONDS (default 60) each.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps valgrind

status=0
run_suite() {  # build-dir, meson setup options...
  local dir=$1
  shift
  [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null
  meson compile -C "$dir" -j2
  meson test -C "$dir" --num-processes 2 --print-errorlogs || status=1
}

# The soak (tests/soak) runs 60 s here, 30 s under each sanitizer.
GREENRING_SOAK_SECONDS=60 run_suite build -Dbenchmarks=true
GREENRING_SOAK_SECONDS=30 \
ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suite build-asan -Db_sanitize=address,undefined -Dbuildtype=debug -Dbenchmarks=false

# A missing fiber annotation shows up as this ASan warning, not a failure.
if grep -q "__asan_handle_no_return" build-asan/meson-logs/testlog.txt; then
  echo "asan: 'ignoring requested __asan_handle_no_return' seen: a switch is not annotated"
  status=1
fi

# ThreadSanitizer, with a fiber per task (detail/switch.hpp). A report makes
# the process exit non-zero; one in a child that _exit()s is caught here.
GREENRING_SOAK_SECONDS=30 TSAN_OPTIONS=second_deadlock_stack=1 \
  run_suite build-tsan -Db_sanitize=thread -Dbuildtype=debug -Dbenchmarks=false
if grep -q "WARNING: ThreadSanitizer" build-tsan/meson-logs/testlog.txt; then
  echo "tsan: reports in build-tsan/meson-logs/testlog.txt"
  status=1
fi

# A second compiler: the whole suite built by Clang, release with LTO.
greenring_install_deps clang
GREENRING_SOAK_SECONDS=20 CC=clang CXX=clang++ \
  run_suite build-clang --buildtype=release -Db_lto=true -Dbenchmarks=false

# The runtime suites once more on the portable stack switch (Boost.Context's
# fcontext, what non-x86-64 machines use).
[ -d build-boost ] || meson setup build-boost -Dcontext=boost -Dbenchmarks=false >/dev/null
meson compile -C build-boost -j2 greenlet_test task_test timeout_test stack_test sync_test
meson test -C build-boost --no-rebuild --num-processes 2 --print-errorlogs greenlet task timeout stack sync || status=1

# Valgrind memcheck over the optimised build (value_test replaces operator
# new for its allocation counts, which memcheck reports as mismatched; death
# tests and exit tests fork children and are covered above).
mkdir -p build/valgrind-logs
for t in greenlet task timeout timer sync; do
  if valgrind -q --error-exitcode=9 ./build/tests/${t}_test --gtest_filter='-*Death*:HubExit*' \
      >"build/valgrind-logs/$t.txt" 2>&1; then
    echo "valgrind: $t ok"
  else
    echo "valgrind: $t FAILED (build/valgrind-logs/$t.txt)"
    tail -40 "build/valgrind-logs/$t.txt"
    status=1
  fi
done

# libFuzzer targets for the HTTP parsers, a bounded time each.
FUZZ_SECONDS=${FUZZ_SECONDS:-60} ./scripts/fuzz.sh || status=1

# One closing line over all runs, counted from GoogleTest's own output.
passed=0
failed=0
for log in build/meson-logs/testlog.txt build-asan/meson-logs/testlog.txt build-tsan/meson-logs/testlog.txt \
    build-clang/meson-logs/testlog.txt build-boost/meson-logs/testlog.txt \
    build/valgrind-logs/*.txt; do
  [ -f "$log" ] || continue
  p=$(grep -oE '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}' || true)
  f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}' || true)
  passed=$((passed + p))
  failed=$((failed + f))
done
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "tests: $passed passed, $failed failed"
exit "$status"
