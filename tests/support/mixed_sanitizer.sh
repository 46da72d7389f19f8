#!/usr/bin/env bash
# A program built with AddressSanitizer or ThreadSanitizer must not link
# against a library built without it: the stack switches it inlines would
# be annotated and the library's not (see
# include/greenring/detail/sanitizer.hpp). Builds a program three ways
# against this (plain) build's shared library: the plain one links and
# runs, the ASan and TSan ones fail to link, naming the reason.
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

for san in address thread; do
  tag=${san/address/asan}
  tag=${tag/thread/tsan}
  if "$@" -fsanitize=$san "${common[@]}" -o "$dir/$tag" 2>"$dir/err"; then
    echo "FAIL: a program built with -fsanitize=$san linked against a library built without it"; exit 1
  fi
  if ! grep -q "this_program_uses_${tag}_so_libgreenring_must_be_built_with_${tag}" "$dir/err"; then
    echo "FAIL: the -fsanitize=$san program failed to link for another reason:"; cat "$dir/err"; exit 1
  fi
  echo "ok: the -fsanitize=$san program was refused at link time"
done
