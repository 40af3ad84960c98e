// The catalogue is data; these tests hold it to its contract: every rule's examples match it
// (through the same normalisation scans use), no near miss does, and the coverage the product
// promises is there.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include "firewall/builtin_catalogue.hpp"
#include "firewall/catalogue.hpp"
#include "firewall/matcher.hpp"
#include "firewall/normaliser.hpp"
#include "firewall/rot13_gate.hpp"

using namespace keel::firewall;

namespace {

const Matcher& matcher() { return *Matcher::builtin(); }

// The catalogue as written, examples and near misses included, in the built-in order.
const std::vector<Rule>& sources() {
  static const std::vector<Rule> rules = [] {
    std::vector<Rule> all;
    for (const char* name : {"threats.json", "pii.json", "secrets.json"}) {
      std::ifstream in(std::string(KEEL_SOURCE_DIR) + "/lib/firewall/rules/" + name, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), {});
      auto part = parse_catalogue(text, name);
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }();
  return rules;
}

std::string_view view_of(View view, const std::string& sample, const Normalised& norm) {
  return view == View::raw ? std::string_view(sample) : view == View::text ? std::string_view(norm.text)
                                                                           : std::string_view(norm.keyword);
}

// Whether rule `index` yields a validated match in `sample`, on the rule's view, by the given
// way of finding candidates.
bool rule_matches(int index, const std::string& sample, Matcher::Strategy strategy) {
  const Rule& rule = matcher().rules()[static_cast<std::size_t>(index)];
  Normalised norm;
  normalise(sample, norm);
  std::string_view view = view_of(rule.view, sample, norm);
  std::vector<int> candidates;
  matcher().candidates(rule.view, view, direction_both, candidates, strategy);
  if (std::find(candidates.begin(), candidates.end(), index) == candidates.end()) return false;
  std::vector<Hit> hits;
  matcher().spans(index, view, hits, 16);
  return !hits.empty();
}

constexpr Matcher::Strategy strategies[] = {Matcher::Strategy::prefilter, Matcher::Strategy::sets};

}  // namespace

TEST_CASE("the catalogue compiled into the library is the one in lib/firewall/rules") {
  const auto& built = builtin_rules();
  const auto& written = sources();
  REQUIRE(built.size() == written.size());
  for (std::size_t i = 0; i < built.size(); ++i) {
    INFO(written[i].id);
    CHECK(built[i].id == written[i].id);
    CHECK(built[i].category == written[i].category);
    CHECK(built[i].lang == written[i].lang);
    CHECK(built[i].description == written[i].description);
    CHECK(built[i].pattern == written[i].pattern);
    CHECK(built[i].severity == written[i].severity);
    CHECK(built[i].view == written[i].view);
    CHECK(built[i].directions == written[i].directions);
    CHECK(built[i].validator == written[i].validator);
    CHECK(built[i].examples.empty());  // examples stay out of the library
  }
}

TEST_CASE("the ROT13 gate compiled into the library is the automaton of its words") {
  const AtomScanner built(std::vector<std::string>(rot13_gate_words.begin(), rot13_gate_words.end()));
  const AtomTables& a = built.tables();
  const AtomTables& b = builtin::rot13_gate;
  REQUIRE(a.states == b.states);
  REQUIRE(a.classes == b.classes);
  REQUIRE(a.dense_states == b.dense_states);
  CHECK(std::equal(a.byte_class, a.byte_class + 256, b.byte_class));
  CHECK(std::equal(a.table, a.table + std::size_t{a.dense_states} * a.classes, b.table));
  const std::size_t sparse = a.states - a.dense_states + 1;
  CHECK(std::equal(a.sparse, a.sparse + sparse, b.sparse));
  CHECK(std::equal(a.edges, a.edges + (a.sparse[sparse - 1] >> 16), b.edges));
  CHECK(std::equal(a.output_begin, a.output_begin + a.states + 1, b.output_begin));
  CHECK(std::equal(a.outputs, a.outputs + a.output_begin[a.states], b.outputs));
  const AtomScanner compiled(builtin::rot13_gate);
  for (auto word : rot13_gate_words) {
    CHECK(compiled.finds_any("n " + std::string(word) + " gb"));
    CHECK_FALSE(compiled.finds_any(std::string(word.substr(0, word.size() - 1)) + " " + std::string(word.substr(1))));
  }
}

TEST_CASE("every catalogue example matches its rule, through the prefilter and the sets") {
  const auto& rules = sources();  // the matcher keeps the same order, without examples
  int checked = 0;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    for (const auto& example : rules[i].examples) {
      INFO("rule " << rules[i].id << " example: " << example);
      for (auto strategy : strategies) CHECK(rule_matches(static_cast<int>(i), example, strategy));
      checked++;
    }
  }
  CHECK(checked >= static_cast<int>(rules.size()));
}

TEST_CASE("no near miss matches its rule") {
  const auto& rules = sources();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    for (const auto& near_miss : rules[i].near_misses) {
      INFO("rule " << rules[i].id << " near miss: " << near_miss);
      for (auto strategy : strategies) CHECK_FALSE(rule_matches(static_cast<int>(i), near_miss, strategy));
    }
  }
}

// The prefilter only skips rules that cannot match: on every sample of the catalogue (each
// rule's examples and near misses, alone and run together, upper-cased), on every view and in
// both directions, it finds exactly the rules the full RE2 sets find.
TEST_CASE("the prefilter finds the same rules as the full sets") {
  std::vector<std::string> samples;
  std::string joined;
  for (const auto& rule : sources()) {
    for (const auto* list : {&rule.examples, &rule.near_misses}) {
      for (const auto& s : *list) {
        samples.push_back(s);
        std::string upper = s;
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        samples.push_back(upper);
        joined += s + "\n";
        if (joined.size() > 2000) samples.push_back(std::exchange(joined, {}));
      }
    }
  }
  std::size_t found = 0;
  for (const auto& sample : samples) {
    Normalised norm;
    normalise(sample, norm);
    for (View view : {View::raw, View::text, View::keyword}) {
      for (std::uint8_t direction : {direction_input, direction_output}) {
        std::vector<int> by_prefilter, by_sets;
        matcher().candidates(view, view_of(view, sample, norm), direction, by_prefilter, Matcher::Strategy::prefilter);
        matcher().candidates(view, view_of(view, sample, norm), direction, by_sets, Matcher::Strategy::sets);
        INFO("view " << view_name(view) << ", sample: " << sample);
        CHECK(by_prefilter == by_sets);
        found += by_sets.size();
      }
    }
  }
  CHECK(samples.size() > 2000);
  CHECK(found > samples.size());  // the samples do make rules match
}

TEST_CASE("spans are the same whichever way they are found") {
  // Every catalogue sample, alone and with a text around it, for every rule that matches it.
  std::size_t compared = 0;
  for (const auto& rule : sources()) {
    for (const auto* list : {&rule.examples, &rule.near_misses}) {
      for (const auto& s : *list) {
        for (const std::string& sample : {s, "ok: " + s + " " + s + ", then more"}) {
          Normalised norm;
          normalise(sample, norm);
          for (View view : {View::raw, View::text, View::keyword}) {
            std::string_view text = view_of(view, sample, norm);
            std::vector<int> matched;
            matcher().candidates(view, text, direction_both, matched, Matcher::Strategy::sets);
            for (int index : matched) {
              // The reference: RE2's own search with the whole pattern.
              std::vector<Hit> reference;
              matcher().spans(index, text, reference, 64, Matcher::SpanSearch::whole_reverse);
              for (auto search : {Matcher::SpanSearch::whole_anchored, Matcher::SpanSearch::alternatives_reverse,
                                  Matcher::SpanSearch::alternatives_anchored, Matcher::SpanSearch::automatic}) {
                std::vector<Hit> found;
                matcher().spans(index, text, found, 64, search);
                INFO(matcher().rules()[static_cast<std::size_t>(index)].id << " (way " << static_cast<int>(search)
                                                                           << ") in: " << text);
                REQUIRE(found.size() == reference.size());
                for (std::size_t k = 0; k < found.size(); ++k) {
                  CHECK(found[k].start == reference[k].start);
                  CHECK(found[k].end == reference[k].end);
                }
              }
              ++compared;
            }
          }
        }
      }
    }
  }
  CHECK(compared > 1000);
}

TEST_CASE("every rule has an example and a near miss") {
  for (const auto& rule : sources()) {
    INFO(rule.id);
    CHECK_FALSE(rule.examples.empty());
    CHECK_FALSE(rule.near_misses.empty());
  }
}

TEST_CASE("the catalogue covers every category of the specification") {
  std::set<std::string_view> categories;
  for (const auto& rule : builtin_rules()) categories.insert(rule.category);
  for (const char* expected :
       {"threat.instruction_override", "threat.role_play_jailbreak",
        "threat.system_prompt_extraction", "threat.prompt_delimiter_injection",
        "threat.refusal_suppression", "threat.data_exfiltration", "threat.credential_request",
        "threat.command_injection", "threat.sql_injection", "threat.path_traversal", "threat.ssrf",
        "threat.malicious_code", "threat.privilege_escalation", "threat.resource_exhaustion",
        "threat.xss", "pii.email", "pii.phone", "pii.credit_card", "pii.iban", "pii.us_ssn",
        "pii.ip_address", "pii.mac_address", "pii.crypto_wallet", "pii.us_bank_routing",
        "pii.uk_nino", "pii.date_of_birth", "pii.passport", "pii.url_credentials",
        "secret.aws_access_key", "secret.github_token", "secret.openai_key",
        "secret.anthropic_key", "secret.slack_token", "secret.stripe_key",
        "secret.google_api_key", "secret.private_key", "secret.jwt",
        "secret.generic_password"}) {
    INFO(expected);
    CHECK(categories.count(expected) == 1);
  }
}

TEST_CASE("at least 150 threat patterns, in six languages where language matters") {
  int threats = 0;
  std::map<std::string_view, std::set<std::string_view>> languages;  // category -> languages
  for (const auto& rule : builtin_rules()) {
    if (!rule.category.starts_with("threat.")) continue;
    threats++;
    languages[rule.category].insert(rule.lang);
  }
  CHECK(threats >= 150);
  for (const char* category : {"threat.instruction_override", "threat.role_play_jailbreak",
                               "threat.system_prompt_extraction", "threat.refusal_suppression"}) {
    for (const char* lang : {"en", "es", "fr", "de", "pt", "it"}) {
      INFO(category << " in " << lang);
      CHECK(languages[category].count(lang) == 1);
    }
  }
}

TEST_CASE("rule ids are unique and severities are in range") {
  std::set<std::string_view> ids;
  for (const auto& rule : builtin_rules()) {
    INFO(rule.id);
    CHECK(ids.insert(rule.id).second);
    CHECK(rule.severity > 0.0);
    CHECK(rule.severity <= 1.0);
  }
}

TEST_CASE("entity names come from categories") {
  CHECK(entity_name("pii.email") == "EMAIL");
  CHECK(entity_name("pii.ip_address") == "IP_ADDRESS");
  CHECK(entity_name("secret.aws_access_key") == "AWS_ACCESS_KEY");
}

TEST_CASE("a malformed catalogue entry is rejected with its path") {
  try {
    (void)parse_catalogue(R"({"rules": [{"id": "x", "pattern": "a", "severity": 2}]})", "test.json");
    FAIL("expected an error");
  } catch (const keel::Error& e) {
    CHECK(std::string(e.what()).starts_with("test.json.rules[0].severity"));
  }
}
