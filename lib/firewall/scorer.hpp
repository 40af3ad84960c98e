// Internal: turns findings into risk and a decision. Overlapping findings of one category count
// once (the most severe); overlapping entities of different categories keep the more specific.
#pragma once

#include <vector>

#include "keel/firewall.hpp"

namespace keel::firewall {

/// Merges overlapping findings of a category, resolves overlapping entities, sorts by offset.
void consolidate(std::vector<Finding>& findings);

/// 1 - prod(1 - severity).
double combined_risk(const std::vector<Finding>& findings);

/// Risk and decision: categories with their own thresholds are decided alone; all others are
/// combined and decided on the direction's thresholds; the strictest decision wins.
Firewall::Score score(const std::vector<Finding>& findings, const FirewallConfig& config,
                      Direction direction);

Decision decide(double risk, const Thresholds& thresholds) noexcept;

}  // namespace keel::firewall
