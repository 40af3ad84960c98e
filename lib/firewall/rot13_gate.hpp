// Internal: the words of the ROT13 gate. A text's ROT13 pass runs only when its keyword view
// holds the ROT13 of the stem of an attack word (ignore, instruct, system, prompt, password,
// reveal, rules, previous, forget... in the six languages): one automaton pass in front of a
// full pass of the rules. keel_compile_catalogue builds the automaton into the library.
#pragma once

#include <array>
#include <string_view>

namespace keel::firewall {

inline constexpr std::array<std::string_view, 30> rot13_gate_words = {
    "bhoyvr", "byivqn", "cebzcg", "cergraq", "cerivbhf", "cerprqrag", "cnffjbeg", "cnffjbeq",
    "ehyrf", "erirny", "ertbyr", "ertenf", "ertrya", "ertynf", "ertyrf", "flfgrz",
    "frperg", "ibeurevt", "iretvff", "nagrevbe", "najrvfhat", "pbagenfr", "qvfertneq", "qvzragvpn",
    "rfdhrpn", "sbetrg", "vafgehp", "vfgehmvba", "vtabe", "wnvyoernx"};

}  // namespace keel::firewall
