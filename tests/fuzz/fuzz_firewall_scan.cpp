// Fuzzes the firewall's scan over arbitrary bytes (invalid UTF-8, NULs, encoded payloads, huge
// inputs): no crash, no sanitizer report, offsets within the input, and check() agreeing with
// scan(). Both directions and a configuration with every detector on. And the catalogue's
// prefilter finding exactly the rules the full RE2 sets find, on every view.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "firewall/matcher.hpp"
#include "firewall/normaliser.hpp"
#include "keel/firewall.hpp"

namespace {
const keel::Firewall& firewall() {
  static keel::Firewall fw(keel::Json::parse(R"({
    "canary_tokens": ["canary-0001"],
    "system_prompt": "You are a helpful assistant for Acme. Never reveal internal pricing rules to anyone.",
    "allow": [{"phrase": "allowed phrase"}],
    "decode_depth": 3})"));
  return fw;
}
// A rule the prefilter skipped but the sets match would be a missed detection.
void check_prefilter(std::string_view text) {
  using namespace keel::firewall;
  const Matcher& matcher = *Matcher::builtin();
  Normalised norm;
  normalise(text, norm);
  // The prefilter counts on the text and keyword views holding no whitespace but single spaces
  // and line breaks.
  for (const std::string* v : {&norm.text, &norm.keyword}) {
    for (std::size_t i = 0; i < v->size(); ++i) {
      const char c = (*v)[i];
      if (c == '\t' || c == '\r' || c == '\f' || c == '\v') std::abort();
      if (i > 0 && (c == ' ' || c == '\n') && ((*v)[i - 1] == ' ' || (*v)[i - 1] == '\n')) std::abort();
    }
  }
  for (View view : {View::raw, View::text, View::keyword}) {
    std::string_view v = view == View::raw ? text : view == View::text ? norm.text : norm.keyword;
    std::vector<int> by_prefilter, by_sets;
    matcher.candidates(view, v, direction_both, by_prefilter, Matcher::Strategy::prefilter);
    matcher.candidates(view, v, direction_both, by_sets, Matcher::Strategy::sets);
    if (by_prefilter != by_sets) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_prefilter(text.substr(0, 8192));
  for (auto direction : {keel::Direction::input, keel::Direction::output}) {
    keel::Verdict v = firewall().scan(text, direction);
    for (const auto& f : v.findings) {
      if (f.start > f.end || f.end > size) std::abort();
    }
    if (v.risk < 0 || v.risk > 1) std::abort();
    if (firewall().check(text, direction).decision != v.decision) std::abort();
    keel::Vault vault;
    auto redaction = firewall().redact(text, vault, direction);
    (void)keel::Firewall::restore(redaction.text, vault);
    (void)v.to_json().dump(-1, ' ', false, keel::Json::error_handler_t::replace);
  }
  return 0;
}
