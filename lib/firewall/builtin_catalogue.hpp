// Internal: the built-in catalogue as keel_compile_catalogue writes it into the library at build
// time (from lib/firewall/rules/*.json): the rules without their examples, and the prefilter's
// tables. Nothing here is parsed or compiled when a process starts.
#pragma once

#include <cstddef>
#include <string_view>

#include "firewall/prefilter.hpp"

namespace keel::firewall::builtin {

/// A rule's fields as written in the catalogue, defaults applied.
struct CatalogueRule {
  std::string_view id;
  std::string_view category;
  std::string_view lang;
  std::string_view description;
  std::string_view pattern;
  std::string_view view;
  std::string_view direction;
  std::string_view validator;
  double severity;
};

extern const CatalogueRule rules[];
extern const std::size_t rule_count;
/// Groups are views (raw 0, text 1, keyword 2).
extern const PrefilterTables prefilter;

}  // namespace keel::firewall::builtin
