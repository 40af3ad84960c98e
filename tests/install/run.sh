#!/bin/sh
# run.sh CMAKE BUILD_DIR SOURCE_DIR SCRATCH CC SANITIZER_FLAGS
set -eu
cmake="$1" build="$2" here="$3" scratch="$4" cc="$5" flags="$6"
rm -rf "$scratch"
mkdir -p "$scratch"
prefix="$scratch/prefix"

"$cmake" --install "$build" --prefix "$prefix" > "$scratch/install.log"
libdir=$(dirname "$(find "$prefix" -name 'libkeel.so' | head -n 1)")
test -n "$libdir" || { echo "libkeel.so was not installed"; exit 1; }
soname=$(ls "$libdir" | grep -E '^libkeel\.so\.[0-9]+$' || true)
test -n "$soname" || { echo "libkeel.so has no SOVERSION link"; exit 1; }

# C++ through find_package(keel) and the keel::keel target.
"$cmake" -S "$here/cxx" -B "$scratch/cxx" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="$flags" > "$scratch/cxx-configure.log"
"$cmake" --build "$scratch/cxx" > "$scratch/cxx-build.log"
LD_LIBRARY_PATH="$libdir" "$scratch/cxx/consumer"

# C through pkg-config and keel.h alone.
PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --exists keel
cflags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags keel)
libs=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --libs keel)
# shellcheck disable=SC2086
"$cc" -std=c99 -pedantic -Werror $flags $cflags "$here/consumer.c" $libs -o "$scratch/c-consumer"
LD_LIBRARY_PATH="$libdir" "$scratch/c-consumer"
echo "installed tree at $prefix works for C++ and C consumers"
