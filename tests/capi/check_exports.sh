#!/bin/sh
# Fails when libkeel.so exports a symbol that is not keel's own: the C functions keel_*, or C++
# symbols of the keel:: namespace (KEEL_API classes and functions, their vtables and typeinfo).
# Third-party code (RE2, hnswlib, SQLite, nlohmann, Asio, libstdc++ instantiations) stays hidden.
set -eu
lib="$1"
# Only global symbols are exported: the dynamic symbol table may also hold local ones (gold
# lists a thread_local variable there when code refers to it), which nothing can bind to. nm
# marks those in lower case; 'u' (a unique global) is the one lower-case global kind.
exported() { nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Zu]$/ {print $3}'; }
bad=$(exported | while read -r sym; do
  case "$sym" in
    keel_*) continue ;;
    _init|_fini|_edata|_end|__bss_start) continue ;;
    KEEL_[0-9]*) continue ;;  # the symbol version node of keel.map
  esac
  # C++ symbols of namespace keel, by mangled prefix (a template's demangled name starts with
  # its return type, so the mangled form is the reliable test).
  case "$sym" in
    _ZN4keel*|_ZNK4keel*|_ZTVN4keel*|_ZTIN4keel*|_ZTSN4keel*|_ZThn*_N4keel*|_ZThn*_NK4keel*) continue ;;
  esac
  echo "$sym  ($(echo "$sym" | c++filt))"
done)
count=$(exported | wc -l)
if [ -n "$bad" ]; then
  echo "libkeel.so exports symbols that are not keel's:"
  echo "$bad"
  exit 1
fi
echo "libkeel.so: all $count exported symbols are keel's"
