# Finds every dependency of keel. Each one is a Debian package; a missing one stops configuration
# with a message that names the package to install.

function(keel_require_package found debian_package what)
  if(NOT ${found})
    message(FATAL_ERROR
      "keel needs ${what}, which was not found.\n"
      "Install it with: apt-get install ${debian_package}\n"
      "(scripts/test and scripts/demo install every dependency when run as root.)")
  endif()
endfunction()

find_package(Threads REQUIRED)

find_package(nlohmann_json 3.10 CONFIG QUIET)
keel_require_package(nlohmann_json_FOUND nlohmann-json3-dev "nlohmann/json (JSON)")

find_package(SQLite3 QUIET)  # CMake's FindSQLite3 module
keel_require_package(SQLite3_FOUND libsqlite3-dev "SQLite 3 (storage and FTS5)")

# CMake's FindCURL module. keel compiles against curl's headers and loads the runtime library
# (libcurl.so.4, from libcurl4) with dlopen on first use; it does not link it.
find_package(CURL QUIET)
keel_require_package(CURL_FOUND libcurl4-openssl-dev "libcurl (HTTP clients)")

find_package(valijson CONFIG QUIET)
keel_require_package(valijson_FOUND libvalijson-dev "valijson (JSON Schema validation)")

find_package(PkgConfig QUIET)
keel_require_package(PKG_CONFIG_FOUND pkg-config "pkg-config")
pkg_check_modules(KEEL_RE2 QUIET IMPORTED_TARGET re2)
keel_require_package(KEEL_RE2_FOUND libre2-dev "RE2 (regular expressions)")
pkg_check_modules(KEEL_UTF8PROC QUIET IMPORTED_TARGET libutf8proc)
keel_require_package(KEEL_UTF8PROC_FOUND libutf8proc-dev "utf8proc (Unicode normalisation)")

# Header-only libraries without a CMake package: check the headers themselves.
find_path(KEEL_ASIO_INCLUDE_DIR asio.hpp)
keel_require_package(KEEL_ASIO_INCLUDE_DIR libasio-dev "standalone Asio (async runtime)")
find_path(KEEL_HNSWLIB_INCLUDE_DIR hnswlib/hnswlib.h)
keel_require_package(KEEL_HNSWLIB_INCLUDE_DIR libhnswlib-dev "hnswlib (vector index)")

add_library(keel_asio INTERFACE)
target_include_directories(keel_asio SYSTEM INTERFACE ${KEEL_ASIO_INCLUDE_DIR})
target_compile_definitions(keel_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(keel_asio INTERFACE Threads::Threads)

add_library(keel_hnswlib INTERFACE)
target_include_directories(keel_hnswlib SYSTEM INTERFACE ${KEEL_HNSWLIB_INCLUDE_DIR})

if(KEEL_BUILD_TESTS)
  find_package(doctest CONFIG QUIET)
  keel_require_package(doctest_FOUND doctest-dev "doctest (unit tests)")
endif()

if(KEEL_BUILD_EXAMPLES)
  find_package(CLI11 CONFIG QUIET)
  keel_require_package(CLI11_FOUND libcli11-dev "CLI11 (the keel command line)")
endif()
