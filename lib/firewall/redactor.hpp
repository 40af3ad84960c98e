// Internal: replaces entity findings (PII, secrets) in a text by the configured mode.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "keel/firewall.hpp"

namespace keel::firewall {

/// The redaction rule for a category: by category ("pii.email"), by entity ("EMAIL"), else the
/// default.
const RedactionRule& redaction_rule_for(const FirewallConfig& config, std::string_view category);

/// `text` with every entity finding replaced; `findings` must be consolidated (no overlaps
/// between entities) and sorted by start. Placeholders are issued by `vault`.
std::string redact_text(std::string_view text, const std::vector<Finding>& findings,
                        const FirewallConfig& config, Vault& vault);

}  // namespace keel::firewall
