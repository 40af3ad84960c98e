// Tool arguments are checked against their JSON Schema (valijson): the subset models are given,
// checked case by case against the official JSON-Schema-Test-Suite (Debian's
// json-schema-test-suite), and messages that say where a value is wrong.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tools/json_schema.hpp"

using namespace keel;
using tools::JsonSchema;

namespace {

const char* const suite_dir = "/usr/share/json-schema-test-suite/tests/draft7";

Json order_schema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "order_id": {"type": "string", "minLength": 3, "maxLength": 12},
      "qty": {"type": "integer", "minimum": 1, "maximum": 99},
      "speed": {"enum": ["standard", "express"]},
      "tags": {"type": "array", "items": {"type": "string"}}
    },
    "required": ["order_id", "qty"],
    "additionalProperties": false
  })");
}

bool mentions(const std::vector<std::string>& messages, const std::string& text) {
  for (const auto& m : messages) {
    if (m.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("every case of the suite's files for the keywords tools use passes") {
  REQUIRE_MESSAGE(std::filesystem::exists(suite_dir),
                  "install json-schema-test-suite (scripts/install-deps test)");
  int cases = 0;
  for (const char* keyword :
       {"type", "properties", "required", "enum", "items", "minimum", "maximum", "minLength",
        "maxLength", "additionalProperties", "const", "exclusiveMinimum", "exclusiveMaximum",
        "minItems", "maxItems", "allOf", "anyOf", "oneOf", "multipleOf", "pattern"}) {
    std::ifstream file(std::string(suite_dir) + "/" + keyword + ".json");
    REQUIRE_MESSAGE(file, keyword);
    for (const auto& group : Json::parse(file)) {
      auto schema = JsonSchema::parse(group["schema"], keyword);
      for (const auto& test : group["tests"]) {
        INFO(keyword << ": " << group["description"].get<std::string>() << " / "
                     << test["description"].get<std::string>());
        CHECK(schema.violations(test["data"]).empty() == test["valid"].get<bool>());
        ++cases;
      }
    }
  }
  CHECK(cases > 200);
}

TEST_CASE("a conforming value has no violations") {
  auto schema = JsonSchema::parse(order_schema(), "tools[0].parameters");
  CHECK(schema.violations(Json::parse(R"({"order_id": "A-123", "qty": 2})")).empty());
  CHECK(schema.violations(
                  Json::parse(R"({"order_id": "A-123", "qty": 99, "speed": "express", "tags": []})"))
            .empty());
}

TEST_CASE("each violation says where it is and what is wrong") {
  auto schema = JsonSchema::parse(order_schema(), "tools[0].parameters");
  auto missing = schema.violations(Json::parse(R"({"qty": 2})"));
  CHECK(mentions(missing, "order_id"));

  auto wrong = schema.violations(
      Json::parse(R"({"order_id": "A", "qty": "3", "speed": "slow", "tags": ["a", 2], "x": 1})"));
  INFO(Json(wrong).dump());
  CHECK(mentions(wrong, "order_id: "));  // too short
  CHECK(mentions(wrong, "qty: "));       // a string, not an integer: types are strict
  CHECK(mentions(wrong, "speed: "));
  CHECK(mentions(wrong, "tags[1]: "));
  CHECK(mentions(wrong, "x"));  // not an allowed property
  CHECK(wrong.size() >= 5);

  CHECK(mentions(schema.violations(Json::parse("[1, 2]")), "(root): "));
  CHECK(mentions(schema.violations(Json::parse(R"({"order_id": "A-123", "qty": 100})")), "qty: "));
}

TEST_CASE("a schema that cannot be used is an error naming where it came from") {
  for (const char* bad : {R"([])", R"("string")", R"({"type": "nonsense"})",
                          R"({"$ref": "http://example.com/schema.json"})",
                          R"({"properties": {"a": {"minimum": "one"}}})"}) {
    INFO(bad);
    try {
      (void)JsonSchema::parse(Json::parse(bad), "tools[2].parameters");
      FAIL("accepted " << bad);
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_argument);
      CHECK(std::string(e.what()).find("tools[2].parameters") != std::string::npos);
    }
  }
}

TEST_CASE("one schema validates from many threads at once") {
  auto schema = JsonSchema::parse(order_schema(), "tools[0].parameters");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        Json good = {{"order_id", "A-" + std::to_string(100 + i)}, {"qty", 1 + (i + t) % 99}};
        Json bad = {{"order_id", "A-1"}, {"qty", 0}};
        if (!schema.violations(good).empty() || schema.violations(bad).empty()) ++wrong;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(wrong.load() == 0);
}
