// Internal: calling a tool whose arguments the caller has already checked against its schema.
// The agent and the planner check arguments themselves (to report violations their own way), so
// Tool::call_async's own check would run the same validation a second time.
#pragma once

#include "keel/tools.hpp"

namespace keel::detail {

/// Tool::call_async without the schema check: `arguments` must already conform.
void call_checked(const Tool& tool, Json arguments, ToolContext context, Callback<Json> done, Executor& executor);

}  // namespace keel::detail
