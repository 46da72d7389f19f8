#!/usr/bin/env bash
# A program built with AddressSanitizer must not link against a library
# built without it: the stack switches it inlines would be annotated and
# the library's not (see include/greenring/detail/sanitizer.hpp). Builds a
# program both ways against this build's shared library: the plain one
# links and runs, the ASan one fails to link, naming the reason.
# Usage: mixed_sanitizer.sh SOURCE_ROOT SHARED_LIB CXX...
set -u
src=$1 lib=$2
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
libdir=$(dirname "$lib")
common=(-std=c++20 -I"$src/include" "$src/tests/support/mixed_sanitizer.cpp" -L"$libdir" -lgreenring
        -Wl,-rpath,"$libdir" -pthread)
if ! "$@" "${common[@]}" -o "$dir/plain" 2>"$dir/err"; then
  echo "FAIL: the program built like the library did not link:"; cat "$dir/err"; exit 1
fi
"$dir/plain" || { echo "FAIL: the program built like the library did not run"; exit 1; }
if "$@" -fsanitize=address "${common[@]}" -o "$dir/asan" 2>"$dir/err"; then
  echo "FAIL: a program built with ASan linked against a library built without it"; exit 1
fi
if ! grep -q this_program_uses_asan_so_libgreenring_must_be_built_with_asan "$dir/err"; then
  echo "FAIL: the ASan program failed to link for another reason:"; cat "$dir/err"; exit 1
fi
echo "ok: the ASan program was refused at link time"
