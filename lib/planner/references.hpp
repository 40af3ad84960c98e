// Internal: references to earlier tasks' outputs inside a plan's arguments.
//   "$t1"            the whole output of t1 (when the whole string is the reference, the value
//                    keeps its JSON type)
//   "${t1.a.0.b}"    the value at a path: object keys, and array indexes as numbers
// Inside a longer string a reference is replaced by the value's text (a string as is, anything
// else as JSON). A bare "$name" is a reference only when `name` is a task of the plan (so "$5"
// or "$HOME" in ordinary text stay text); "${...}" always is, and an unknown task there is an
// error.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "keel/json.hpp"

namespace keel::planner {

struct Reference {
  std::size_t start = 0, end = 0;  // byte span in the string, "$" to the end
  std::string task;
  std::vector<std::string> path;
  bool braced = false;
};

/// The references in `text`; `is_task` says which bare names are tasks.
std::vector<Reference> find_references(std::string_view text,
                                       const std::function<bool(std::string_view)>& is_task);

/// Every reference inside a JSON value's strings, in order.
void collect_references(const Json& value, const std::function<bool(std::string_view)>& is_task,
                        std::vector<Reference>& out);

/// The value a reference points at in `output`; throws Error(invalid_argument) naming what is
/// missing ("t1's output has no \"hits\"").
const Json& resolve(const Reference& reference, const Json& output);

/// `value` with every reference replaced from `outputs` (task id -> output). Throws
/// Error(invalid_argument) for a path that does not exist.
Json substitute(const Json& value, const std::map<std::string, Json, std::less<>>& outputs,
                const std::function<bool(std::string_view)>& is_task);

}  // namespace keel::planner
