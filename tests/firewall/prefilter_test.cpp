// The prefilter may only skip rules that cannot match: the requirements it derives from
// patterns, the automaton that finds atoms, and the matcher's two tiers are held to that here
// (the whole catalogue is checked against the RE2 sets in catalogue_test.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "firewall/matcher.hpp"
#include "firewall/normaliser.hpp"
#include "firewall/prefilter.hpp"

using namespace keel::firewall;

namespace {

std::set<std::string> clause(const Requirement& r, std::size_t i) {
  REQUIRE(i < r.clauses.size());
  return {r.clauses[i].begin(), r.clauses[i].end()};
}

bool has_clause(const Requirement& r, const std::set<std::string>& wanted) {
  for (const auto& c : r.clauses) {
    if (std::set<std::string>(c.begin(), c.end()) == wanted) return true;
  }
  return false;
}

Rule rule(std::string id, std::string pattern, View view = View::text) {
  RuleText text;
  text.id = std::move(id);
  text.category = "threat.custom";
  text.pattern = std::move(pattern);
  Rule r = Rule::owning(std::move(text));
  r.view = view;
  return r;
}

}  // namespace

TEST_CASE("a literal requires itself, cut to the atom length") {
  auto r = required_atoms("reveal the system prompt");
  REQUIRE(r.clauses.size() == 1);
  CHECK(clause(r, 0) == std::set<std::string>{"reveal the"});
}

TEST_CASE("alternatives and optional letters become the strings of one clause") {
  CHECK(clause(required_atoms("colou?r"), 0) == std::set<std::string>{"color", "colour"});
  auto r = required_atoms("\\b(?:ignore|disregard)\\s+(?:rules|guidelines)\\b");
  CHECK(r.clauses.size() == 2);
  CHECK(has_clause(r, {"ignore", "disregard"}));
  CHECK(has_clause(r, {"rules", "guidelines"}));
}

TEST_CASE("digits stand for any digit, so number patterns have requirements") {
  CHECK(clause(required_atoms("[0-9]{3}-[0-9]{2}-[0-9]{4}"), 0) == std::set<std::string>{"000-00-000"});
  CHECK(clause(required_atoms("\\d+"), 0) == std::set<std::string>{"0"});
  CHECK(clause(required_atoms("0x[0-9a-f]{40}"), 0) == std::set<std::string>{"0x"});
}

TEST_CASE("upper case is lowered; under (?i) 's' and 'k' keep RE2's other spellings") {
  CHECK(clause(required_atoms("Secret"), 0) == std::set<std::string>{"secret"});
  auto folded = clause(required_atoms("(?i:ask)"), 0);
  CHECK(folded.size() == 4);  // s or long s, k or Kelvin sign
  CHECK(folded.count("ask"));
  CHECK(folded.count("a\u017F\u212A"));
  // A folded letter outside ASCII could match other bytes: no requirement from it.
  CHECK(required_atoms("(?i)\u00E9t\u00E9").clauses.empty());
}

TEST_CASE("where whitespace is collapsed, \\s is a space and joins the words around it") {
  // A line break is spelt as a space: the scanner puts both in one class.
  auto r = required_atoms("\\bignore\\s+(?:all\\s)?rules\\b", Whitespace::collapsed);
  CHECK(has_clause(r, {"ignore all", "ignore rul"}));
  CHECK(clause(required_atoms("a\\nb", Whitespace::collapsed), 0) == std::set<std::string>{"a b"});
  // Elsewhere \s could be any of six characters, and a run of them.
  auto any = required_atoms("\\bignore\\s+(?:all\\s)?rules\\b");
  CHECK(has_clause(any, {"ignore"}));
  CHECK(has_clause(any, {"rules"}));
  // The firewall's text and keyword views collapse whitespace; its raw view does not.
  CHECK(group_whitespace[0] == Whitespace::any);
  CHECK(group_whitespace[1] == Whitespace::collapsed);
  CHECK(group_whitespace[2] == Whitespace::collapsed);
}

TEST_CASE("two letters are an atom only as a whole, uncommon word") {
  // "dm" alone is in "admin"; "dm " is the word. "to " is in nearly any text.
  CHECK(required_atoms("dm").clauses.empty());
  CHECK(clause(required_atoms("\\bdm\\s", Whitespace::collapsed), 0) == std::set<std::string>{"dm "});
  CHECK(required_atoms("\\bto\\s", Whitespace::collapsed).clauses.empty());
  CHECK(required_atoms("\\s(?:dm|to)\\s", Whitespace::collapsed).clauses.empty());
  // One rare symbol is enough: a colon, say.
  CHECK(clause(required_atoms("[0-9a-f]{0,4}:[0-9a-f]{1,4}"), 0) == std::set<std::string>{":"});
}

TEST_CASE("patterns that need nothing in particular run on every text") {
  for (const char* pattern : {".*", "a|b", "\\w+\\s\\w+", "the", "(?:x|secret)", "[^a]{3}", "(?:abc)*"}) {
    INFO(pattern);
    CHECK(required_atoms(pattern).clauses.empty());
  }
}

TEST_CASE("syntax the analysis does not model gives no requirement, never a wrong one") {
  for (const char* pattern : {"\\Qsecret\\E", "(?=secret)", "\\101bc", "secret(", "secret)", "[secret", "\\",
                              "(?P<x", "\\x{zz}secret", "\\pN{3}secret"}) {
    INFO(pattern);
    auto r = required_atoms(pattern);
    // "\pN{3}secret" is understood (a class, then the word); the rest are not.
    if (std::string_view(pattern) == "\\pN{3}secret") {
      CHECK(has_clause(r, {"secret"}));
    } else {
      CHECK(r.clauses.empty());
    }
  }
}

TEST_CASE("a pattern splits into its top-level alternatives, each a pattern of its own") {
  auto parts = [](std::string_view pattern) {
    std::vector<std::string> out;
    for (auto [begin, end] : alternatives(pattern)) out.emplace_back(pattern.substr(begin, end - begin));
    return out;
  };
  CHECK(parts("ab|c(d|e)|[|]|\\|x") == std::vector<std::string>{"ab", "c(d|e)", "[|]", "\\|x"});
  CHECK(parts("a|") == std::vector<std::string>{"a", ""});
  CHECK(parts("plain") == std::vector<std::string>{"plain"});
  // Flags at the top level apply to the alternatives after them: no split.
  CHECK(parts("(?i)a|b") == std::vector<std::string>{"(?i)a|b"});
  CHECK(parts("(?i:a)|b") == std::vector<std::string>{"(?i:a)", "b"});
  // Syntax the analysis does not model: no split either.
  CHECK(parts("\\Qa|b\\E") == std::vector<std::string>{"\\Qa|b\\E"});
}

namespace {

// Whether the prefilter over `pattern` alone (a raw-view rule) names it for `text`.
bool named(std::string_view pattern, std::string_view text) {
  std::vector<PrefilterUnit> units;
  add_units(0, pattern, 0, units);
  Prefilter prefilter(units);
  std::vector<std::uint32_t> out;
  prefilter.candidates(0, text, out);
  return !out.empty();
}

}  // namespace

TEST_CASE("an alternation requires a clause of each side's clauses taken in pairs") {
  // (alpha and beta) or (gamma and delta) implies alpha-or-gamma, alpha-or-delta, beta-or-gamma
  // and beta-or-delta: a text with "alpha" and "delta" only matches neither side.
  const char* pattern = "x(?:alpha\\w+beta|gamma\\w+delta)";
  auto r = required_atoms(pattern);
  CHECK(r.clauses.size() == 4);
  for (const std::set<std::string>& c : std::vector<std::set<std::string>>{
           {"alpha", "gamma"}, {"alpha", "delta"}, {"beta", "gamma"}, {"beta", "delta"}}) {
    CHECK(has_clause(r, c));
  }
  CHECK_FALSE(named(pattern, "x alpha and delta"));
  CHECK(named(pattern, "xalpha1beta"));
  CHECK(named(pattern, "xgamma1delta"));
  // A side's clause implied by the other's makes the pairs holding it redundant.
  auto shared = required_atoms("(?:zephyr\\w+quartz|quartz\\w+jukebox)");
  CHECK(shared.clauses.size() == 2);
  CHECK(has_clause(shared, {"quartz"}));
  CHECK(has_clause(shared, {"zephyr", "jukebox"}));
}

TEST_CASE("clauses alike give way to one that spares other texts") {
  // Four clauses share "xylophone" and score higher than "cat or dog": the fifth, which
  // shares nothing with them, is kept in place of one of them.
  const char* pattern = "(?:xylophone|quartz)\\w(?:xylophone|zephyr)\\w(?:xylophone|jukebox)\\w(?:xylophone|wombat)\\w(?:cat|dog)";
  auto r = required_atoms(pattern);
  CHECK(r.clauses.size() == 4);
  CHECK(has_clause(r, {"cat", "dog"}));
  CHECK(has_clause(r, {"xylophone", "jukebox"}));
  CHECK_FALSE(named(pattern, "xylophone xylophone xylophone xylophone"));
  CHECK(named(pattern, "xylophone1xylophone2xylophone3xylophone4cat"));
}

TEST_CASE("deeply nested groups are not analysed") {
  std::string shallow = "secret", deep = "secret";
  for (int k = 0; k < 8; ++k) shallow = "(?:" + shallow + ")";
  for (int k = 0; k < 200; ++k) deep = "(?:" + deep + ")";
  CHECK(has_clause(required_atoms(shallow), {"secret"}));
  CHECK(required_atoms(deep).clauses.empty());
}

TEST_CASE("the automaton finds every occurrence of every atom, folding ASCII case, digits and line breaks") {
  std::mt19937 random(7);
  const std::string alphabet = "abcAB1 -\n";
  auto fold = [](std::string s) {
    for (auto& c : s) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c >= '0' && c <= '9') c = '0';
      if (c == '\n') c = ' ';
    }
    return s;
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> atoms;
    for (int a = 0; a < 12; ++a) {
      std::string atom;
      for (int k = 0, n = 1 + static_cast<int>(random() % 4); k < n; ++k) atom += alphabet[random() % alphabet.size()];
      atoms.push_back(fold(atom));
    }
    std::string text;
    for (int k = 0; k < 80; ++k) text += alphabet[random() % alphabet.size()];
    AtomScanner scanner(atoms);
    REQUIRE(scanner.complete());
    std::vector<std::uint32_t> seen;
    scanner.scan(text, [&](std::uint32_t atom) { seen.push_back(atom); });
    std::string folded = fold(text);
    std::multiset<std::uint32_t> brute;  // every occurrence, overlapping ones included
    for (std::uint32_t a = 0; a < atoms.size(); ++a) {
      for (std::size_t pos = folded.find(atoms[a]); pos != std::string::npos; pos = folded.find(atoms[a], pos + 1)) {
        brute.insert(a);
      }
    }
    CHECK(std::multiset<std::uint32_t>(seen.begin(), seen.end()) == brute);
  }
}

TEST_CASE("the automaton lays a word's deep states out together, and still finds long atoms") {
  // Shallow states breadth first, deeper ones depth first: past its second byte a word's walk
  // moves to the next state's record, not to one a whole breadth-first band away. The deeper
  // states keep only their children and failure links: the tables take a fraction of the room
  // full rows would.
  std::mt19937 random(11);
  std::vector<std::string> atoms;
  for (int a = 0; a < 300; ++a) {
    std::string atom;
    for (int k = 0, n = 6 + static_cast<int>(random() % 5); k < n; ++k) atom += static_cast<char>('a' + random() % 8);
    atoms.push_back(atom);
  }
  atoms.push_back("instructions");  // (no other atom begins with an "i")
  AtomScanner scanner(atoms);
  REQUIRE(scanner.complete());
  const AtomTables& t = scanner.tables();
  std::vector<std::uint32_t> walk;
  std::uint32_t state = 0;
  for (unsigned char c : std::string("instructions")) {
    state = scanner.next(state, c) & ~AtomScanner::reports;
    walk.push_back(state);
  }
  // walk[k]: the state after k + 1 bytes, at depth k + 1.
  for (std::size_t k = 3; k < walk.size(); ++k) CHECK(walk[k] == walk[k - 1] + 1);
  CHECK(walk[1] < t.dense_states);  // (a shallow state comes before every deep one)
  CHECK(walk[2] >= t.dense_states);
  CHECK(t.dense_states < t.states / 4);
  const std::size_t edges = t.sparse[t.states - t.dense_states] >> 16;
  CHECK(edges < t.states);  // (one per deep state's parent at most)
  const std::size_t bytes = t.dense_states * t.classes * 2 + (t.states - t.dense_states + 1) * 4 + edges * 4;
  CHECK(bytes * 3 < std::size_t{t.states} * t.classes * 2);

  // Every occurrence found, as in the short atoms' test above.
  for (int round = 0; round < 50; ++round) {
    std::string text;
    for (int k = 0; k < 400; ++k) text += static_cast<char>('a' + random() % 8);
    text += " instructions";
    std::multiset<std::uint32_t> seen, brute;
    scanner.scan(text, [&](std::uint32_t atom) { seen.insert(atom); });
    for (std::uint32_t a = 0; a < atoms.size(); ++a) {
      for (std::size_t pos = text.find(atoms[a]); pos != std::string::npos; pos = text.find(atoms[a], pos + 1)) brute.insert(a);
    }
    CHECK(seen == brute);
  }
}

TEST_CASE("bytes outside ASCII share classes: the automaton may report more, never less") {
  std::vector<std::string> atoms = {"gr\u00FC\u00DFe", "ma\u00F1ana"};
  AtomScanner scanner(atoms);
  std::vector<std::uint32_t> seen;
  scanner.scan("liebe gr\u00FC\u00DFe und hasta ma\u00F1ana", [&](std::uint32_t a) { seen.push_back(a); });
  CHECK(std::count(seen.begin(), seen.end(), 0u) == 1);
  CHECK(std::count(seen.begin(), seen.end(), 1u) == 1);
}

TEST_CASE("an automaton that would outgrow its 16-bit states says so") {
  std::vector<std::string> atoms;
  std::mt19937 random(3);
  for (int a = 0; a < 4000; ++a) {
    std::string atom;
    for (int k = 0; k < 12; ++k) atom += static_cast<char>('a' + random() % 26);
    atoms.push_back(atom);
  }
  AtomScanner scanner(atoms);
  CHECK_FALSE(scanner.complete());
  // A prefilter over such atoms runs every unit of the group instead.
  std::vector<PrefilterUnit> units;
  for (const auto& atom : atoms) {
    PrefilterUnit unit;
    unit.rule = static_cast<std::uint32_t>(units.size());
    unit.group = 1;
    unit.requirement = Requirement{{{atom}}};
    units.push_back(unit);
  }
  Prefilter prefilter(units);
  std::vector<std::uint32_t> out;
  prefilter.candidates(1, "nothing in particular", out);
  CHECK(out.size() == atoms.size());
}

TEST_CASE("custom rules get a prefilter of their own, with the same answers as the sets") {
  Matcher matcher({rule("a", "\\bsecret (?:plan|code)s?\\b"), rule("b", "(?i)drop\\s+table"),
                   rule("c", "[0-9]{4}-[0-9]{4}", View::raw), rule("d", "\\w+@\\w+", View::raw),
                   rule("e", "anything.*goes")});
  for (const char* text : {"the secret plans are here", "DROP   TABLE users", "call 1234-5678", "a@b",
                           "nothing to see", "secret codes and anything that goes", ""}) {
    Normalised normalised;
    normalise(text, normalised);  // (the text view, as the firewall gives it)
    for (View view : {View::raw, View::text}) {
      const std::string_view view_text = view == View::raw ? std::string_view(text) : normalised.text;
      std::vector<int> by_prefilter, by_sets;
      matcher.candidates(view, view_text, direction_both, by_prefilter, Matcher::Strategy::prefilter);
      matcher.candidates(view, view_text, direction_both, by_sets, Matcher::Strategy::sets);
      INFO(text);
      CHECK(by_prefilter == by_sets);
    }
  }
  std::vector<int> found;
  matcher.candidates(View::text, "my secret plan", direction_both, found, Matcher::Strategy::prefilter);
  CHECK(found == std::vector<int>{0});
}

TEST_CASE("a rule's spans from its alternatives are those of the whole pattern, values included") {
  // A value (capturing group) in the first alternative, in a later one only, in several;
  // alternatives that match at the same place (the first in the pattern wins), an empty one.
  Matcher matcher({rule("a", "key=([0-9]+)|id ([a-z]+)|#[0-9]+"), rule("b", "ab|a(b+)c|(?P<x>b)"),
                   rule("c", "token ([a-z]{3})|\\bx(?:y|z)|[(]q[)]"), rule("d", "aa|a|"),
                   rule("e", "(?i)ab|cd"), rule("f", "\\Q(a)\\E|b(c)")});
  for (const char* text : {"key=42 id abc #7 key=9", "abbc ab abc b", "token xyz xy xz (q) tokens",
                           "aaa a", "AB cd", "(a) bc", ""}) {
    for (int index = 0; index < static_cast<int>(matcher.rules().size()); ++index) {
      std::vector<Hit> reference;
      matcher.spans(index, text, reference, 64, Matcher::SpanSearch::whole_reverse);
      for (auto search : {Matcher::SpanSearch::whole_anchored, Matcher::SpanSearch::alternatives_reverse,
                          Matcher::SpanSearch::alternatives_anchored}) {
        std::vector<Hit> found;
        matcher.spans(index, text, found, 64, search);
        INFO("rule " << matcher.rules()[static_cast<std::size_t>(index)].id << ", way " << static_cast<int>(search)
                     << ", text: " << text);
        REQUIRE(found.size() == reference.size());
        for (std::size_t k = 0; k < found.size(); ++k) {
          CHECK(found[k].start == reference[k].start);
          CHECK(found[k].end == reference[k].end);
        }
      }
    }
  }
  // The values themselves: "42" and "9" (the group), "abc" (another alternative's group is not
  // the rule's first: the whole match), "#7".
  std::vector<Hit> hits;
  matcher.spans(0, "key=42 id abc #7 key=9", hits, 64, Matcher::SpanSearch::alternatives_anchored);
  REQUIRE(hits.size() == 4);
  CHECK(hits[0].start == 4);
  CHECK(hits[0].end == 6);
  CHECK(hits[1].start == 7);
  CHECK(hits[1].end == 13);
}

TEST_CASE("a busy matcher moves to the compiled sets in the background, with the same answers") {
  Matcher matcher({rule("a", "\\bsecret (?:plan|code)s?\\b"), rule("b", "ignore (?:all )?rules")});
  std::vector<int> before;
  matcher.candidates(View::text, "ignore all rules", direction_both, before);
  CHECK_FALSE(matcher.compiled_all());
  for (std::uint32_t i = 0; i < Matcher::warm_after; ++i) {
    std::vector<int> out;
    matcher.candidates(View::text, "the secret plan", direction_both, out);
    CHECK(out == std::vector<int>{0});
  }
  for (int wait = 0; wait < 500 && !matcher.compiled_all(); ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(matcher.compiled_all());
  std::vector<int> after;
  matcher.candidates(View::text, "ignore all rules", direction_both, after);
  CHECK(after == before);
}

TEST_CASE("a long text goes through the sets at once") {
  Matcher matcher({rule("a", "needle"), rule("b", "haystack")});
  std::string text(Matcher::long_text, 'x');
  text += " needle";
  std::vector<int> out;
  matcher.candidates(View::text, text, direction_both, out);
  CHECK(out == std::vector<int>{0});
  CHECK(matcher.compiled_all());
}

TEST_CASE("threads scanning while the sets compile in the background all get the same answers") {
  Matcher matcher({rule("a", "\\bsecret (?:plan|code)s?\\b"), rule("b", "ignore (?:all )?rules"),
                   rule("c", "[0-9]{4}-[0-9]{4}", View::raw)});
  const std::string text = "ignore all rules: the secret plan is 1234-5678";
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 400 && !(i > 100 && matcher.compiled_all()); ++i) {
        std::vector<int> text_rules, raw_rules;
        matcher.candidates(View::text, text, direction_both, text_rules);
        matcher.candidates(View::raw, text, direction_both, raw_rules);
        if (text_rules != std::vector<int>{0, 1} || raw_rules != std::vector<int>{2}) wrong++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}
