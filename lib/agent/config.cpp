// The agent's configuration and result types: JSON in and out.
#include "keel/agent.hpp"

namespace keel {

namespace {

ScreenPolicy policy_from_word(const std::string& word, const std::string& path) {
  if (word == "off") return ScreenPolicy::off();
  if (word == "flag") return ScreenPolicy::flag();
  if (word == "redact") return {true, true, false};
  if (word == "block") return ScreenPolicy::blocking();
  throw_config_error(path, "expected \"off\", \"flag\", \"redact\" or \"block\", got \"" + word + "\"");
}

}  // namespace

ScreenPolicy ScreenPolicy::from_json(const Json& json, const std::string& path) {
  if (json.is_string()) return policy_from_word(json.get<std::string>(), path);
  if (!json.is_array()) {
    throw_config_error(path, std::string("expected a string or a list of strings, got ") +
                                 std::string(json_type_name(json)));
  }
  ScreenPolicy policy;
  for (std::size_t i = 0; i < json.size(); ++i) {
    auto item_path = json_path_index(path, i);
    if (!json[i].is_string()) throw_config_error(item_path, "expected string");
    auto word = json[i].get<std::string>();
    if (word == "off") throw_config_error(item_path, "\"off\" cannot be combined with other actions");
    ScreenPolicy one = policy_from_word(word, item_path);
    policy.scan = true;
    policy.redact = policy.redact || one.redact;
    policy.block = policy.block || one.block;
  }
  return policy;
}

std::string ScreenPolicy::name() const {
  if (!scan) return "off";
  if (redact && block) return "redact+block";
  if (redact) return "redact";
  if (block) return "block";
  return "flag";
}

Json ScreenPolicy::to_json() const {
  if (redact && block) return Json::array({"redact", "block"});
  return name();
}

AgentConfig AgentConfig::from_json(const Json& json) {
  AgentConfig config;
  ConfigReader r(json, "");
  config.system_prompt = r.optional<std::string>("system_prompt", "");
  config.max_turns = static_cast<int>(r.integer("max_turns", config.max_turns, 1, 1000));
  config.parallel_tool_calls = r.optional<bool>("parallel_tool_calls", true);
  config.max_parallel_tools = static_cast<std::size_t>(
      r.integer("max_parallel_tools", static_cast<std::int64_t>(config.max_parallel_tools), 1, 1024));
  config.token_budget = r.integer("token_budget", 0, 0, std::int64_t{1} << 50);
  config.timeout = std::chrono::milliseconds(r.integer("timeout_ms", 0, 0, 7LL * 24 * 3600 * 1000));
  config.tool_timeout = std::chrono::milliseconds(
      r.integer("tool_timeout_ms", config.tool_timeout.count(), 0, 7LL * 24 * 3600 * 1000));
  if (r.has("temperature")) config.temperature = r.number("temperature", 0, 0, 2);
  if (r.has("max_tokens")) config.max_tokens = static_cast<int>(r.integer("max_tokens", 0, 1, 1 << 24));
  config.tool_choice = r.optional<std::string>("tool_choice", "");
  config.max_tool_result_bytes = static_cast<std::size_t>(r.integer(
      "max_tool_result_bytes", static_cast<std::int64_t>(config.max_tool_result_bytes), 64, 1LL << 30));
  if (const Json* firewall = r.raw("firewall")) {
    if (!firewall->is_object()) throw_config_error(r.path_of("firewall"), "expected object");
    config.firewall = *firewall;
  }
  if (auto screen = r.optional_object("screen")) {
    auto read = [&](std::string_view key, ScreenPolicy& policy) {
      if (const Json* value = screen->raw(key)) {
        policy = ScreenPolicy::from_json(*value, screen->path_of(key));
      }
    };
    read("input", config.screen_input);
    read("tool_results", config.screen_tool_results);
    read("output", config.screen_output);
    screen->finish();
  }
  r.finish();
  return config;
}

Json AgentConfig::to_json() const {
  Json out = {{"system_prompt", system_prompt},
              {"max_turns", max_turns},
              {"parallel_tool_calls", parallel_tool_calls},
              {"max_parallel_tools", max_parallel_tools},
              {"token_budget", token_budget},
              {"timeout_ms", timeout.count()},
              {"tool_timeout_ms", tool_timeout.count()},
              {"max_tool_result_bytes", max_tool_result_bytes},
              {"screen",
               {{"input", screen_input.to_json()},
                {"tool_results", screen_tool_results.to_json()},
                {"output", screen_output.to_json()}}}};
  if (temperature) out["temperature"] = *temperature;
  if (max_tokens) out["max_tokens"] = *max_tokens;
  if (!tool_choice.empty()) out["tool_choice"] = tool_choice;
  if (firewall) out["firewall"] = *firewall;
  return out;
}

std::string_view to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::final: return "final";
    case StopReason::max_turns: return "max_turns";
    case StopReason::budget: return "budget";
    case StopReason::blocked: return "blocked";
    case StopReason::cancelled: return "cancelled";
    case StopReason::error: return "error";
  }
  return "error";
}

Json ToolCallRecord::to_json() const {
  Json out = {{"id", id},         {"name", name},     {"arguments", arguments},
              {"turn", turn},     {"status", status}, {"duration_us", duration_us}};
  if (!result.is_null()) out["result"] = result;
  if (!error.empty()) out["error"] = error;
  return out;
}

Json Screening::to_json() const {
  Json out = {{"stage", stage},
              {"decision", to_string(decision)},
              {"risk", risk},
              {"action", action},
              {"categories", categories}};
  if (!call_id.empty()) out["call_id"] = call_id;
  return out;
}

Json AgentResult::to_json() const {
  Json messages_json = Json::array();
  for (const auto& m : messages) messages_json.push_back(m.to_json());
  Json calls = Json::array();
  for (const auto& c : tool_calls) calls.push_back(c.to_json());
  Json screens = Json::array();
  for (const auto& s : screenings) screens.push_back(s.to_json());
  Json out = {{"output", output},
              {"stop_reason", to_string(stop_reason)},
              {"messages", std::move(messages_json)},
              {"tool_calls", std::move(calls)},
              {"usage", usage.to_json()},
              {"turns", turns},
              {"screenings", std::move(screens)},
              {"duration_us", duration_us}};
  if (error) out["error"] = {{"code", to_string(error->code())}, {"message", error->what()}};
  return out;
}

}  // namespace keel
