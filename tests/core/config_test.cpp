#include <doctest/doctest.h>

#include "keel/json.hpp"

using keel::ConfigReader;
using keel::Errc;
using keel::Json;

namespace {
// The message of the invalid_config error that `fn` throws.
template <class Fn>
std::string config_error(Fn fn) {
  try {
    fn();
  } catch (const keel::Error& e) {
    CHECK(e.code() == Errc::invalid_config);
    return e.what();
  }
  FAIL("expected an invalid_config error");
  return {};
}
}  // namespace

TEST_CASE("json paths name keys and indexes") {
  CHECK(keel::json_path_join("", "routes") == "routes");
  CHECK(keel::json_path_index("routes", 3) == "routes[3]");
  CHECK(keel::json_path_join("routes[3]", "threshold") == "routes[3].threshold");
  CHECK(keel::json_path_join("metadata", "a b") == "metadata[\"a b\"]");
}

TEST_CASE("a wrong type names the path and both types") {
  Json config = Json::parse(R"({"routes": [{}, {}, {}, {"threshold": "high"}]})");
  std::string message = config_error([&] {
    ConfigReader root(config);
    auto routes = root.objects("routes");
    (void)routes[3].required<double>("threshold");
  });
  CHECK(message == "routes[3].threshold: expected number, got string");
}

TEST_CASE("a missing required key is reported") {
  Json config = Json::parse(R"({"routes": [{"description": "x"}]})");
  std::string message = config_error([&] {
    ConfigReader root(config);
    (void)root.objects("routes")[0].required<std::string>("name");
  });
  CHECK(message == "routes[0].name: required");
}

TEST_CASE("optional values fall back when absent or null") {
  Json config = Json::parse(R"({"a": null})");
  ConfigReader r(config);
  CHECK(r.optional<int>("a", 7) == 7);
  CHECK(r.optional<std::string>("b", "x") == "x");
  CHECK_FALSE(r.maybe<double>("c").has_value());
  CHECK_FALSE(r.has("a"));
}

TEST_CASE("unknown keys are rejected with a suggestion") {
  Json config = Json::parse(R"({"name": "billing", "treshold": 0.8})");
  std::string message = config_error([&] {
    ConfigReader r(config);
    (void)r.required<std::string>("name");
    (void)r.optional<double>("threshold", 0.8);
    r.finish();
  });
  CHECK(message.starts_with("treshold: unknown key (did you mean \"threshold\"?)"));
  CHECK(message.find("known keys: name, threshold") != std::string::npos);
}

TEST_CASE("integers are range-checked and must be whole") {
  Json config = Json::parse(R"({"n": -1, "m": 2.5, "k": 3.0, "big": 1e30})");
  ConfigReader r(config);
  CHECK(config_error([&] { (void)r.required<std::size_t>("n"); }) ==
        "n: expected a non-negative integer, got -1");
  CHECK(config_error([&] { (void)r.required<int>("m"); }) == "m: expected integer, got 2.5");
  CHECK(r.required<int>("k") == 3);
  CHECK(
      config_error([&] { (void)r.required<int>("big"); }).starts_with("big: integer out of range"));
}

TEST_CASE("number ranges and choices are enforced") {
  Json config = Json::parse(R"({"threshold": 1.5, "jitter": "fulll"})");
  ConfigReader r(config);
  CHECK(config_error([&] { (void)r.number("threshold", 0.8, 0.0, 1.0); }) ==
        "threshold: must be between 0.0 and 1.0, got 1.5");
  CHECK(config_error([&] {
          (void)r.choice("jitter", "full", {"full", "equal", "decorrelated"});
        }) == "jitter: must be one of full, equal, decorrelated, got \"fulll\"");
}

TEST_CASE("array elements are checked one by one") {
  Json config = Json::parse(R"({"keywords": ["a", 2]})");
  ConfigReader r(config);
  CHECK(config_error([&] { (void)r.required<std::vector<std::string>>("keywords"); }) ==
        "keywords[1]: expected string, got number");
}

TEST_CASE("a configuration that is not an object is rejected at its path") {
  Json config = Json::parse(R"({"retry": 3})");
  ConfigReader r(config);
  CHECK(config_error([&] { (void)r.object("retry"); }) == "retry: expected object, got number");
  CHECK(config_error([] { ConfigReader root(Json::array()); }) ==
        "(root): expected object, got array");
}

TEST_CASE("parse_json reports where the text is broken") {
  try {
    (void)keel::parse_json("{\"a\": [1, 2,, 3]}", "routes file");
    FAIL("expected a parse error");
  } catch (const keel::Error& e) {
    CHECK(e.code() == Errc::parse);
    std::string message = e.what();
    CHECK(message.starts_with("routes file: "));
    CHECK(message.find("line 1, column 13") != std::string::npos);
  }
}

TEST_CASE("parse_json refuses absurd nesting instead of exhausting the stack") {
  std::string deep(100000, '[');
  try {
    (void)keel::parse_json(deep, "input");
    FAIL("expected a parse error");
  } catch (const keel::Error& e) {
    CHECK(e.code() == Errc::parse);
    CHECK(std::string(e.what()).find("nesting deeper than") != std::string::npos);
  }
  // Brackets inside strings do not count.
  CHECK(keel::parse_json("[\"" + deep + "\"]", "input")[0].get<std::string>().size() ==
        deep.size());
}

TEST_CASE("parse_json rejects invalid UTF-8 and dump_json never throws on it") {
  CHECK_THROWS_AS(keel::parse_json("\"\xff\xfe\""), keel::Error);
  Json bad = std::string("ab\xff");
  CHECK(keel::dump_json(bad).size() > 0);
}
