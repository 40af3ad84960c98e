// Fuzzes the agent loop with what a model may send it. The input is either a JSON document
// {"config": {agent configuration}, "responses": [scripted model responses], "task": "..."} or
// any bytes, which become the arguments text of a tool call, a tool's name, the user's task and
// a tool's result (screened by the firewall). Whatever arrives, the run ends with a whole
// transcript (every tool call answered) or the configuration is refused with a keel::Error;
// anything else (another exception, a crash, a sanitizer report) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keel/agent.hpp"

namespace {

using namespace keel;

ToolRegistry tools(const std::string& result_text) {
  ToolRegistry registry;
  ToolSpec add{"add", "Adds two integers", Json::parse(R"({"type": "object", "properties": {
      "a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]})")};
  registry.add(Tool(add, [](const Json& args, const ToolContext&) {
    return Json(args["a"].get<double>() + args["b"].get<double>());
  }));
  registry.add(Tool(ToolSpec{"echo", "Returns a page", Json{{"type", "object"}}},
                    [result_text](const Json&, const ToolContext&) { return Json(result_text); }));
  registry.add(Tool(ToolSpec{"fail", "Always fails", Json{{"type", "object"}}},
                    [](const Json&, const ToolContext&) -> Json { throw Error(Errc::tool, "down"); }));
  return registry;
}

const std::shared_ptr<const Firewall>& firewall() {
  static const auto instance = std::make_shared<const Firewall>();
  return instance;
}

void check_whole(const AgentResult& result) {
  for (const auto& m : result.messages) {
    for (const auto& call : m.tool_calls) {
      bool answered = false;
      for (const auto& r : result.messages) {
        answered = answered || (r.role == Message::Role::tool && r.tool_call_id == call.id);
      }
      if (!answered) std::abort();
    }
  }
  (void)dump_json(result.to_json());
}

void run(const AgentConfig& config, std::vector<Json> responses, const std::string& task,
         const std::string& result_text) {
  auto model = std::make_shared<ScriptedModel>(std::move(responses));
  Agent agent(config, model, tools(result_text), firewall());
  check_whole(agent.run(task.empty() ? std::string("go") : task));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    Json json = Json::parse(text, nullptr, false);
    if (json.is_object() && json.contains("responses")) {
      AgentConfig config = json.contains("config") ? AgentConfig::from_json(json["config"]) : AgentConfig{};
      config.max_turns = std::min(config.max_turns, 8);
      config.timeout = std::chrono::milliseconds(5000);
      config.firewall.reset();
      std::vector<Json> responses;
      if (json["responses"].is_array()) {
        for (const auto& r : json["responses"]) responses.push_back(r);
      }
      std::string task = json.contains("task") && json["task"].is_string() ? json["task"].get<std::string>() : "go";
      auto model = ScriptedModel::from_json(Json{{"provider", "scripted"}, {"responses", responses}});
      Agent agent(config, model, tools("page"), firewall());
      check_whole(agent.run(task));
    } else {
      AgentConfig config;
      config.max_turns = 3;
      config.screen_input = ScreenPolicy::flag();
      run(config,
          {Json{{"content", ""},
                {"tool_calls", {{{"id", "1"}, {"name", "add"}, {"arguments", text}},
                                {{"id", "2"}, {"name", text}, {"arguments", "{}"}},
                                {{"id", "3"}, {"name", "echo"}, {"arguments", "{}"}},
                                {{"id", "4"}, {"name", "fail"}, {"arguments", "{}"}}}}},
           Json{{"content", text}}},
          text, text);
    }
  } catch (const keel::Error&) {
    // A refused configuration or scripted response: the expected way to say no.
  }
  return 0;
}
