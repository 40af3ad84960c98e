#include <doctest/doctest.h>

#include "core/metadata_filter.hpp"
#include "keel/error.hpp"

using keel::Json;
using keel::MetadataFilter;

namespace {
bool holds(const char* filter, const char* metadata) {
  return MetadataFilter::parse(Json::parse(filter), "filter").matches(Json::parse(metadata));
}
std::string parse_error(const char* filter) {
  try {
    MetadataFilter::parse(Json::parse(filter), "filter");
  } catch (const keel::Error& e) {
    CHECK(e.code() == keel::Errc::invalid_config);
    return e.what();
  }
  FAIL("expected an invalid_config error");
  return {};
}
}  // namespace

TEST_CASE("metadata filter: eq compares numbers by value and strings exactly") {
  CHECK(holds(R"({"channel": {"eq": "stripe"}})", R"({"channel": "stripe"})"));
  CHECK_FALSE(holds(R"({"channel": {"eq": "stripe"}})", R"({"channel": "Stripe"})"));
  CHECK(holds(R"({"n": {"eq": 1}})", R"({"n": 1.0})"));
  CHECK_FALSE(holds(R"({"n": {"eq": 1}})", R"({"n": "1"})"));
}

TEST_CASE("metadata filter: in, exists and numeric ranges") {
  CHECK(holds(R"({"lang": {"in": ["fr", "de"]}})", R"({"lang": "de"})"));
  CHECK_FALSE(holds(R"({"lang": {"in": ["fr", "de"]}})", R"({"lang": "en"})"));
  CHECK(holds(R"({"vip": {"exists": true}})", R"({"vip": false})"));
  CHECK_FALSE(holds(R"({"vip": {"exists": true}})", R"({"vip": null})"));
  CHECK(holds(R"({"vip": {"exists": false}})", R"({})"));
  CHECK(holds(R"({"year": {"gte": 2023, "lte": 2024}})", R"({"year": 2024})"));
  CHECK_FALSE(holds(R"({"year": {"gte": 2023, "lte": 2024}})", R"({"year": 2025})"));
  CHECK_FALSE(holds(R"({"year": {"gte": 2023}})", R"({"year": "2024"})"));
  CHECK(holds(R"({"score": {"gt": 0.5, "lt": 1}})", R"({"score": 0.7})"));
  CHECK_FALSE(holds(R"({"score": {"gt": 0.5}})", R"({"score": 0.5})"));
}

TEST_CASE("metadata filter: every field must hold and absent fields fail") {
  CHECK(holds(R"({"a": {"eq": 1}, "b": {"eq": 2}})", R"({"a": 1, "b": 2})"));
  CHECK_FALSE(holds(R"({"a": {"eq": 1}, "b": {"eq": 2}})", R"({"a": 1})"));
  CHECK_FALSE(holds(R"({"a": {"gte": 0}})", R"([1, 2])"));
  CHECK(holds(R"({})", R"({"anything": 1})"));
}

TEST_CASE("metadata filter: dotted fields reach nested objects unless the key exists") {
  CHECK(holds(R"({"user.tier": {"eq": "gold"}})", R"({"user": {"tier": "gold"}})"));
  CHECK(holds(R"({"user.tier": {"eq": "flat"}})",
              R"({"user.tier": "flat", "user": {"tier": "gold"}})"));
  CHECK_FALSE(holds(R"({"user.tier": {"eq": "gold"}})", R"({"user": "gold"})"));
}

TEST_CASE("metadata filter: bad filters name the JSON path") {
  CHECK(parse_error(R"({"year": {"gt3": 1}})").find("filter.year") != std::string::npos);
  CHECK(parse_error(R"({"year": {}})").find("filter.year") != std::string::npos);
  CHECK(parse_error(R"({"lang": {"in": "fr"}})").find("filter.lang.in") != std::string::npos);
  CHECK(parse_error(R"({"year": {"gte": "x"}})").find("filter.year.gte") != std::string::npos);
  CHECK(parse_error(R"({"year": 2023})").find("filter.year") != std::string::npos);
  CHECK(parse_error(R"([1])").find("filter") != std::string::npos);
}
