#include "llm/curl_library.hpp"

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "keel/error.hpp"

namespace keel::llm {

namespace {

[[noreturn]] void fail(const std::string& why) {
  ErrorDetails details;
  details.retryable = 0;  // a missing library does not come back on the next attempt
  throw Error(
      Errc::unavailable,
      "libcurl, which keel needs for HTTP model and embedder calls, " + why + " (install libcurl4)",
      details);
}

std::string last_dl_error() {
  const char* text = dlerror();
  return text ? text : "unknown dlerror";
}

}  // namespace

CurlLibrary load_curl_library(std::span<const char* const> sonames) {
  void* handle = nullptr;
  const char* loaded = nullptr;
  std::string tried, errors;
  for (const char* soname : sonames) {
    tried += (tried.empty() ? "" : ", ") + std::string(soname);
    handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle) {
      loaded = soname;
      break;
    }
    errors += (errors.empty() ? "" : "; ") + last_dl_error();
  }
  if (!handle) fail("could not be loaded: tried " + tried + ": " + errors);

  CurlLibrary library;
  auto bind = [&](auto& slot, const char* name) {
    dlerror();  // clear a stale error so the one read below is dlsym's
    void* symbol = dlsym(handle, name);
    if (!symbol) {
      std::string why = last_dl_error();
      dlclose(handle);
      fail("was loaded as " + std::string(loaded) + " but lacks " + name + ": " + why);
    }
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(symbol);
  };
  bind(library.global_init, "curl_global_init");
  bind(library.easy_init, "curl_easy_init");
  bind(library.easy_cleanup, "curl_easy_cleanup");
  bind(library.easy_setopt, "curl_easy_setopt");
  bind(library.easy_getinfo, "curl_easy_getinfo");
  bind(library.easy_strerror, "curl_easy_strerror");
  bind(library.multi_init, "curl_multi_init");
  bind(library.multi_cleanup, "curl_multi_cleanup");
  bind(library.multi_setopt, "curl_multi_setopt");
  bind(library.multi_add_handle, "curl_multi_add_handle");
  bind(library.multi_remove_handle, "curl_multi_remove_handle");
  bind(library.multi_socket_action, "curl_multi_socket_action");
  bind(library.multi_info_read, "curl_multi_info_read");
  bind(library.multi_strerror, "curl_multi_strerror");
  bind(library.slist_append, "curl_slist_append");
  bind(library.slist_free_all, "curl_slist_free_all");
  return library;  // the handle stays open for the life of the process
}

const CurlLibrary& curl_library() {
  // Loaded once; a failure is remembered as its message and thrown to every caller.
  struct Loaded {
    CurlLibrary library;
    std::string failure;
  };
  static const Loaded loaded = [] {
    Loaded result;
    try {
      result.library = load_curl_library(curl_sonames);
      CURLcode code = result.library.global_init(CURL_GLOBAL_DEFAULT);
      if (code != CURLE_OK) {
        result.failure =
            std::string("libcurl's curl_global_init failed: ") + result.library.easy_strerror(code);
      }
    } catch (const Error& error) {
      result.failure = error.what();
    }
    return result;
  }();
  if (!loaded.failure.empty()) {
    ErrorDetails details;
    details.retryable = 0;
    throw Error(Errc::unavailable, loaded.failure, details);
  }
  return loaded.library;
}

}  // namespace keel::llm
