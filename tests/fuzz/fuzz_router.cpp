// Fuzzes what crosses the router's boundary: a routes file, a request's text and metadata, and
// the model's answer in the LLM tier. The input is "<routes JSON>\n<text>\n<metadata JSON>\n<model
// reply>"; missing parts are empty. A bad routes file must fail with Error(invalid_config or
// parse); routing and the model's answer must never throw or crash.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/router.hpp"
#include "router/llm_tier.hpp"

namespace {

std::string_view next_part(std::string_view& rest) {
  auto newline = rest.find('\n');
  std::string_view part = rest.substr(0, newline);
  rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  return part;
}

// A fixed router with every kind of condition, for inputs whose routes file is not valid.
const keel::Router& fixed_router() {
  static const keel::Router router(keel::Json::parse(R"({"fallback": "other", "routes": [
      {"name": "billing", "description": "Invoices", "conditions": [
         {"keywords": ["invoice", "charged twice"], "match": "any", "confidence": 0.9},
         {"regex": "(?i)refund\\w*", "confidence": 0.95},
         {"metadata": {"a.b": {"gte": 1, "lte": 5}, "c": {"in": ["x", 2, null]}}, "confidence": 1}],
       "utterances": ["I was billed twice", "refund my order"]},
      {"name": "other", "utterances": ["hello there"]}]})"));
  return router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view routes_text = next_part(rest), text = next_part(rest), metadata_text = next_part(rest);
  std::string_view reply = rest;

  keel::Json metadata = keel::Json::parse(metadata_text, nullptr, false);
  if (metadata.is_discarded()) metadata = nullptr;

  std::unique_ptr<keel::Router> own;
  try {
    keel::Json routes = keel::parse_json(routes_text, "routes");
    auto config = keel::RouterConfig::from_json(routes);
    if (config.routes.size() <= 16) own = std::make_unique<keel::Router>(std::move(config));
  } catch (const keel::Error& e) {
    if (e.code() != keel::Errc::parse && e.code() != keel::Errc::invalid_config) std::abort();
  }
  const keel::Router& router = own ? *own : fixed_router();
  try {
    auto result = router.route(text, metadata);
    (void)result.to_json().dump();
    (void)router.top_k(text, 3, metadata);
  } catch (...) {
    std::abort();  // routing without a model never throws
  }

  std::vector<keel::router::OfferedRoute> offered = {{"billing", "Invoices"}, {"other", ""}};
  auto choice = keel::router::parse_llm_choice(reply, offered);
  if (choice.route && *choice.route != "billing" && *choice.route != "other") std::abort();
  if (!(choice.confidence >= 0 && choice.confidence <= 1)) std::abort();
  return 0;
}
