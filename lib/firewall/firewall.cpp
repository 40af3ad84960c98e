// The firewall: runs the catalogue and the detectors over a text and its normalised views, then
// consolidates, scores and (when asked) redacts.
#include "keel/firewall.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <set>

#include "firewall/builtin_catalogue.hpp"
#include "firewall/catalogue.hpp"
#include "firewall/detectors.hpp"
#include "firewall/matcher.hpp"
#include "firewall/normaliser.hpp"
#include "firewall/redactor.hpp"
#include "firewall/scorer.hpp"

namespace keel {

using namespace firewall;

std::string_view to_string(Direction direction) noexcept {
  return direction == Direction::output ? "output" : "input";
}

Direction direction_from_string(std::string_view name) {
  if (name == "input") return Direction::input;
  if (name == "output") return Direction::output;
  throw Error(Errc::invalid_argument,
              "direction must be \"input\" or \"output\", got \"" + std::string(name) + "\"");
}

std::string_view to_string(Decision decision) noexcept {
  switch (decision) {
    case Decision::allow: return "allow";
    case Decision::flag: return "flag";
    case Decision::block: return "block";
  }
  return "allow";
}

Json Finding::to_json() const {
  Json out = {{"category", category}, {"rule", rule}, {"severity", severity},
              {"start", start},       {"end", end}};
  if (!encoding.empty()) out["encoding"] = encoding;
  return out;
}

Json Verdict::to_json() const {
  Json list = Json::array();
  for (const auto& f : findings) list.push_back(f.to_json());
  Json out = {{"decision", to_string(decision)},
              {"risk", std::round(risk * 10000.0) / 10000.0},
              {"findings", std::move(list)}};
  if (redacted) out["redacted"] = *redacted;
  if (truncated) out["truncated"] = true;
  return out;
}

Json Redaction::to_json() const {
  Json list = Json::array();
  for (const auto& f : findings) list.push_back(f.to_json());
  return {{"text", text}, {"findings", std::move(list)}};
}

namespace {

// Categories found by code rather than catalogue patterns.
constexpr std::string_view detector_categories[] = {
    "threat.encoded_payload", "threat.invisible_text", "threat.homoglyph_obfuscation",
    "threat.canary_leak", "threat.resource_exhaustion", "threat.custom"};

constexpr std::size_t spans_per_rule = 4096;     // bounds the findings of one rule per scan
constexpr std::size_t decode_budget = 1 << 20;   // bytes of encoded payloads decoded per scan
constexpr int max_depth = 5;
constexpr std::size_t scratch_keep_bytes = 4 << 20;  // re-faulting pages costs more than keeping them

// Per-thread buffers for the normalised views of each decoding depth.
struct Scratch {
  std::array<Normalised, max_depth + 1> norms;
  std::array<std::string, max_depth + 1> rot13;
  void release() {
    for (auto& n : norms) n = Normalised{};
    for (auto& r : rot13) std::string().swap(r);
  }
};
thread_local Scratch scratch;

// The ROT13 pass over a text runs only when its keyword view holds one of the words of the
// gate (firewall/rot13_gate.hpp), whose automaton is compiled into the library.
const AtomScanner& rot13_gate() {
  static const AtomScanner gate(builtin::rot13_gate);
  return gate;
}

std::uint8_t direction_bit(Direction d) {
  return d == Direction::output ? direction_output : direction_input;
}

// The head of `text` that fits `limit` bytes without splitting a UTF-8 character.
std::size_t utf8_cut(std::string_view text, std::size_t limit) {
  std::size_t cut = std::min(limit, text.size());
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return cut;
}

}  // namespace

struct Firewall::Impl {
  FirewallConfig config;
  // A compiled catalogue and this firewall's settings for its rules: the built-in catalogue
  // (shared by every firewall in the process) and, when configured, the custom rules.
  struct Part {
    std::shared_ptr<const Matcher> matcher;
    std::vector<double> severity;  // per rule, after category overrides
    std::vector<char> enabled;     // per rule
  };
  std::vector<Part> parts;
  struct Allow {
    std::unique_ptr<RE2> re;
    std::vector<std::string> categories;
  };
  std::vector<Allow> allow;
  LeakDetector leaks;
  EventSink sink;

  explicit Impl(FirewallConfig cfg) : config(std::move(cfg)) {
    const std::vector<Rule>& builtin = builtin_rules();
    std::vector<Rule> custom_rules;
    std::set<std::string_view> ids;
    if (!config.custom_rules.empty()) {
      for (const auto& r : builtin) ids.insert(r.id);
    }
    for (std::size_t i = 0; i < config.custom_rules.size(); ++i) {
      const CustomRule& custom = config.custom_rules[i];
      std::string path = json_path_index("custom_rules", i);
      if (!ids.insert(custom.id).second) {
        throw_config_error(json_path_join(path, "id"), "duplicate rule id \"" + custom.id + "\"");
      }
      RuleText text;
      text.id = custom.id;
      text.category = custom.category;
      text.pattern = custom.pattern;
      Rule rule = Rule::owning(std::move(text));
      rule.severity = custom.severity;
      rule.view = view_from_name(custom.view, json_path_join(path, "view"));
      rule.directions = directions_from_name(custom.direction, json_path_join(path, "direction"));
      // Compiled here as the matcher will, so a bad pattern, or one too large for a rule's
      // memory budget, is reported at its path rather than never matching.
      if (auto error = Matcher::pattern_error(rule.pattern); !error.empty()) {
        throw_config_error(json_path_join(path, "pattern"), error);
      }
      custom_rules.push_back(std::move(rule));
    }
    // (Views of the rules, which the matchers below keep.)
    std::set<std::string_view, std::less<>> known_categories;
    for (const auto& r : builtin) known_categories.insert(r.category);
    for (const auto& r : custom_rules) known_categories.insert(r.category);
    for (auto name : detector_categories) known_categories.insert(name);

    for (const auto& [name, settings] : config.categories) {
      if (!known_categories.count(name)) {
        throw_config_error(json_path_join("categories", name), "unknown category");
      }
    }
    for (const auto& [name, rule] : config.redaction) {
      bool known = false;
      for (const auto& category : known_categories) {
        if (is_entity_category(category) && (category == name || entity_name(category) == name)) {
          known = true;
          break;
        }
      }
      if (!known) {
        throw_config_error(json_path_join("redaction.modes", name),
                           "not a PII or secret category (\"pii.email\") or entity (\"EMAIL\")");
      }
    }

    add_part(Matcher::builtin());
    if (!custom_rules.empty()) add_part(std::make_shared<const Matcher>(std::move(custom_rules)));

    Normalised norm;
    for (std::size_t i = 0; i < config.allow.size(); ++i) {
      const AllowRule& a = config.allow[i];
      std::string pattern;
      if (!a.phrase.empty()) {
        normalise(a.phrase, norm);
        pattern = RE2::QuoteMeta(norm.text);
      } else {
        pattern = a.regex;
      }
      auto re = std::make_unique<RE2>(pattern, RE2::Quiet);
      if (!re->ok()) {
        throw_config_error(json_path_join(json_path_index("allow", i), "regex"), re->error());
      }
      for (const auto& category : a.categories) {
        if (!known_categories.count(category)) {
          throw_config_error(json_path_join(json_path_index("allow", i), "categories"),
                             "unknown category \"" + category + "\"");
        }
      }
      allow.push_back({std::move(re), a.categories});
    }
    leaks = LeakDetector(config.canary_tokens, config.system_prompt);
  }

  void add_part(std::shared_ptr<const Matcher> matcher) {
    Part part;
    for (const auto& r : matcher->rules()) {
      part.severity.push_back(category_severity(r.category, r.severity));
      part.enabled.push_back(category_enabled(r.category) ? 1 : 0);
    }
    part.matcher = std::move(matcher);
    parts.push_back(std::move(part));
  }

  bool category_enabled(std::string_view category) const {
    auto it = config.categories.find(std::string(category));
    return it == config.categories.end() || it->second.enabled;
  }

  double category_severity(std::string_view category, double fallback) const {
    auto it = config.categories.find(std::string(category));
    return it != config.categories.end() && it->second.severity ? *it->second.severity : fallback;
  }

  void add(std::vector<Finding>& out, std::string_view category, std::string rule, double sev,
           Span span, std::string encoding = {}) const {
    out.push_back(Finding{std::string(category), std::move(rule),
                          category_severity(category, sev), span.start, span.end,
                          std::move(encoding)});
  }

  // Runs the rules of one view over `view_text`, mapping spans back through `norm` (or not, for
  // the raw view). With `rot13_of` set, matches come from the ROT13 of the view and are reported
  // as encoded payloads.
  void run_view(View view, std::string_view view_text, std::string_view original,
                const Normalised* norm, std::uint8_t dir, bool rot13_pass,
                std::vector<Finding>& out) const {
    std::vector<int> candidates;
    std::vector<Hit> hits;
    for (const Part& part : parts) {
      candidates.clear();
      part.matcher->candidates(view, view_text, dir, candidates);
      for (int index : candidates) {
        run_rule(part, index, view_text, original, norm, rot13_pass, hits, out);
      }
    }
  }

  void run_rule(const Part& part, int index, std::string_view view_text, std::string_view original,
                const Normalised* norm, bool rot13_pass, std::vector<Hit>& hits,
                std::vector<Finding>& out) const {
    if (!part.enabled[static_cast<std::size_t>(index)]) return;
    const Rule& rule = part.matcher->rules()[static_cast<std::size_t>(index)];
    if (rot13_pass && !rule.category.starts_with("threat.")) return;
    hits.clear();
    part.matcher->spans(index, view_text, hits, spans_per_rule);
    const double sev = part.severity[static_cast<std::size_t>(index)];
    for (const auto& h : hits) {
      Span span = norm ? norm->to_original(h.start, h.end, original) : Span{h.start, h.end};
      if (rot13_pass) {
        add(out, "threat.encoded_payload", "encoded_payload.rot13/" + std::string(rule.id), sev, span, "rot13");
      } else {
        out.push_back(Finding{std::string(rule.category), std::string(rule.id), sev, span.start, span.end, {}});
      }
    }
  }

  // Scans a decoded payload and reports what it hides as encoded-payload findings over `span`.
  void rescan(std::string_view decoded, std::string_view encoding, Span span, std::uint8_t dir,
              int depth, std::size_t& budget, std::vector<Finding>& out) const {
    std::vector<Finding> inner;
    collect(decoded, dir, depth + 1, budget, inner);
    for (auto& f : inner) {
      if (!f.category.starts_with("threat.") && !f.category.starts_with("secret.")) continue;
      std::string how(encoding);
      if (!f.encoding.empty()) how += ">" + f.encoding;
      std::string rule = f.category == "threat.encoded_payload"
                             ? "encoded_payload." + std::string(encoding) + ">" + f.rule.substr(16)
                             : "encoded_payload." + std::string(encoding) + "/" + f.rule;
      add(out, "threat.encoded_payload", std::move(rule), f.severity, span, std::move(how));
    }
  }

  void collect(std::string_view text, std::uint8_t dir, int depth, std::size_t& budget,
               std::vector<Finding>& out) const {
    Normalised& norm = scratch.norms[static_cast<std::size_t>(depth)];
    normalise(text, norm);

    run_view(View::raw, text, text, nullptr, dir, false, out);
    run_view(View::text, norm.text, text, &norm, dir, false, out);
    run_view(View::keyword, norm.keyword, text, &norm, dir, false, out);

    const bool decode = depth < config.decode_depth && category_enabled("threat.encoded_payload");
    if (decode && rot13_gate().finds_any(norm.keyword)) {
      std::string& rotated = scratch.rot13[static_cast<std::size_t>(depth)];
      rot13(norm.keyword, rotated);
      run_view(View::keyword, rotated, text, &norm, dir, true, out);
    }

    if (category_enabled("threat.invisible_text")) {
      for (const auto& run : norm.invisible) {
        switch (run.kind) {
          case InvisibleRun::Kind::tag:
            add(out, "threat.invisible_text", "invisible_text.unicode_tags", 0.8, run.span);
            if (decode && !run.decoded.empty()) {
              rescan(run.decoded, "unicode_tags", run.span, dir, depth, budget, out);
            }
            break;
          case InvisibleRun::Kind::bidi:
            add(out, "threat.invisible_text", "invisible_text.bidi_control", 0.45, run.span);
            break;
          case InvisibleRun::Kind::zero_width:
            add(out, "threat.invisible_text", "invisible_text.zero_width", 0.3, run.span);
            break;
        }
      }
    }
    if (category_enabled("threat.homoglyph_obfuscation")) {
      for (const auto& word : norm.mixed_script_words) {
        add(out, "threat.homoglyph_obfuscation", "homoglyph_obfuscation.mixed_script_word", 0.5,
            word);
      }
    }
    if (decode && budget > 0) {
      std::vector<EncodedSegment> segments;
      find_encoded_segments(text, segments, budget);
      for (const auto& segment : segments) {
        rescan(segment.decoded, segment.encoding, segment.span, dir, depth, budget, out);
      }
    }
    if ((dir & direction_output) && !leaks.empty() && category_enabled("threat.canary_leak")) {
      // The views of `text` are still in `norm`: the rescans above used deeper slots.
      std::vector<Span> spans;
      leaks.canaries(text, norm, spans);
      for (auto s : spans) add(out, "threat.canary_leak", "canary_leak.token", 1.0, s);
      spans.clear();
      leaks.system_prompt(text, norm, spans);
      for (auto s : spans) add(out, "threat.canary_leak", "canary_leak.system_prompt", 0.9, s);
    }
  }

  // Everything scan() and check() share: size limit, collection, allow-list, consolidation.
  std::vector<Finding> findings(std::string_view& text, Direction direction,
                                bool& truncated) const {
    truncated = false;
    std::size_t full_size = text.size();
    if (text.size() > config.max_input_bytes) {
      if (!config.truncate_oversize) {
        throw Error(Errc::limit_exceeded, "input is " + std::to_string(text.size()) +
                                              " bytes, over the firewall's max_input_bytes (" +
                                              std::to_string(config.max_input_bytes) + ")");
      }
      text = text.substr(0, utf8_cut(text, config.max_input_bytes));
      truncated = true;
    }
    std::vector<Finding> out;
    std::size_t budget = decode_budget;
    collect(text, direction_bit(direction), 0, budget, out);
    // The scratch views are kept per thread for speed; after a large text, give the memory back
    // rather than hold the capacity of the largest text ever scanned.
    if (text.size() > scratch_keep_bytes) scratch.release();
    if (truncated) {
      add(out, "threat.resource_exhaustion", "firewall.input_truncated", 0.5,
          {text.size(), full_size});
    }
    if (!allow.empty() && !out.empty()) apply_allow_list(text, out);
    consolidate(out);
    return out;
  }

  void apply_allow_list(std::string_view text, std::vector<Finding>& out) const {
    Normalised norm;
    normalise(text, norm);
    struct Allowed {
      Span span;
      const std::vector<std::string>* categories;
    };
    std::vector<Allowed> allowed;
    for (const auto& a : allow) {
      re2::StringPiece input(norm.text);
      re2::StringPiece match;
      std::size_t pos = 0;
      while (pos <= norm.text.size() &&
             a.re->Match(input, pos, norm.text.size(), RE2::UNANCHORED, &match, 1)) {
        std::size_t start = static_cast<std::size_t>(match.data() - norm.text.data());
        std::size_t end = start + match.size();
        if (end > start) allowed.push_back({norm.to_original(start, end, text), &a.categories});
        pos = end > start ? end : start + 1;
      }
    }
    std::erase_if(out, [&](const Finding& f) {
      for (const auto& a : allowed) {
        bool category_ok = a.categories->empty() ||
                           std::find(a.categories->begin(), a.categories->end(), f.category) !=
                               a.categories->end();
        if (category_ok && f.start >= a.span.start && f.end <= a.span.end) return true;
      }
      return false;
    });
  }

  void report(Direction direction, const Firewall::Score& score, const std::vector<Finding>& found,
              std::size_t bytes, std::chrono::steady_clock::time_point start) const {
    if (!sink) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    Json event = make_event("firewall.scan", us);
    event["direction"] = to_string(direction);
    event["decision"] = to_string(score.decision);
    event["risk"] = std::round(score.risk * 10000.0) / 10000.0;
    event["bytes"] = bytes;
    Json categories = Json::object();
    for (const auto& f : found) {
      categories[f.category] = categories.value(f.category, 0) + 1;
    }
    event["categories"] = std::move(categories);
    emit(sink, event);
  }
};

Firewall::Firewall(FirewallConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Firewall::Firewall(const Json& config) : Firewall(FirewallConfig::from_json(config)) {}
Firewall::~Firewall() = default;
Firewall::Firewall(Firewall&&) noexcept = default;
Firewall& Firewall::operator=(Firewall&&) noexcept = default;

Verdict Firewall::scan(std::string_view text, Direction direction) const {
  auto start = std::chrono::steady_clock::now();
  std::size_t bytes = text.size();
  Verdict verdict;
  verdict.findings = impl_->findings(text, direction, verdict.truncated);
  Score s = firewall::score(verdict.findings, impl_->config, direction);
  verdict.decision = s.decision;
  verdict.risk = s.risk;
  if (impl_->config.redaction_enabled) {
    Vault vault;
    verdict.redacted = redact_text(text, verdict.findings, impl_->config, vault);
  }
  impl_->report(direction, s, verdict.findings, bytes, start);
  return verdict;
}

Firewall::Score Firewall::check(std::string_view text, Direction direction) const {
  auto start = std::chrono::steady_clock::now();
  std::size_t bytes = text.size();
  bool truncated = false;
  auto found = impl_->findings(text, direction, truncated);
  Score s = firewall::score(found, impl_->config, direction);
  impl_->report(direction, s, found, bytes, start);
  return s;
}

Redaction Firewall::redact(std::string_view text, Vault& vault, Direction direction) const {
  bool truncated = false;
  std::string_view scanned = text;
  auto found = impl_->findings(scanned, direction, truncated);
  Redaction out;
  std::erase_if(found, [](const Finding& f) { return !is_entity_category(f.category); });
  out.text = redact_text(text, found, impl_->config, vault);
  out.findings = std::move(found);
  return out;
}

std::vector<RuleInfo> Firewall::rules() const {
  std::vector<RuleInfo> out;
  for (const auto& part : impl_->parts) {
    const auto& rules = part.matcher->rules();
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const Rule& r = rules[i];
      std::string direction = r.directions == direction_both    ? "both"
                              : r.directions == direction_input ? "input"
                                                                : "output";
      out.push_back(RuleInfo{std::string(r.id), std::string(r.category), std::string(view_name(r.view)), direction,
                             std::string(r.lang), std::string(r.description), part.severity[i]});
    }
  }
  return out;
}

void Firewall::set_event_sink(EventSink sink) { impl_->sink = std::move(sink); }

}  // namespace keel
