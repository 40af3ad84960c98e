#include "firewall/scorer.hpp"

#include <algorithm>
#include <map>

#include "firewall/catalogue.hpp"

namespace keel::firewall {

namespace {

// When entities of different categories overlap, the more specific (validated) one wins: a card
// number is not also a phone number.
int entity_priority(std::string_view category) {
  static const std::map<std::string_view, int> order = {
      {"pii.credit_card", 90},   {"pii.iban", 85},          {"pii.us_ssn", 80},
      {"pii.us_bank_routing", 75}, {"pii.crypto_wallet", 70}, {"pii.url_credentials", 65},
      {"pii.email", 60},         {"pii.ip_address", 55},    {"pii.mac_address", 50},
      {"pii.uk_nino", 45},       {"pii.passport", 40},      {"pii.date_of_birth", 35},
      {"pii.phone", 10},
  };
  // A named secret type says more than a generic "password=..." assignment around it.
  if (category == "secret.generic_password") return 95;
  if (category.starts_with("secret.")) return 100;
  auto it = order.find(category);
  return it == order.end() ? 20 : it->second;
}

}  // namespace

Decision decide(double risk, const Thresholds& thresholds) noexcept {
  if (risk >= thresholds.block) return Decision::block;
  if (risk >= thresholds.flag) return Decision::flag;
  return Decision::allow;
}

void consolidate(std::vector<Finding>& findings) {
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.category != b.category) return a.category < b.category;
    if (a.start != b.start) return a.start < b.start;
    return a.end > b.end;
  });
  // Same category, overlapping spans: one finding over their union, at the highest severity.
  std::vector<Finding> merged;
  merged.reserve(findings.size());
  for (auto& f : findings) {
    if (!merged.empty() && merged.back().category == f.category && f.start < merged.back().end) {
      Finding& into = merged.back();
      into.end = std::max(into.end, f.end);
      if (f.severity > into.severity) {
        into.severity = f.severity;
        into.rule = std::move(f.rule);
        into.encoding = std::move(f.encoding);
      }
      continue;
    }
    merged.push_back(std::move(f));
  }
  // Different entity categories over the same text: keep the more specific one. A sweep in
  // start order compares each entity only with those that begin before it ends.
  std::vector<std::size_t> entities;
  for (std::size_t i = 0; i < merged.size(); ++i) {
    if (is_entity_category(merged[i].category)) entities.push_back(i);
  }
  std::sort(entities.begin(), entities.end(),
            [&](std::size_t a, std::size_t b) { return merged[a].start < merged[b].start; });
  std::vector<bool> dropped(merged.size(), false);
  for (std::size_t x = 0; x < entities.size(); ++x) {
    const std::size_t i = entities[x];
    for (std::size_t y = x + 1; y < entities.size() && merged[entities[y]].start < merged[i].end;
         ++y) {
      const std::size_t j = entities[y];
      if (dropped[i]) break;
      if (dropped[j] || merged[i].category == merged[j].category) continue;
      int pi = entity_priority(merged[i].category), pj = entity_priority(merged[j].category);
      if (pi >= pj) dropped[j] = true;
      else dropped[i] = true;
    }
  }
  findings.clear();
  for (std::size_t i = 0; i < merged.size(); ++i) {
    if (!dropped[i]) findings.push_back(std::move(merged[i]));
  }
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.end != b.end) return a.end < b.end;
    return a.category < b.category;
  });
}

double combined_risk(const std::vector<Finding>& findings) {
  double keep = 1.0;
  for (const auto& f : findings) keep *= 1.0 - std::clamp(f.severity, 0.0, 1.0);
  return 1.0 - keep;
}

Firewall::Score score(const std::vector<Finding>& findings, const FirewallConfig& config,
                      Direction direction) {
  Thresholds base = config.thresholds;
  if (direction == Direction::input && config.input_thresholds) base = *config.input_thresholds;
  if (direction == Direction::output && config.output_thresholds) base = *config.output_thresholds;

  double shared_keep = 1.0;
  std::map<std::string_view, double> own_keep;  // categories decided on their own thresholds
  for (const auto& f : findings) {
    double s = std::clamp(f.severity, 0.0, 1.0);
    auto it = config.categories.find(f.category);
    if (it != config.categories.end() && it->second.thresholds) {
      auto [entry, inserted] = own_keep.try_emplace(f.category, 1.0);
      entry->second *= 1.0 - s;
    } else {
      shared_keep *= 1.0 - s;
    }
  }
  Firewall::Score result;
  result.risk = combined_risk(findings);
  result.decision = decide(1.0 - shared_keep, base);
  for (const auto& [category, keep] : own_keep) {
    const auto& thresholds = *config.categories.at(std::string(category)).thresholds;
    result.decision = std::max(result.decision, decide(1.0 - keep, thresholds));
  }
  return result;
}

}  // namespace keel::firewall
