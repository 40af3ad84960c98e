// Plans and their validation; the planner's configuration and results as JSON.
#include <algorithm>
#include <functional>
#include <unordered_map>

#include "keel/planner.hpp"
#include "planner/plan_check.hpp"
#include "planner/references.hpp"
#include "tools/json_schema.hpp"

namespace keel {

namespace {

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Json PlanTask::to_json() const {
  Json out = {{"id", id}, {"tool", tool}, {"args", args}, {"deps", deps}};
  if (timeout) out["timeout_ms"] = timeout->count();
  return out;
}

Plan Plan::from_json(const Json& json) {
  Plan plan;
  try {
    ConfigReader r(json, "");
    const Json* tasks = r.raw("tasks");
    if (tasks == nullptr) throw_config_error("tasks", "required");
    if (!tasks->is_array()) throw_config_error("tasks", "expected array");
    for (std::size_t i = 0; i < tasks->size(); ++i) {
      ConfigReader t((*tasks)[i], json_path_index("tasks", i));
      PlanTask task;
      task.id = t.required<std::string>("id");
      task.tool = t.required<std::string>("tool");
      if (const Json* args = t.raw("args")) {
        if (!args->is_object()) throw_config_error(t.path_of("args"), "expected object");
        task.args = *args;
      }
      task.deps = t.optional<std::vector<std::string>>("deps", {});
      if (t.has("timeout_ms")) task.timeout = std::chrono::milliseconds(t.integer("timeout_ms", 0, 1, 7LL * 24 * 3600 * 1000));
      t.finish();
      plan.tasks.push_back(std::move(task));
    }
    r.finish();
  } catch (const Error& e) {
    throw Error(Errc::invalid_argument, std::string("plan: ") + (e.what()[0] == ':' ? e.what() + 2 : e.what()));
  }
  return plan;
}

Json Plan::to_json() const {
  Json list = Json::array();
  for (const auto& t : tasks) list.push_back(t.to_json());
  return {{"tasks", std::move(list)}};
}

std::ptrdiff_t Plan::find(std::string_view id) const {
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].id == id) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

std::vector<std::string> Plan::dependencies(std::size_t index) const {
  const PlanTask& task = tasks.at(index);
  std::vector<std::string> out;
  auto add = [&](const std::string& id) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  for (const auto& d : task.deps) add(d);
  std::vector<planner::Reference> refs;
  planner::collect_references(task.args, [this](std::string_view id) { return find(id) >= 0; }, refs);
  for (const auto& r : refs) add(r.task);
  return out;
}

std::string PlanIssue::to_string() const { return task.empty() ? problem : task + ": " + problem; }

std::string_view to_string(FailurePolicy policy) noexcept {
  switch (policy) {
    case FailurePolicy::fail_fast: return "fail_fast";
    case FailurePolicy::skip_dependents: return "skip_dependents";
    case FailurePolicy::continue_all: return "continue";
  }
  return "skip_dependents";
}

PlannerConfig PlannerConfig::from_json(const Json& json) {
  PlannerConfig config;
  ConfigReader r(json, "");
  config.max_parallel = static_cast<std::size_t>(r.integer("max_parallel", 8, 1, 4096));
  auto policy = r.choice("failure_policy", "skip_dependents", {"fail_fast", "skip_dependents", "continue"});
  config.failure_policy = policy == "fail_fast"   ? FailurePolicy::fail_fast
                          : policy == "continue" ? FailurePolicy::continue_all
                                                 : FailurePolicy::skip_dependents;
  config.task_timeout = std::chrono::milliseconds(r.integer("task_timeout_ms", 60000, 0, 7LL * 24 * 3600 * 1000));
  if (const Json* retry = r.raw("retry")) config.retry = RetryPolicy::from_json(*retry, r.path_of("retry"));
  if (const Json* breaker = r.raw("circuit_breaker")) {
    if (breaker->is_boolean()) {
      if (!breaker->get<bool>()) config.circuit_breaker.reset();
    } else {
      config.circuit_breaker = CircuitBreaker::Config::from_json(*breaker, r.path_of("circuit_breaker"));
    }
  }
  config.max_plan_attempts = static_cast<int>(r.integer("max_plan_attempts", 3, 1, 20));
  config.max_replans = static_cast<int>(r.integer("max_replans", 1, 0, 20));
  config.journal = r.optional<std::string>("journal", "");
  config.instructions = r.optional<std::string>("instructions", "");
  config.max_output_bytes = static_cast<std::size_t>(r.integer("max_output_bytes", 64 * 1024, 64, 1LL << 30));
  r.finish();
  return config;
}

Json PlannerConfig::to_json() const {
  Json out = {{"max_parallel", max_parallel},
              {"failure_policy", to_string(failure_policy)},
              {"task_timeout_ms", task_timeout.count()},
              {"retry", retry.to_json()},
              {"max_plan_attempts", max_plan_attempts},
              {"max_replans", max_replans},
              {"journal", journal},
              {"instructions", instructions},
              {"max_output_bytes", max_output_bytes}};
  out["circuit_breaker"] = circuit_breaker ? circuit_breaker->to_json() : Json(false);
  return out;
}

Json TaskOutcome::to_json() const {
  Json out = {{"id", id},           {"tool", tool},           {"status", status},
              {"output", output},   {"attempts", attempts},   {"started_us", started_us},
              {"finished_us", finished_us}, {"duration_us", duration_us}};
  if (!error.empty()) out["error"] = error;
  if (reloaded) out["reloaded"] = true;
  return out;
}

Json PlanRun::to_json() const {
  Json task_list = Json::array();
  for (const auto& t : tasks) task_list.push_back(t.to_json());
  Json plan_list = Json::array();
  for (const auto& p : plans) plan_list.push_back(p.to_json());
  Json out = {{"run_id", run_id},       {"status", status},         {"tasks", std::move(task_list)},
              {"plans", std::move(plan_list)}, {"replans", replans}, {"usage", usage.to_json()},
              {"duration_us", duration_us}};
  if (!answer.empty()) out["answer"] = answer;
  if (error) out["error"] = {{"code", keel::to_string(error->code())}, {"message", error->what()}};
  return out;
}

const TaskOutcome* PlanRun::task(std::string_view id) const {
  for (const auto& t : tasks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

namespace planner {

std::vector<PlanIssue> check_task(const Plan& plan, std::size_t index, const ToolRegistry& tools,
                                  const std::function<bool(std::string_view)>& known_before, bool has_model) {
  std::vector<PlanIssue> issues;
  const PlanTask& task = plan.tasks[index];
  auto issue = [&](std::string problem) { issues.push_back({task.id, std::move(problem)}); };
  if (!valid_id(task.id)) {
    issue("an id is 1 to 64 letters, digits, '_' or '-'");
  }
  const Tool* tool = nullptr;
  if (task.tool == "llm") {
    if (!task.args.contains("prompt") || !task.args["prompt"].is_string()) {
      issue("an llm task needs args.prompt, a string");
    }
    for (auto it = task.args.begin(); it != task.args.end(); ++it) {
      if (it.key() != "prompt") issue("an llm task takes only args.prompt, not \"" + it.key() + "\"");
    }
  } else if ((tool = tools.find(task.tool)) == nullptr) {
    std::string names;
    for (const auto& spec : tools.specs()) names += (names.empty() ? "" : ", ") + spec.name;
    issue("unknown tool \"" + task.tool + "\" (the tools are: " + (names.empty() ? "none" : names) +
          (has_model ? ", llm)" : ")"));
  }
  // Dependencies and references must name tasks of the plan (in a streamed plan: earlier ones).
  auto is_task = [&](std::string_view id) { return plan.find(id) >= 0; };
  for (const auto& d : task.deps) {
    if (d == task.id) {
      issue("depends on itself");
    } else if (!known_before(d)) {
      issue("depends on \"" + d + "\", which is not a task of the plan");
    }
  }
  std::vector<Reference> refs;
  collect_references(task.args, is_task, refs);
  for (const auto& r : refs) {
    if (r.task == task.id) {
      issue("refers to its own output");
    } else if (!known_before(r.task)) {
      issue("refers to \"" + r.task + "\", which is not a task of the plan");
    }
  }
  // Arguments against the schema; a top-level argument holding a reference is checked at run
  // time, when its value is known.
  if (tool != nullptr) {
    std::vector<std::string> violations;
    if (refs.empty() || !task.args.is_object()) {
      violations = tool->check(task.args);
    } else {
      Json args = task.args;
      Json schema = tool->spec().parameters;
      for (auto it = task.args.begin(); it != task.args.end(); ++it) {
        std::vector<Reference> inner;
        collect_references(it.value(), is_task, inner);
        if (inner.empty()) continue;
        args.erase(it.key());
        if (schema.is_object() && schema.contains("required") && schema["required"].is_array()) {
          auto& required = schema["required"];
          for (std::size_t i = 0; i < required.size(); ++i) {
            if (required[i] == it.key()) {
              required.erase(i);
              break;
            }
          }
        }
      }
      violations = tools::JsonSchema::parse(schema, task.tool).violations(args);
    }
    for (auto& v : violations) issue("args: " + v);
  }
  return issues;
}

}  // namespace planner

std::vector<PlanIssue> validate_plan(const Plan& plan, const ToolRegistry& tools, bool has_model) {
  std::vector<PlanIssue> issues;
  if (plan.tasks.empty()) issues.push_back({"", "the plan has no tasks"});
  std::unordered_map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    auto [it, fresh] = seen.emplace(plan.tasks[i].id, i);
    if (!fresh) issues.push_back({plan.tasks[i].id, "the id is used by more than one task"});
  }
  auto known = [&](std::string_view id) { return seen.count(id) > 0; };
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    for (auto& issue : planner::check_task(plan, i, tools, known, has_model)) issues.push_back(std::move(issue));
  }
  // Kahn's algorithm: what cannot be ordered is on a cycle or behind one. (Edges to tasks that
  // do not exist were reported above and are left out.)
  std::size_t n = plan.tasks.size();
  std::vector<std::vector<std::size_t>> dependents(n);
  std::vector<std::size_t> waiting(n, 0);
  std::vector<std::vector<std::size_t>> needs(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& d : plan.dependencies(i)) {
      auto found = seen.find(d);
      if (found == seen.end() || found->second == i) continue;
      std::size_t j = found->second;
      dependents[j].push_back(i);
      needs[i].push_back(j);
      ++waiting[i];
    }
  }
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < n; ++i) {
    if (waiting[i] == 0) ready.push_back(i);
  }
  std::size_t ordered = 0;
  while (!ready.empty()) {
    std::size_t i = ready.back();
    ready.pop_back();
    ++ordered;
    for (std::size_t j : dependents[i]) {
      if (--waiting[j] == 0) ready.push_back(j);
    }
  }
  if (ordered == n) return issues;
  // Name one cycle: walk unordered tasks along their unordered dependencies until one repeats.
  std::size_t start = 0;
  while (waiting[start] == 0) ++start;
  std::vector<std::size_t> path;
  std::vector<std::ptrdiff_t> position(n, -1);
  std::size_t at = start;
  while (position[at] < 0) {
    position[at] = static_cast<std::ptrdiff_t>(path.size());
    path.push_back(at);
    for (std::size_t j : needs[at]) {
      if (waiting[j] > 0) {
        at = j;
        break;
      }
    }
  }
  std::string cycle;
  std::vector<std::string> members;
  for (std::size_t k = static_cast<std::size_t>(position[at]); k < path.size(); ++k) {
    members.push_back(plan.tasks[path[k]].id);
  }
  std::reverse(members.begin(), members.end());  // in the order the work would flow
  for (const auto& m : members) cycle += m + " -> ";
  cycle += members.front();
  issues.push_back({"", "the dependencies form a cycle: " + cycle});
  return issues;
}

}  // namespace keel
