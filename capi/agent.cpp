// The C ABI of toolsets and agents.
#include <chrono>
#include <memory>
#include <shared_mutex>

#include "boundary.hpp"
#include "handles.hpp"
#include "keel/agent.hpp"
#include "keel/tools.hpp"

struct keel_agent {
  std::shared_ptr<keel::Agent> agent;
  std::shared_ptr<keel::capi::EventHook> events;
};

namespace {

using keel::capi::as_argument;
using keel::Errc;
using keel::Error;
using keel::Json;

keel::Tool callback_tool(const Json& spec_json, keel_tool_fn fn, void* user_data) {
  keel::ConfigReader r(spec_json, "spec");
  keel::ToolSpec spec;
  spec.name = r.required<std::string>("name");
  spec.description = r.optional<std::string>("description", "");
  spec.parameters = r.optional<Json>("parameters", spec.parameters);
  bool idempotent = r.optional<bool>("idempotent", false);
  r.finish();
  if (spec.name.empty()) throw Error(Errc::invalid_config, "spec.name: empty");
  std::string name = spec.name;
  keel::Tool tool(std::move(spec), [fn, user_data, name](const Json& arguments, const keel::ToolContext& context) {
    Json info = {{"call_id", context.call_id}, {"tool", name}};
    if (context.deadline.is_set()) {
      info["timeout_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(context.deadline.remaining()).count();
    }
    std::string arguments_text = keel::dump_json(arguments);
    std::string context_text = keel::dump_json(info);
    keel_reply reply;
    reply.cancel = context.cancel;
    reply.deadline = context.deadline;
    int rc = fn(arguments_text.c_str(), context_text.c_str(), &reply, user_data);
    return keel::capi::reply_value(reply, rc, "tool " + name, Errc::tool);
  });
  tool.set_idempotent(idempotent);
  return tool;
}

std::vector<keel::Message> conversation_from(const Json& input) {
  if (input.is_string()) return {keel::Message::user(input.get<std::string>())};
  const Json* list = &input;
  std::string path = "input";
  if (input.is_object()) {
    keel::ConfigReader r(input, "input");
    list = r.raw("messages");
    r.finish();
    if (list == nullptr) throw Error(Errc::invalid_argument, "input.messages: required");
    path = "input.messages";
  }
  if (!list->is_array()) {
    throw Error(Errc::invalid_argument,
                path + ": expected a task (string), an array of messages or {\"messages\": [...]}");
  }
  std::vector<keel::Message> messages;
  for (std::size_t i = 0; i < list->size(); ++i) {
    messages.push_back(keel::Message::from_json((*list)[i], keel::json_path_index(path, i)));
  }
  if (messages.empty()) throw Error(Errc::invalid_argument, path + ": no messages");
  return messages;
}

keel::AgentRunOptions run_options(const char* options_json) {
  keel::AgentRunOptions options;
  if (options_json != nullptr && *options_json != '\0') {
    Json json = keel::parse_json(options_json, "run options");
    keel::ConfigReader r(json, "options");
    options.deadline = keel::capi::deadline_option(r);
    r.finish();
  }
  return options;
}

std::vector<keel::Message> parse_input(const char* input_json) {
  Json input = keel::parse_json(keel::capi::text_arg(input_json, "input_json"), "agent input");
  return as_argument([&] { return conversation_from(input); });
}

}  // namespace

extern "C" {

KEEL_API keel_status keel_toolset_new(const char* tools_json, keel_toolset** out, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    auto set = std::make_unique<keel_toolset>();
    if (tools_json != nullptr && *tools_json != '\0') {
      set->tools = keel::ToolRegistry::from_json(keel::parse_json(tools_json, "tools file"));
    }
    *out = set.release();
  });
}

KEEL_API keel_status keel_toolset_load(const char* path, keel_toolset** out, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    auto set = std::make_unique<keel_toolset>();
    set->tools = keel::ToolRegistry::load(std::string(keel::capi::text_arg(path, "path")));
    *out = set.release();
  });
}

KEEL_API void keel_toolset_free(keel_toolset* tools) { delete tools; }

KEEL_API int keel_reply_cancelled(const keel_reply* reply) {
  if (reply == nullptr) return 0;
  return reply->cancel.cancelled() || reply->deadline.expired() ? 1 : 0;
}

KEEL_API keel_status keel_toolset_add(keel_toolset* tools, const char* spec_json, keel_tool_fn fn,
                                      void* user_data, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(tools, "tools");
    Json spec = keel::parse_json(keel::capi::text_arg(spec_json, "spec_json"), "tool spec");
    keel::Tool tool = as_argument([&] {
      return fn != nullptr ? callback_tool(spec, fn, user_data) : keel::Tool::from_json(spec, "spec");
    });
    std::unique_lock lock(tools->mutex);
    tools->tools.add(std::move(tool));
  });
}

KEEL_API keel_status keel_toolset_remove(keel_toolset* tools, const char* name, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(tools, "tools");
    std::string_view tool = keel::capi::text_arg(name, "name");
    std::unique_lock lock(tools->mutex);
    if (!tools->tools.remove(tool)) throw Error(Errc::not_found, "no tool named \"" + std::string(tool) + "\"");
  });
}

KEEL_API keel_status keel_toolset_specs(const keel_toolset* tools, char** specs_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(tools, "tools");
    keel::capi::require(specs_json, "specs_json");
    *specs_json = nullptr;
    Json out = Json::array();
    std::shared_lock lock(tools->mutex);
    for (const auto& spec : tools->tools.specs()) out.push_back(spec.to_json());
    lock.unlock();
    *specs_json = keel::capi::copy_out(keel::dump_json(out));
  });
}

KEEL_API keel_status keel_toolset_call(const keel_toolset* tools, const char* name,
                                       const char* arguments_json, const char* options_json,
                                       char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(tools, "tools");
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    std::string_view tool_name = keel::capi::text_arg(name, "name");
    Json arguments = keel::parse_json(keel::capi::text_arg(arguments_json, "arguments_json"), "tool arguments");
    keel::ToolContext context;
    context.deadline = run_options(options_json).deadline;
    std::optional<keel::Tool> tool;
    {
      std::shared_lock lock(tools->mutex);
      if (const keel::Tool* found = tools->tools.find(tool_name)) tool = *found;
    }
    if (!tool) throw Error(Errc::not_found, "no tool named \"" + std::string(tool_name) + "\"");
    Json result = tool->call(arguments, std::move(context));
    *result_json = keel::capi::copy_out(keel::dump_json(result));
  });
}

KEEL_API keel_status keel_agent_new(const char* config_json, keel_model* model,
                                    const keel_toolset* tools, const keel_firewall* firewall,
                                    keel_agent** out, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    keel::capi::require(model, "model");
    keel::AgentConfig config;
    if (config_json != nullptr && *config_json != '\0') {
      config = keel::AgentConfig::from_json(keel::parse_json(config_json, "agent config"));
    }
    keel::ToolRegistry registry = tools ? tools->snapshot() : keel::ToolRegistry{};
    auto hook = std::make_shared<keel::capi::EventHook>();
    auto agent = std::make_shared<keel::Agent>(std::move(config), model->model, std::move(registry),
                                               firewall ? firewall->firewall : nullptr);
    agent->set_event_sink(keel::capi::event_sink(hook));
    *out = new keel_agent{std::move(agent), std::move(hook)};
  });
}

KEEL_API void keel_agent_free(keel_agent* agent) {
  if (agent == nullptr) return;
  agent->events->set(nullptr, nullptr);  // runs in flight go on, but call the host no more
  delete agent;
}

KEEL_API keel_status keel_agent_run(const keel_agent* agent, const char* input_json,
                                    const char* options_json, char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(agent, "agent");
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    auto conversation = parse_input(input_json);
    auto result = agent->agent->run(std::move(conversation), run_options(options_json));
    *result_json = keel::capi::copy_out(keel::dump_json(result.to_json()));
  });
}

KEEL_API keel_status keel_agent_run_async(const keel_agent* agent, const char* input_json,
                                          const char* options_json, keel_done_fn done,
                                          void* user_data, keel_call** call, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(agent, "agent");
    keel::capi::require(reinterpret_cast<void*>(done), "done");
    if (call) *call = nullptr;
    auto conversation = parse_input(input_json);
    auto options = run_options(options_json);
    auto handle = std::make_unique<keel_call>();
    options.cancel = handle->cancel.token();
    agent->agent->run_async(std::move(conversation), std::move(options),
                            [done, user_data](keel::AgentResult result) {
                              std::string json = keel::dump_json(result.to_json());
                              done(KEEL_OK, json.c_str(), user_data);
                            });
    if (call) *call = handle.release();
  });
}

KEEL_API keel_status keel_agent_set_event_callback(keel_agent* agent, keel_event_fn callback,
                                                   void* user_data, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(agent, "agent");
    agent->events->set(callback, user_data);
  });
}

}  // extern "C"
