// Internal: libcurl, loaded with dlopen the first time keel starts an HTTP transfer instead of
// linked. Debian's libcurl pulls in some 30 shared libraries (GnuTLS, Kerberos, LDAP, libssh2,
// ...) that cost every process ~10 ms at start; a host that never calls a remote model or
// embedder should not pay for them. The types come from curl.h, so only the headers are needed
// at build time.
#pragma once

#include <curl/curl.h>

#include <span>

namespace keel::llm {

/// The libcurl functions keel uses, as pointers into the loaded library.
struct CurlLibrary {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_multi_init) multi_init = nullptr;
  decltype(&curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&curl_multi_setopt) multi_setopt = nullptr;
  decltype(&curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&curl_multi_socket_action) multi_socket_action = nullptr;
  decltype(&curl_multi_info_read) multi_info_read = nullptr;
  decltype(&curl_multi_strerror) multi_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

/// The SONAMEs tried, in order: the OpenSSL build (Debian's libcurl4), then the GnuTLS one.
inline constexpr const char* curl_sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};

/// libcurl, loaded and curl_global_init'ed by the first call (thread-safe, once per process).
/// Throws keel::Error (unavailable, not retryable) naming libcurl, the SONAMEs tried and
/// dlerror() when it cannot be loaded; every later call then throws the same error.
const CurlLibrary& curl_library();

/// Loads the first of `sonames` that dlopen finds (RTLD_NOW | RTLD_LOCAL, never unloaded) and
/// binds every function; throws as curl_library() does. Does not call curl_global_init. For
/// curl_library() and tests.
CurlLibrary load_curl_library(std::span<const char* const> sonames);

}  // namespace keel::llm
