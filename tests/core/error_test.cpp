#include <doctest/doctest.h>

#include <new>

#include "keel/json.hpp"

using keel::Errc;
using keel::Error;

TEST_CASE("every error code has its stable name") {
  CHECK(keel::to_string(Errc::invalid_argument) == "invalid_argument");
  CHECK(keel::to_string(Errc::invalid_config) == "invalid_config");
  CHECK(keel::to_string(Errc::not_found) == "not_found");
  CHECK(keel::to_string(Errc::io) == "io");
  CHECK(keel::to_string(Errc::timeout) == "timeout");
  CHECK(keel::to_string(Errc::cancelled) == "cancelled");
  CHECK(keel::to_string(Errc::unavailable) == "unavailable");
  CHECK(keel::to_string(Errc::provider) == "provider");
  CHECK(keel::to_string(Errc::tool) == "tool");
  CHECK(keel::to_string(Errc::parse) == "parse");
  CHECK(keel::to_string(Errc::limit_exceeded) == "limit_exceeded");
  CHECK(keel::to_string(Errc::internal) == "internal");
  CHECK(keel::to_string(static_cast<Errc>(99)) == "unknown");
}

TEST_CASE("error codes keep the values of the C ABI") {
  CHECK(static_cast<int>(Errc::invalid_argument) == 1);
  CHECK(static_cast<int>(Errc::internal) == 12);
}

TEST_CASE("an Error carries its code and message") {
  Error e(Errc::timeout, "model call took longer than 30000 ms");
  CHECK(e.code() == Errc::timeout);
  CHECK(std::string(e.what()) == "model call took longer than 30000 ms");
}

TEST_CASE("foreign exceptions are translated into keel errors") {
  auto translate = [](auto thrower) {
    try {
      thrower();
    } catch (...) {
      return keel::error_from_current_exception();
    }
    return Error(Errc::internal, "nothing thrown");
  };
  CHECK(translate([] { throw Error(Errc::tool, "x"); }).code() == Errc::tool);
  CHECK(translate([] { throw std::bad_alloc(); }).code() == Errc::limit_exceeded);
  CHECK(translate([] { keel::Json j = keel::Json::parse("{"); }).code() == Errc::parse);
  CHECK(translate([] { (void)keel::Json("a").get<int>(); }).code() == Errc::invalid_argument);
  Error other = translate([] { throw std::runtime_error("boom"); });
  CHECK(other.code() == Errc::internal);
  CHECK(std::string(other.what()).find("boom") != std::string::npos);
  CHECK(translate([] { throw 42; }).code() == Errc::internal);
}

TEST_CASE("nlohmann's exception prefix does not reach the user") {
  try {
    keel::Json j = keel::Json::parse("[1,");
    FAIL("expected a parse error");
  } catch (...) {
    Error e = keel::error_from_current_exception();
    CHECK(std::string(e.what()).find("[json.exception") == std::string::npos);
  }
}
