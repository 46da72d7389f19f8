#!/usr/bin/env bash
# Builds and runs the whole test suite twice: an optimised build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build (fiber-annotated).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps

status=0
run_suite() {  # build-dir, meson setup options...
  local dir=$1
  shift
  [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null
  meson compile -C "$dir" -j2
  meson test -C "$dir" --num-processes 2 --print-errorlogs || status=1
}

run_suite build -Dbenchmarks=true
ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suite build-asan -Db_sanitize=address,undefined -Dbuildtype=debug -Dbenchmarks=false

# One closing line over both builds, counted from GoogleTest's own output.
passed=0
failed=0
for log in build/meson-logs/testlog.txt build-asan/meson-logs/testlog.txt; do
  [ -f "$log" ] || continue
  p=$(grep -oE '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}' || true)
  f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}' || true)
  passed=$((passed + p))
  failed=$((failed + f))
done
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "tests: $passed passed, $failed failed"
exit "$status"
