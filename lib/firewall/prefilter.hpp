// Internal: a literal prefilter for the catalogue. Most rules need some words to be present
// before they can match ("ignore" or "disregard", then "instructions" or "rules"); one pass of
// an Aho-Corasick automaton over the text says which of those words are there, and only the
// rules whose words all are need to run. For the built-in catalogue the requirements and the
// automata are worked out when keel is built (keel_compile_catalogue) and compiled into the
// library, so a firewall starts without parsing or compiling anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::firewall {

/// What any match of a pattern must contain: every clause has at least one of its atoms as a
/// substring of the match. Atoms are ASCII-lowercased, spell every digit '0' and a line break
/// ' ' (the scanner folds case, digits, and line breaks into spaces, which can only find more).
/// No clauses: the pattern must always run.
struct Requirement {
  std::vector<std::vector<std::string>> clauses;
};

inline constexpr std::size_t max_clauses = 4;

/// The byte ranges of a pattern's top-level alternatives ("a|b(c|d)" -> "a", "b(c|d)"), each a
/// pattern of its own: a text matches the pattern if and only if it matches one of them. The
/// whole pattern when it has one, uses syntax the analysis does not model, or sets flags at the
/// top level ("(?i)a|b": "b" alone would lose them).
std::vector<std::pair<std::size_t, std::size_t>> alternatives(std::string_view pattern);

/// What whitespace the texts a pattern runs on can hold: any, or (the firewall's text and
/// keyword views) only single spaces and line breaks, never two next to each other, so that
/// "\s" and "\s+" there are " " or "\n".
enum class Whitespace : std::uint8_t { any, collapsed };

/// Derives the requirement of an RE2 pattern. Sound by construction: syntax the analysis does
/// not model weakens the requirement (down to none), never strengthens it. Keeps at most
/// `max_clauses`, the most selective ones.
Requirement required_atoms(std::string_view pattern, Whitespace whitespace = Whitespace::any);

/// An Aho-Corasick automaton's arrays: built at run time (owned by an AtomScanner) or compiled
/// into the library. The shallow states, which most of a text's bytes visit, have full rows of
/// transitions; every deeper state keeps only its children in the trie and its failure link (a
/// transition it has no child for is its failure link's), which takes a twentieth of the room.
/// A first scan then reads a few pages of the tables instead of one for every byte of a word.
struct AtomTables {
  std::uint32_t classes = 0;
  std::uint32_t states = 0;
  std::uint32_t dense_states = 0;               // states [0, dense_states) have full rows
  const std::uint8_t* byte_class = nullptr;     // 256 entries
  const std::uint16_t* table = nullptr;         // dense_states * classes: next state | reports
  const std::uint32_t* sparse = nullptr;        // per deeper state, and one past the last:
                                                // first child edge << 16 | failure link
  const std::uint32_t* edges = nullptr;         // class << 16 | next state | reports
  const std::uint32_t* output_begin = nullptr;  // states + 1, into outputs
  const std::uint32_t* outputs = nullptr;       // atom indices
};

/// Finds atoms in text with about one table lookup per byte. Matching folds ASCII case and
/// treats every digit alike, and a line break as a space.
class AtomScanner {
 public:
  static constexpr std::uint16_t reports = 0x8000;  // in a transition: the state reports atoms
  static constexpr std::size_t max_states = 0x7FFF;

  AtomScanner() = default;
  /// Builds the automaton. With more states than max_states it stays incomplete().
  explicit AtomScanner(const std::vector<std::string>& atoms);
  /// Over arrays that outlive the scanner (compiled into the library).
  explicit AtomScanner(const AtomTables& tables) : t_(tables) {}
  AtomScanner(AtomScanner&&) = default;
  AtomScanner& operator=(AtomScanner&&) = default;
  AtomScanner(const AtomScanner&) = delete;
  AtomScanner& operator=(const AtomScanner&) = delete;

  /// False when the atoms needed more than max_states states: the scanner then reports
  /// nothing, and its caller must treat every rule as a candidate.
  bool complete() const noexcept { return complete_; }
  const AtomTables& tables() const noexcept { return t_; }

  /// The transition from `state` on `byte`: the next state, with `reports` set when it reports
  /// atoms. (State 0 is the root; the automaton must have states.)
  std::uint16_t next(std::uint32_t state, unsigned char byte) const noexcept {
    return step(state, t_.byte_class[byte]);
  }

  /// Whether `text` holds any of the atoms.
  bool finds_any(std::string_view text) const {
    if (t_.states == 0) return false;
    std::uint32_t state = 0;
    for (unsigned char byte : text) {
      std::uint16_t entry = next(state, byte);
      if (entry & reports) return true;
      state = entry;
    }
    return false;
  }

  /// Calls `found(atom)` for every atom occurrence in `text`.
  template <class Found>
  void scan(std::string_view text, Found&& found) const {
    if (t_.states == 0) return;
    std::uint32_t state = 0;
    for (unsigned char byte : text) {
      std::uint16_t entry = next(state, byte);
      state = entry & ~reports;
      if (entry & reports) {
        for (std::uint32_t k = t_.output_begin[state]; k < t_.output_begin[state + 1]; ++k) {
          found(t_.outputs[k]);
        }
      }
    }
  }

 private:
  std::uint16_t step(std::uint32_t state, std::uint32_t cls) const noexcept {
    // A deeper state: its child on the class, or else its failure link's transition; the links
    // lead up to a shallow state, whose row has every transition.
    while (state >= t_.dense_states) {
      const std::uint32_t* record = t_.sparse + (state - t_.dense_states);
      for (std::uint32_t e = record[0] >> 16, end = record[1] >> 16; e < end; ++e) {
        if ((t_.edges[e] >> 16) == cls) return static_cast<std::uint16_t>(t_.edges[e]);
      }
      state = record[0] & 0xFFFF;
    }
    return t_.table[state * t_.classes + cls];
  }

  AtomTables t_;
  bool complete_ = true;
  std::vector<std::uint8_t> byte_class_;
  std::vector<std::uint16_t> table_;
  std::vector<std::uint32_t> sparse_, edges_;
  std::vector<std::uint32_t> output_begin_;
  std::vector<std::uint32_t> outputs_;
};

/// The prefilter works on units: a rule's top-level alternatives (or the whole rule). A rule
/// with several alternatives is checked one alternative at a time, so only the alternatives
/// whose atoms are in a text need compiling. Units fall in groups (the firewall's views); each
/// group has its own automaton.
inline constexpr int prefilter_groups = 3;
/// The whitespace of each group's texts: the firewall's raw view holds any; its text and keyword
/// views collapse every run of whitespace into one space or line break (normaliser.hpp).
inline constexpr Whitespace group_whitespace[prefilter_groups] = {Whitespace::any, Whitespace::collapsed,
                                                                  Whitespace::collapsed};

struct PrefilterUnit {
  std::uint32_t rule = 0;
  std::uint32_t begin = 0, end = 0;  // the alternative's bytes in the rule's pattern
  std::uint8_t group = 0;
  Requirement requirement;
};

/// Appends the units of rule `rule` (its top-level alternatives, each with its requirement).
void add_units(std::uint32_t rule, std::string_view pattern, std::uint8_t group, std::vector<PrefilterUnit>& out);

/// A prefilter's arrays, as built or compiled into the library.
struct PrefilterTables {
  std::uint32_t units = 0;
  const std::uint32_t* unit_rule = nullptr;     // per unit, in rule order
  const std::uint32_t* unit_begin = nullptr;    // per unit
  const std::uint32_t* unit_end = nullptr;      // per unit
  const std::uint8_t* group = nullptr;          // per unit
  const std::uint8_t* clause_count = nullptr;   // per unit; 0: the unit always runs
  struct Group {
    AtomTables atoms;
    std::uint32_t atom_count = 0;
    const std::uint32_t* entry_begin = nullptr;  // atom_count + 1, into entries
    const std::uint32_t* entries = nullptr;      // unit * max_clauses + clause
  } groups[prefilter_groups];
};

/// Which units of a group may match a text.
class Prefilter {
 public:
  /// From units in rule order (custom rules, and keel_compile_catalogue).
  explicit Prefilter(const std::vector<PrefilterUnit>& units);
  /// Over tables compiled into the library.
  explicit Prefilter(const PrefilterTables& tables);
  Prefilter(const Prefilter&) = delete;
  Prefilter& operator=(const Prefilter&) = delete;

  /// Appends, in unit order, the units of `group` that may match `text`: those whose clauses
  /// all have an atom in it, and those without a requirement.
  void candidates(int group, std::string_view text, std::vector<std::uint32_t>& out) const;

  /// The arrays (pointing into this object when it was built at run time).
  const PrefilterTables& tables() const noexcept { return t_; }

 private:
  void index_units();

  PrefilterTables t_;
  std::vector<AtomScanner> scanners_;  // one per group
  std::vector<std::uint32_t> always_[prefilter_groups];
  // Storage when built at run time.
  std::vector<std::uint32_t> unit_rule_, unit_begin_, unit_end_;
  std::vector<std::uint8_t> group_, clause_count_;
  std::vector<std::uint32_t> entry_begin_[prefilter_groups], entries_[prefilter_groups];
};

}  // namespace keel::firewall
