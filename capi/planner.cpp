// The planner's C ABI.
#include <memory>

#include "boundary.hpp"
#include "handles.hpp"
#include "keel/planner.hpp"

struct keel_planner {
  std::shared_ptr<keel::Planner> planner;
  std::shared_ptr<keel::capi::EventHook> events;
};

namespace {

using keel::capi::as_argument;
using keel::Errc;
using keel::Error;
using keel::Json;

keel::PlanRunOptions run_options(const char* options_json) {
  keel::PlanRunOptions options;
  if (options_json != nullptr && *options_json != '\0') {
    Json json = keel::parse_json(options_json, "run options");
    keel::ConfigReader r(json, "options");
    options.deadline = keel::capi::deadline_option(r);
    options.run_id = r.optional<std::string>("run_id", "");
    r.finish();
  }
  return options;
}

// The start of an asynchronous call: its arguments checked, its options read, and the handle
// keel_call_cancel stops it through (the options carry its token).
struct AsyncStart {
  keel::PlanRunOptions options;
  std::unique_ptr<keel_call> handle;
};
AsyncStart begin_async(const keel_planner* planner, keel_done_fn done, keel_call** call, const char* options_json) {
  keel::capi::require(planner, "planner");
  keel::capi::require(reinterpret_cast<void*>(done), "done");
  if (call) *call = nullptr;
  AsyncStart start{run_options(options_json), std::make_unique<keel_call>()};
  start.options.cancel = start.handle->cancel.token();
  return start;
}

keel::Plan plan_arg(const char* plan_json) {
  if (plan_json == nullptr || *plan_json == '\0') return {};
  return keel::Plan::from_json(keel::parse_json(plan_json, "plan"));
}

}  // namespace

extern "C" {

KEEL_API keel_status keel_planner_new(const char* config_json, keel_model* model,
                                      const keel_toolset* tools, keel_planner** out, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    keel::PlannerConfig config;
    if (config_json != nullptr && *config_json != '\0') {
      config = keel::PlannerConfig::from_json(keel::parse_json(config_json, "planner config"));
    }
    auto hook = std::make_shared<keel::capi::EventHook>();
    auto planner = std::make_shared<keel::Planner>(std::move(config), model ? model->model : nullptr,
                                                   tools ? tools->snapshot() : keel::ToolRegistry{});
    planner->set_event_sink(keel::capi::event_sink(hook));
    *out = new keel_planner{std::move(planner), std::move(hook)};
  });
}

KEEL_API void keel_planner_free(keel_planner* planner) {
  if (planner == nullptr) return;
  planner->events->set(nullptr, nullptr);
  delete planner;
}

KEEL_API keel_status keel_planner_validate(const keel_planner* planner, const char* plan_json,
                                           char** issues_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(planner, "planner");
    keel::capi::require(issues_json, "issues_json");
    *issues_json = nullptr;
    auto plan = keel::Plan::from_json(keel::parse_json(keel::capi::text_arg(plan_json, "plan_json"), "plan"));
    Json out = Json::array();
    for (const auto& issue : planner->planner->validate(plan)) {
      out.push_back({{"task", issue.task}, {"problem", issue.problem}});
    }
    *issues_json = keel::capi::copy_out(keel::dump_json(out));
  });
}

KEEL_API keel_status keel_planner_plan(const keel_planner* planner, const char* goal,
                                       const char* options_json, char** plan_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(planner, "planner");
    keel::capi::require(plan_json, "plan_json");
    *plan_json = nullptr;
    auto options = run_options(options_json);
    keel::CallOptions call;
    call.deadline = options.deadline;
    auto plan = planner->planner->plan(keel::capi::text_arg(goal, "goal"), std::move(call));
    *plan_json = keel::capi::copy_out(keel::dump_json(plan.to_json()));
  });
}

KEEL_API keel_status keel_planner_plan_async(const keel_planner* planner, const char* goal,
                                             const char* options_json, keel_done_fn done, void* user_data,
                                             keel_call** call, keel_error** err) {
  return keel::capi::call(err, [&] {
    auto [options, handle] = begin_async(planner, done, call, options_json);
    keel::CallOptions call_options;
    call_options.deadline = options.deadline;
    call_options.cancel = options.cancel;
    planner->planner->plan_async(std::string(keel::capi::text_arg(goal, "goal")), std::move(call_options),
                                 [done, user_data](keel::Result<keel::Plan> result) {
                                   if (result.ok()) {
                                     std::string json = keel::dump_json(result.value().to_json());
                                     done(KEEL_OK, json.c_str(), user_data);
                                   } else {
                                     done(static_cast<keel_status>(result.error().code()), result.error().what(),
                                          user_data);
                                   }
                                 });
    if (call) *call = handle.release();
  });
}

KEEL_API keel_status keel_planner_run(const keel_planner* planner, const char* plan_json,
                                      const char* options_json, char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(planner, "planner");
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    auto result = planner->planner->run(plan_arg(plan_json), run_options(options_json));
    *result_json = keel::capi::copy_out(keel::dump_json(result.to_json()));
  });
}

KEEL_API keel_status keel_planner_solve(const keel_planner* planner, const char* goal,
                                        const char* options_json, char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(planner, "planner");
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    auto result = planner->planner->solve(std::string(keel::capi::text_arg(goal, "goal")), run_options(options_json));
    *result_json = keel::capi::copy_out(keel::dump_json(result.to_json()));
  });
}

KEEL_API keel_status keel_planner_start(const keel_planner* planner, const char* goal,
                                        const char* plan_json, const char* options_json,
                                        keel_done_fn done, void* user_data, keel_call** call,
                                        keel_error** err) {
  return keel::capi::call(err, [&] {
    auto [options, handle] = begin_async(planner, done, call, options_json);
    auto finish = [done, user_data](keel::PlanRun result) {
      std::string json = keel::dump_json(result.to_json());
      done(KEEL_OK, json.c_str(), user_data);
    };
    if (goal != nullptr) {
      planner->planner->solve_async(goal, std::move(options), std::move(finish));
    } else {
      planner->planner->run_async(plan_arg(plan_json), std::move(options), std::move(finish));
    }
    if (call) *call = handle.release();
  });
}

KEEL_API keel_status keel_planner_set_event_callback(keel_planner* planner, keel_event_fn callback,
                                                     void* user_data, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(planner, "planner");
    planner->events->set(callback, user_data);
  });
}

}  // extern "C"
