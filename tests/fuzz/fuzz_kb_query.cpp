// Fuzzes knowledge base search: arbitrary text and filter JSON go into every search mode of a
// tiny in-memory base. Input: a first line with a filter (JSON; anything else is text too),
// then the query text; the first byte also picks the modes. A bad filter may fail with
// Error(invalid_config) and a bad query with Error(invalid_argument); any other exception,
// a crash or a sanitizer report is a bug (an FTS5 syntax error would surface as internal).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "keel/knowledge.hpp"

namespace {

keel::KnowledgeBase& base() {
  static keel::KnowledgeBase shared = [] {
    keel::KnowledgeOptions options;
    options.dimension = 16;
    auto kb = keel::KnowledgeBase::open(":memory:", options);
    auto doc = [](const char* id, const char* text, keel::Json metadata) {
      keel::Document d;
      d.id = id;
      d.text = text;
      d.metadata = std::move(metadata);
      return d;
    };
    kb.upsert(
        {doc("a", "The quick brown fox jumps over the lazy dog", {{"lang", "en"}, {"year", 2021}}),
         doc("b", "Le café est très chaud; naïve façade",
             {{"lang", "fr"}, {"year", 2023}, {"tags", {"x"}}}),
         doc("c", "\"quoted\" NEAR(words) AND OR NOT * ^ col:umn",
             {{"lang", "en"}, {"nested", {{"k", true}}}}),
         doc("d", "数据 検索 😀 emoji and CJK text", {{"year", nullptr}}), doc("e", "", {})});
    kb.upsert_entity({"topic", "concept", keel::Json::object()});
    kb.add_edges({{"a", "b", "links", 0.5, keel::Json::object()},
                  {"b", "topic", "about", 1.0, keel::Json::object()},
                  {"c", "topic", "about", 2.0, keel::Json::object()}});
    return kb;
  }();
  return shared;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint8_t flags = size ? data[0] : 0;
  keel::SearchQuery query;
  auto newline = input.find('\n');
  std::string_view first = input.substr(0, newline);
  keel::Json filter;
  bool has_filter = false;
  try {
    filter = keel::parse_json(first, "filter");  // bounds nesting, unlike a bare parse
    has_filter = true;
  } catch (const keel::Error&) {
  }
  if (has_filter) {
    query.filter = filter;
    query.text = std::string(newline == std::string_view::npos ? std::string_view()
                                                               : input.substr(newline + 1));
  } else {
    query.text = std::string(input);
  }
  query.keyword_mode = static_cast<keel::SearchQuery::KeywordMode>(flags % 3);
  query.prefix = flags & 0x04;
  query.use_vector = !(flags & 0x08);
  query.use_graph = flags & 0x10;
  query.fusion = flags & 0x20 ? keel::FusionMethod::weighted : keel::FusionMethod::rrf;
  query.k = 1 + flags % 7;
  if (flags & 0x40) query.seeds = {query.text, "a"};
  try {
    auto result = base().search(query);
    (void)keel::dump_json(result.to_json());
  } catch (const keel::Error& e) {
    if (e.code() != keel::Errc::invalid_config && e.code() != keel::Errc::invalid_argument)
      std::abort();
  }
  return 0;
}
