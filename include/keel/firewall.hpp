/// \file
/// The AI firewall: screens text going into a model (prompts, retrieved documents, tool results)
/// and coming out (replies, tool arguments) for prompt-injection and jailbreak attempts, code and
/// query injection, exfiltration, PII and secrets; scores the risk, decides allow / flag / block,
/// and redacts entities reversibly.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/events.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"

namespace keel {

/// Which way the text travels: into a model, or out of it. Output scanning adds canary and
/// system-prompt leaks, XSS and exfiltration links.
enum class Direction { input, output };
/// "input" or "output".
KEEL_API std::string_view to_string(Direction direction) noexcept;
/// "input" / "output"; throws Error(invalid_argument) otherwise.
KEEL_API Direction direction_from_string(std::string_view name);

/// What to do with the text: allow it, flag it (let it through, but report it) or block it.
/// Ordered: a higher value is the stricter decision.
enum class Decision { allow = 0, flag = 1, block = 2 };
/// "allow", "flag" or "block".
KEEL_API std::string_view to_string(Decision decision) noexcept;

/// One thing the firewall found. Offsets are byte offsets into the scanned (original) text,
/// start inclusive, end exclusive.
struct KEEL_API Finding {
  std::string category;  ///< stable id: "threat.instruction_override", "pii.email", ...
  std::string rule;      ///< the rule that fired: "instruction_override.ignore_previous.en"
  double severity = 0;   ///< 0..1
  /// Byte offset of the match's first byte.
  std::size_t start = 0;
  /// Byte offset just past the match.
  std::size_t end = 0;
  /// How the match was reached when not in the plain text: "base64", "hex", "url", "rot13",
  /// "unicode_tags" (the span is then the encoded segment); empty otherwise.
  std::string encoding;

  /// {"category", "rule", "severity", "start", "end", "encoding"?}
  Json to_json() const;
};

/// A scan's outcome: {decision, risk, findings, redacted}.
struct KEEL_API Verdict {
  /// The risk of the findings against the direction's thresholds; a category with thresholds
  /// of its own is decided on them instead, and the strictest decision wins.
  Decision decision = Decision::allow;
  double risk = 0;  ///< 1 - prod(1 - severity) over the findings
  /// What was found, by start offset (overlapping findings of one category merged into one).
  std::vector<Finding> findings;
  /// The text with PII and secrets redacted by the configured modes; set when redaction is on.
  std::optional<std::string> redacted;
  /// True when the input exceeded max_input_bytes and only its head was scanned.
  bool truncated = false;

  /// {"decision", "risk", "findings", "redacted"?, "truncated"?}
  Json to_json() const;
};

/// Placeholder values handed out by redaction ("<EMAIL_1>" -> "ann@example.com"), so a model's
/// reply that mentions the placeholders can be turned back into the real values. The same value
/// always gets the same placeholder within one vault. Not thread-safe: one vault per
/// conversation, guarded by its owner.
class KEEL_API Vault {
 public:
  /// The placeholder for a value of an entity type ("EMAIL"), creating one if new.
  std::string placeholder(std::string_view entity, std::string_view value);
  /// The value behind a placeholder, if this vault issued it.
  std::optional<std::string> value(std::string_view placeholder) const;
  /// Number of placeholders issued.
  std::size_t size() const noexcept { return values_.size(); }
  /// True when no placeholder has been issued.
  bool empty() const noexcept { return values_.empty(); }

  /// {"<EMAIL_1>": "ann@example.com", ...}
  Json to_json() const;
  /// Throws Error(invalid_argument) naming the bad entry.
  static Vault from_json(const Json& json);

 private:
  std::map<std::string, std::string, std::less<>> values_;   // placeholder -> value
  std::map<std::string, std::string, std::less<>> by_value_;  // entity + '\0' + value -> placeholder
  std::map<std::string, int, std::less<>> counters_;          // entity -> last number issued
};

/// The result of redact(): the redacted text and the findings that were redacted.
struct KEEL_API Redaction {
  /// The text with PII and secrets replaced.
  std::string text;
  /// The findings that were redacted (offsets into the original text).
  std::vector<Finding> findings;
  /// {"text", "findings"}
  Json to_json() const;
};

/// How an entity type is redacted.
struct KEEL_API RedactionRule {
  /// placeholder: a placeholder from the vault ("<EMAIL_1>"), which restore() can undo;
  /// mask: '*' for each character but the last keep_last (separators stay); hash:
  /// "<ENTITY:h>" with h the first 16 hex digits of SHA-256 of hash_salt plus the value;
  /// remove: deleted; keep: left as it is.
  enum class Mode { placeholder, mask, hash, remove, keep };
  /// How the entity is replaced.
  Mode mode = Mode::placeholder;
  std::size_t keep_last = 4;  ///< mask: how many trailing characters stay visible
};

/// A user rule added to the catalogue.
struct KEEL_API CustomRule {
  /// Unique among all rules; findings name it as their rule.
  std::string id;
  /// The category its findings carry.
  std::string category = "threat.custom";
  /// Severity of its findings, 0..1.
  double severity = 0.7;
  std::string pattern;       ///< RE2 syntax
  std::string view = "text";  ///< "raw", "text" (normalised) or "keyword" (also leetspeak-folded)
  /// Which text it scans: "input", "output" or "both".
  std::string direction = "both";
};

/// Suppresses findings inside text that matches it: a literal phrase (case-insensitive, on
/// normalised text) or an RE2 pattern (on normalised text), optionally only for some categories.
struct KEEL_API AllowRule {
  /// A literal phrase (exactly one of phrase and regex is set).
  std::string phrase;
  /// An RE2 pattern.
  std::string regex;
  std::vector<std::string> categories;  ///< empty = every category
};

/// Thresholds on risk.
struct KEEL_API Thresholds {
  /// Risk at or above this is flagged.
  double flag = 0.5;
  /// Risk at or above this is blocked.
  double block = 0.8;
};

/// Per-category settings.
struct KEEL_API CategorySettings {
  /// False: the category's rules do not run.
  bool enabled = true;
  std::optional<double> severity;        ///< replaces every rule's severity in the category
  std::optional<Thresholds> thresholds;  ///< decide this category on its own thresholds
};

/// Configuration. JSON form (every key optional):
/// {"thresholds": {"flag": 0.5, "block": 0.8},
///  "input": {"flag": .., "block": ..}, "output": {"flag": .., "block": ..},
///  "categories": {"pii.phone": {"enabled": false}, "threat.sql_injection": {"severity": 0.9,
///                 "flag": 0.3, "block": 0.6}},
///  "custom_rules": [{"id": "acme.project_name", "category": "threat.custom", "severity": 0.9,
///                    "pattern": "project\\s+falcon", "view": "text", "direction": "both"}],
///  "allow": [{"phrase": "ignore the previous example"}, {"regex": "...", "categories": [..]}],
///  "canary_tokens": ["c4n4ry-7f3a"], "system_prompt": "You are AcmeBot ...",
///  "max_input_bytes": 16777216, "oversize": "error" | "truncate",
///  "redaction": {"enabled": true, "default": "placeholder", "salt": "...",
///                "modes": {"pii.credit_card": {"mode": "mask", "keep_last": 4},
///                          "secret.jwt": "remove"}},
///  "decode_depth": 2}
struct KEEL_API FirewallConfig {
  /// Thresholds of both directions, unless replaced by input_thresholds or output_thresholds.
  Thresholds thresholds;
  /// Thresholds for Direction::input, when set.
  std::optional<Thresholds> input_thresholds;
  /// Thresholds for Direction::output, when set.
  std::optional<Thresholds> output_thresholds;
  /// Settings by category name ("pii.phone").
  std::map<std::string, CategorySettings> categories;
  /// Rules added to the built-in catalogue.
  std::vector<CustomRule> custom_rules;
  /// Text in which findings are suppressed.
  std::vector<AllowRule> allow;
  /// Strings (at least 4 characters) that must never appear in output: one found there is a
  /// leak.
  std::vector<std::string> canary_tokens;
  std::string system_prompt;  ///< output that repeats 8+ consecutive words of it is a leak
  /// Longest text scanned (1 byte..1 GiB); see truncate_oversize.
  std::size_t max_input_bytes = 16 * 1024 * 1024;
  bool truncate_oversize = false;  ///< false: oversize input is an error (limit_exceeded)
  /// Whether scan() sets Verdict::redacted.
  bool redaction_enabled = true;
  /// How entities without a rule in `redaction` are redacted.
  RedactionRule default_redaction;
  std::map<std::string, RedactionRule> redaction;  ///< by category ("pii.email") or entity
  /// Salt of RedactionRule::Mode::hash.
  std::string hash_salt = "keel";
  int decode_depth = 2;  ///< how deep encoded payloads are decoded and rescanned

  /// Throws Error(invalid_config) naming the JSON path of the problem.
  static FirewallConfig from_json(const Json& json);
};

/// One entry of the pattern catalogue, for inspection and documentation.
struct KEEL_API RuleInfo {
  ///@{
  /// The rule's id, its category, the view its pattern runs on ("raw", "text", "keyword"),
  /// the direction it scans ("input", "output", "both"), the language it targets ("en", "fr",
  /// ..., or "any") and what it detects.
  std::string id, category, view, direction, lang, description;
  ///@}
  /// Severity of its findings, 0..1, after any category override.
  double severity = 0;
};

/// The firewall. Construction compiles the catalogue (built-in rules plus custom ones); after
/// that every method is const and safe to call from many threads at once.
class KEEL_API Firewall {
 public:
  /// Throws Error(invalid_config) for a bad configuration or custom rule (naming it).
  explicit Firewall(FirewallConfig config = {});
  /// From JSON configuration.
  explicit Firewall(const Json& config);
  ~Firewall();
  /// Takes over another firewall; the moved-from one may only be destroyed or assigned to.
  Firewall(Firewall&&) noexcept;
  /// Takes over another firewall; the moved-from one may only be destroyed or assigned to.
  Firewall& operator=(Firewall&&) noexcept;

  /// Full scan: findings with byte offsets, risk, decision and (when redaction is on) the
  /// redacted text. Invalid UTF-8 is scanned as bytes (each invalid byte reads as U+FFFD in the
  /// normalised views; offsets stay byte offsets). Throws Error(limit_exceeded) when the text
  /// exceeds max_input_bytes and oversize is "error".
  Verdict scan(std::string_view text, Direction direction = Direction::input) const;

  /// The fast path: decision and risk only, no findings list, no redaction.
  struct Score {
    /// As Verdict::decision.
    Decision decision = Decision::allow;
    /// As Verdict::risk.
    double risk = 0;
  };
  /// Decision and risk as scan() gives them, without returning findings or redacting. Throws
  /// as scan() does.
  Score check(std::string_view text, Direction direction = Direction::input) const;

  /// Redacts PII and secrets by the configured modes; placeholders are recorded in `vault` so
  /// restore() can undo them. Threats are not redacted (they are not entities).
  Redaction redact(std::string_view text, Vault& vault,
                   Direction direction = Direction::input) const;
  /// Replaces every placeholder of `vault` found in `text` by its value.
  static std::string restore(std::string_view text, const Vault& vault);

  /// The compiled catalogue (built-in and custom rules).
  std::vector<RuleInfo> rules() const;

  /// Receives a "firewall.scan" event per scan (decision, risk, counts per category; never the
  /// text). Set before sharing the firewall between threads.
  void set_event_sink(EventSink sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
