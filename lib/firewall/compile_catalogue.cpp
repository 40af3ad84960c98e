// keel_compile_catalogue: turns the firewall's catalogue (lib/firewall/rules/*.json) into C++,
// the rules without their examples, the prefilter's requirements and automata, and the ROT13
// gate's automaton, so that a firewall starts without parsing JSON, analysing patterns or
// building automata. Run by the build; the defaults it applies are those of parse_rule (a unit
// test compares the two).
//   keel_compile_catalogue <output.cpp> <catalogue.json>...
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "firewall/prefilter.hpp"
#include "firewall/rot13_gate.hpp"

using keel::firewall::AtomScanner;
using keel::firewall::AtomTables;
using keel::firewall::Prefilter;
using keel::firewall::PrefilterTables;
using keel::firewall::PrefilterUnit;

namespace {

struct Entry {
  std::string id, category, lang, description, pattern, view, direction, validator;
  double severity = 0.7;
};

template <class T>
std::string array(std::ostream& out, const char* type, const std::string& name, const T* data, std::size_t n) {
  if (n == 0 || !data) return "nullptr";
  out << "const " << type << " " << name << "[] = {";
  for (std::size_t i = 0; i < n; ++i) {
    out << (i % 24 == 0 ? "\n    " : " ") << static_cast<unsigned long>(data[i]) << ',';
  }
  out << "};\n";
  return name;
}

// Writes an automaton's arrays (named with `prefix`) and returns its AtomTables initializer.
std::string atom_tables(std::ostream& out, const std::string& prefix, const AtomTables& at) {
  std::string byte_class = array(out, "std::uint8_t", prefix + "byte_class", at.byte_class, at.states ? 256 : 0);
  std::string table =
      array(out, "std::uint16_t", prefix + "table", at.table, std::size_t{at.dense_states} * at.classes);
  const std::size_t sparse_count = at.states ? at.states - at.dense_states + 1 : 0;
  std::string sparse = array(out, "std::uint32_t", prefix + "sparse", at.sparse, sparse_count);
  std::string edges =
      array(out, "std::uint32_t", prefix + "edges", at.edges, sparse_count ? at.sparse[sparse_count - 1] >> 16 : 0);
  std::string output_begin =
      array(out, "std::uint32_t", prefix + "output_begin", at.output_begin, at.states ? at.states + 1 : 0);
  std::string outputs =
      array(out, "std::uint32_t", prefix + "outputs", at.outputs, at.states ? at.output_begin[at.states] : 0);
  return "{" + std::to_string(at.classes) + ", " + std::to_string(at.states) + ", " + std::to_string(at.dense_states) +
         ", " + byte_class + ", " + table + ", " + sparse + ", " + edges + ", " + output_begin + ", " + outputs + "}";
}

int group_of(const std::string& view) {
  if (view == "raw") return 0;
  if (view == "text") return 1;
  if (view == "keyword") return 2;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: keel_compile_catalogue <output.cpp> <catalogue.json>...\n";
    return 2;
  }
  std::vector<Entry> entries;
  std::vector<PrefilterUnit> units;
  std::set<std::string> ids;  // (builtin_rules() counts on them being unique)
  std::string sources;
  for (int a = 2; a < argc; ++a) {
    std::ifstream in(argv[a], std::ios::binary);
    if (!in) {
      std::cerr << "keel_compile_catalogue: cannot read " << argv[a] << "\n";
      return 1;
    }
    std::string name = argv[a];
    sources += (sources.empty() ? "" : ", ") + name.substr(name.find_last_of('/') + 1);
    try {
      nlohmann::json doc = nlohmann::json::parse(in);
      for (const auto& rule : doc.at("rules")) {
        Entry e;
        e.id = rule.at("id").get<std::string>();
        e.category = rule.value("category", "threat.custom");
        e.lang = rule.value("lang", "any");
        e.description = rule.value("description", "");
        e.pattern = rule.at("pattern").get<std::string>();
        e.view = rule.value("view", "text");
        e.direction = rule.value("direction", "both");
        e.validator = rule.value("validator", "");
        e.severity = rule.value("severity", 0.7);
        if (!ids.insert(e.id).second) {
          std::cerr << "keel_compile_catalogue: " << name << ": rule " << e.id << ": duplicate id\n";
          return 1;
        }
        int group = group_of(e.view);
        if (group < 0) {
          std::cerr << "keel_compile_catalogue: " << name << ": rule " << e.id << ": unknown view " << e.view << "\n";
          return 1;
        }
        keel::firewall::add_units(static_cast<std::uint32_t>(entries.size()), e.pattern,
                                  static_cast<std::uint8_t>(group), units);
        entries.push_back(std::move(e));
      }
    } catch (const std::exception& error) {
      std::cerr << "keel_compile_catalogue: " << name << ": " << error.what() << "\n";
      return 1;
    }
  }
  Prefilter prefilter(units);
  const PrefilterTables& t = prefilter.tables();

  // Every string in one array of bytes (a single literal that long would be beyond what ISO C++
  // asks compilers to take), the rules as offsets into it.
  std::string text;
  auto ref = [&](const std::string& s) {
    std::string r = "{" + std::to_string(text.size()) + ", " + std::to_string(s.size()) + "}";
    text += s;
    return r;
  };
  std::ostringstream rules;
  for (const auto& e : entries) {
    char severity[32];
    std::snprintf(severity, sizeof severity, "%.17g", e.severity);
    rules << "    {" << ref(e.id) << ", " << ref(e.category) << ", " << ref(e.lang) << ", " << ref(e.description)
          << ", " << ref(e.pattern) << ", " << ref(e.view) << ", " << ref(e.direction) << ", " << ref(e.validator)
          << ", " << severity << "},\n";
  }
  std::ostringstream out;
  out << "// Generated by keel_compile_catalogue from " << sources << "; do not edit.\n"
      << "#include <cstdint>\n\n#include \"firewall/builtin_catalogue.hpp\"\n\n"
      << "namespace keel::firewall::builtin {\n\nconstinit const char text[] = {";
  for (std::size_t i = 0; i < text.size(); ++i) {
    out << (i % 24 == 0 ? "\n    " : " ") << static_cast<int>(static_cast<signed char>(text[i])) << ',';
  }
  out << "0};\n\nconstinit const CatalogueRule rules[] = {\n" << rules.str();
  out << "};\nconst std::size_t rule_count = " << entries.size() << ";\n\nnamespace {\n";
  std::string unit_rule = array(out, "std::uint32_t", "unit_rule", t.unit_rule, t.units);
  std::string unit_begin = array(out, "std::uint32_t", "unit_begin", t.unit_begin, t.units);
  std::string unit_end = array(out, "std::uint32_t", "unit_end", t.unit_end, t.units);
  std::string group = array(out, "std::uint8_t", "group", t.group, t.units);
  std::string clause_count = array(out, "std::uint8_t", "clause_count", t.clause_count, t.units);
  std::string groups_init;
  for (int g = 0; g < keel::firewall::prefilter_groups; ++g) {
    const auto& tg = t.groups[g];
    std::string p = "g" + std::to_string(g) + "_";
    std::string atoms = atom_tables(out, p, tg.atoms);
    std::string entry_begin = array(out, "std::uint32_t", p + "entry_begin", tg.entry_begin, tg.atom_count + 1);
    std::string entry_list = array(out, "std::uint32_t", p + "entries", tg.entries, tg.entry_begin[tg.atom_count]);
    groups_init += "     {" + atoms + ", " + std::to_string(tg.atom_count) + ", " + entry_begin + ", " + entry_list + "},\n";
  }
  AtomScanner gate(std::vector<std::string>(keel::firewall::rot13_gate_words.begin(), keel::firewall::rot13_gate_words.end()));
  std::string gate_init = atom_tables(out, "rot13_", gate.tables());
  out << "}  // namespace\n\nconstinit const PrefilterTables prefilter = {\n    " << t.units << ", " << unit_rule << ", "
      << unit_begin << ", " << unit_end << ", " << group << ", " << clause_count << ",\n    {\n" << groups_init
      << "    }};\n\nconstinit const AtomTables rot13_gate = " << gate_init
      << ";\n\n}  // namespace keel::firewall::builtin\n";

  std::ofstream file(argv[1], std::ios::binary | std::ios::trunc);
  file << out.str();
  file.close();
  if (!file) {
    std::cerr << "keel_compile_catalogue: cannot write " << argv[1] << "\n";
    std::remove(argv[1]);
    return 1;
  }
  return 0;
}
