// Fuzzes plans as a model may write them: any bytes are parsed as a plan, validated, and a
// valid one (of at most 64 tasks) is run with no-op tools; the streamed-plan scanner is fed the
// same bytes in pieces. A plan is refused with a keel::Error or issues, or it runs to a result
// in which every task is settled; anything else (another exception, a crash, a hang, a
// sanitizer report) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keel/planner.hpp"
#include "planner/planner_impl.hpp"

namespace {

using namespace keel;

const Planner& shared_planner() {
  static const Planner instance = [] {
    ToolRegistry tools;
    for (const char* name : {"a", "b", "c"}) {
      tools.add(Tool::asynchronous({name, "no-op", Json{{"type", "object"}}},
                                   [](Json args, ToolContext, Callback<Json> done) { done(std::move(args)); }));
    }
    tools.add(Tool::asynchronous({"strict", "typed", Json::parse(R"({"type": "object",
        "properties": {"n": {"type": "integer"}}, "required": ["n"]})")},
                                 [](Json args, ToolContext, Callback<Json> done) { done(std::move(args)); }));
    PlannerConfig config;
    config.failure_policy = FailurePolicy::continue_all;
    config.task_timeout = std::chrono::milliseconds(2000);
    return Planner(config, nullptr, tools);
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  planner::TaskStream stream;
  for (std::size_t at = 0; at < text.size(); at += 7) (void)stream.feed(std::string_view(text).substr(at, 7));
  try {
    Json json = parse_json(text, "plan");
    Plan plan = Plan::from_json(json);
    auto issues = shared_planner().validate(plan);
    if (issues.empty() && plan.tasks.size() <= 64) {
      PlanRunOptions options;
      options.deadline = Deadline::after(std::chrono::seconds(10));
      PlanRun run = shared_planner().run(plan, options);
      for (const auto& task : run.tasks) {
        if (task.status == "pending" || task.status == "running") std::abort();
      }
      (void)dump_json(run.to_json());
    }
  } catch (const Error&) {
    // Not JSON, or not shaped like a plan: refused with a clear error, as it should be.
  }
  return 0;
}
