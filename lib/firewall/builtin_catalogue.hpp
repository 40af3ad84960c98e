// Internal: the built-in catalogue as keel_compile_catalogue writes it into the library at build
// time (from lib/firewall/rules/*.json): the rules without their examples, the prefilter's
// tables and the ROT13 gate's. Nothing here is parsed or compiled when a process starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "firewall/prefilter.hpp"

namespace keel::firewall::builtin {

/// A piece of `text`. Offsets rather than pointers: the tables need no relocation when the
/// library is loaded, and stay in read-only pages every process shares.
struct TextRef {
  std::uint32_t offset;
  std::uint32_t size;
};

/// A rule's fields as written in the catalogue, defaults applied.
struct CatalogueRule {
  TextRef id;
  TextRef category;
  TextRef lang;
  TextRef description;
  TextRef pattern;
  TextRef view;
  TextRef direction;
  TextRef validator;
  double severity;
};

/// Every rule's text, one after another.
extern const char text[];
extern const CatalogueRule rules[];
inline std::string_view text_of(TextRef ref) { return {text + ref.offset, ref.size}; }
extern const std::size_t rule_count;
/// Groups are views (raw 0, text 1, keyword 2).
extern const PrefilterTables prefilter;
/// The automaton of rot13_gate_words (firewall/rot13_gate.hpp).
extern const AtomTables rot13_gate;

}  // namespace keel::firewall::builtin
