// Internal: checking plans, whole (validate_plan) or one task at a time as a streamed plan
// arrives (check_task with the ids known so far).
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "keel/planner.hpp"

namespace keel {

/// Every issue of a plan (see Planner::validate).
std::vector<PlanIssue> validate_plan(const Plan& plan, const ToolRegistry& tools, bool has_model = true);

namespace planner {

/// The issues of task `index` alone: its id, tool, arguments, and dependencies and references
/// among the tasks `known_before` accepts.
std::vector<PlanIssue> check_task(const Plan& plan, std::size_t index, const ToolRegistry& tools,
                                  const std::function<bool(std::string_view)>& known_before,
                                  bool has_model = true);

}  // namespace planner
}  // namespace keel
