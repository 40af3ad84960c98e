// libcurl is loaded with dlopen on the first HTTP transfer, not linked (llm/curl_library.hpp).
// That libkeel.so does not need it at start is checked on the built library by
// tests/llm/libcurl_not_needed.cmake; the provider tests show the loaded library at work.
#include <doctest/doctest.h>

#include <string>

#include "keel/error.hpp"
#include "llm/curl_library.hpp"

using namespace keel;
using keel::llm::CurlLibrary;

namespace {

Error load_error(std::span<const char* const> sonames) {
  try {
    (void)llm::load_curl_library(sonames);
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an error");
  return Error(Errc::internal, "no error");
}

}  // namespace

TEST_CASE("a missing libcurl is an unavailable error naming libcurl, the SONAMEs tried and why") {
  const char* sonames[] = {"libkeel-test-no-such-curl.so.4",
                           "libkeel-test-no-such-curl-gnutls.so.4"};
  Error error = load_error(sonames);
  std::string message = error.what();
  CHECK(error.code() == Errc::unavailable);
  CHECK(error.details().retryable == 0);
  CHECK(message.find("libcurl") != std::string::npos);
  CHECK(
      message.find("tried libkeel-test-no-such-curl.so.4, libkeel-test-no-such-curl-gnutls.so.4") !=
      std::string::npos);
  CHECK(message.find("cannot open shared object file") != std::string::npos);  // dlerror()
}

TEST_CASE("a library that lacks one of libcurl's functions is refused, naming the function") {
  const char* sonames[] = {"libkeel-test-no-such-curl.so.4", "libc.so.6"};
  Error error = load_error(sonames);
  std::string message = error.what();
  CHECK(error.code() == Errc::unavailable);
  CHECK(message.find("libc.so.6") != std::string::npos);
  CHECK(message.find("curl_global_init") != std::string::npos);
}

TEST_CASE("libcurl is found under its SONAME with every function keel uses") {
  const CurlLibrary& curl = llm::curl_library();
  // Double parentheses: doctest cannot print a function pointer.
  CHECK((curl.global_init != nullptr));
  CHECK((curl.easy_init != nullptr));
  CHECK((curl.easy_cleanup != nullptr));
  CHECK((curl.easy_setopt != nullptr));
  CHECK((curl.easy_getinfo != nullptr));
  CHECK((curl.easy_strerror != nullptr));
  CHECK((curl.multi_init != nullptr));
  CHECK((curl.multi_cleanup != nullptr));
  CHECK((curl.multi_setopt != nullptr));
  CHECK((curl.multi_add_handle != nullptr));
  CHECK((curl.multi_remove_handle != nullptr));
  CHECK((curl.multi_socket_action != nullptr));
  CHECK((curl.multi_info_read != nullptr));
  CHECK((curl.multi_strerror != nullptr));
  CHECK((curl.slist_append != nullptr));
  CHECK((curl.slist_free_all != nullptr));
  CHECK(std::string(curl.easy_strerror(CURLE_OK)) == "No error");
  CHECK((&llm::curl_library() == &curl));  // loaded once
}
