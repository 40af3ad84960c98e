// Provider-neutral messages, tool calls, requests and responses, and their JSON.
#include "keel/llm.hpp"

namespace keel {

std::string_view to_string(Message::Role role) noexcept {
  switch (role) {
    case Message::Role::system: return "system";
    case Message::Role::user: return "user";
    case Message::Role::assistant: return "assistant";
    case Message::Role::tool: return "tool";
  }
  return "user";
}

ToolCall ToolCall::make(std::string id, std::string name, std::string text) {
  ToolCall call;
  call.id = std::move(id);
  call.name = std::move(name);
  call.arguments_text = std::move(text);
  std::string_view trimmed = call.arguments_text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) trimmed.remove_prefix(1);
  if (trimmed.empty()) {
    call.arguments = Json::object();  // "no arguments" is an empty object
    return call;
  }
  try {
    call.arguments = parse_json(call.arguments_text, "tool call arguments");
    call.arguments_valid = call.arguments.is_object();
    if (!call.arguments_valid) call.arguments = nullptr;
  } catch (const Error&) {
    call.arguments = nullptr;
    call.arguments_valid = false;
  }
  return call;
}

Json ToolCall::to_json() const {
  Json out = {{"id", id}, {"name", name}};
  if (arguments_valid) {
    out["arguments"] = arguments;
  } else {
    out["arguments"] = nullptr;
    out["arguments_text"] = arguments_text;
  }
  return out;
}

ToolCall ToolCall::from_json(const Json& json, const std::string& path) {
  ConfigReader r(json, path);
  ToolCall call;
  call.id = r.optional<std::string>("id", "");
  call.name = r.required<std::string>("name");
  const Json* args = r.raw("arguments");
  auto text = r.maybe<std::string>("arguments_text");
  if (args && args->is_string()) {
    // The provider form: arguments as a JSON string.
    call = make(call.id, call.name, args->get<std::string>());
  } else if (args) {
    if (!args->is_object()) throw_config_error(r.path_of("arguments"), "expected object");
    call.arguments = *args;
    call.arguments_text = text ? *text : dump_json(*args);
  } else if (text) {
    call = make(call.id, call.name, *text);
  }
  r.finish();
  return call;
}

Message Message::system(std::string text) {
  Message m;
  m.role = Role::system;
  m.content = std::move(text);
  return m;
}

Message Message::user(std::string text) {
  Message m;
  m.role = Role::user;
  m.content = std::move(text);
  return m;
}

Message Message::assistant(std::string text, std::vector<ToolCall> calls) {
  Message m;
  m.role = Role::assistant;
  m.content = std::move(text);
  m.tool_calls = std::move(calls);
  return m;
}

Message Message::tool_result(std::string call_id, std::string tool_name, std::string content) {
  Message m;
  m.role = Role::tool;
  m.tool_call_id = std::move(call_id);
  m.name = std::move(tool_name);
  m.content = std::move(content);
  return m;
}

Json Message::to_json() const {
  Json out = {{"role", to_string(role)}, {"content", content}};
  if (!tool_calls.empty()) {
    Json calls = Json::array();
    for (const auto& c : tool_calls) calls.push_back(c.to_json());
    out["tool_calls"] = std::move(calls);
  }
  if (!tool_call_id.empty()) out["tool_call_id"] = tool_call_id;
  if (!name.empty()) out["name"] = name;
  return out;
}

Message Message::from_json(const Json& json, const std::string& path) {
  ConfigReader r(json, path);
  Message m;
  std::string role = r.choice("role", "user", {"system", "user", "assistant", "tool"});
  m.role = role == "system"      ? Role::system
           : role == "assistant" ? Role::assistant
           : role == "tool"      ? Role::tool
                                 : Role::user;
  m.content = r.optional<std::string>("content", "");
  if (const Json* calls = r.raw("tool_calls")) {
    if (!calls->is_array()) throw_config_error(r.path_of("tool_calls"), "expected array");
    for (std::size_t i = 0; i < calls->size(); ++i) {
      m.tool_calls.push_back(
          ToolCall::from_json((*calls)[i], json_path_index(r.path_of("tool_calls"), i)));
    }
  }
  m.tool_call_id = r.optional<std::string>("tool_call_id", "");
  m.name = r.optional<std::string>("name", "");
  if (m.role == Role::tool && m.tool_call_id.empty()) {
    throw_config_error(r.path_of("tool_call_id"), "required for a tool message");
  }
  r.finish();
  return m;
}

Json ToolSpec::to_json() const {
  return {{"name", name}, {"description", description}, {"parameters", parameters}};
}

ToolSpec ToolSpec::from_json(const Json& json, const std::string& path) {
  ConfigReader r(json, path);
  ToolSpec spec;
  spec.name = r.required<std::string>("name");
  if (spec.name.empty()) throw_config_error(r.path_of("name"), "must not be empty");
  spec.description = r.optional<std::string>("description", "");
  if (const Json* p = r.raw("parameters")) {
    if (!p->is_object()) throw_config_error(r.path_of("parameters"), "expected a JSON Schema object");
    spec.parameters = *p;
  }
  r.finish();
  return spec;
}

Json ChatRequest::to_json() const {
  Json out = Json::object();
  Json list = Json::array();
  for (const auto& m : messages) list.push_back(m.to_json());
  out["messages"] = std::move(list);
  if (!tools.empty()) {
    Json t = Json::array();
    for (const auto& spec : tools) t.push_back(spec.to_json());
    out["tools"] = std::move(t);
  }
  if (temperature) out["temperature"] = *temperature;
  if (max_tokens) out["max_tokens"] = *max_tokens;
  if (!stop.empty()) out["stop"] = stop;
  if (json_response) out["response_format"] = json_schema.is_null() ? Json("json") : json_schema;
  if (!tool_choice.empty()) {
    bool keyword = tool_choice == "auto" || tool_choice == "none" || tool_choice == "required";
    out["tool_choice"] = keyword ? Json(tool_choice) : Json{{"name", tool_choice}};
  }
  if (!model.empty()) out["model"] = model;
  return out;
}

ChatRequest ChatRequest::from_json(const Json& json) {
  ConfigReader r(json, "request");
  ChatRequest request;
  const Json* messages = r.raw("messages");
  if (!messages) throw_config_error(r.path_of("messages"), "required");
  if (!messages->is_array()) throw_config_error(r.path_of("messages"), "expected array");
  for (std::size_t i = 0; i < messages->size(); ++i) {
    request.messages.push_back(
        Message::from_json((*messages)[i], json_path_index(r.path_of("messages"), i)));
  }
  for (auto& tool : r.objects("tools")) {
    request.tools.push_back(ToolSpec::from_json(tool.json(), tool.path()));
  }
  request.temperature = r.maybe<double>("temperature");
  if (request.temperature && (*request.temperature < 0 || *request.temperature > 2)) {
    throw_config_error(r.path_of("temperature"), "must be between 0 and 2");
  }
  request.max_tokens = r.maybe<int>("max_tokens");
  if (request.max_tokens && *request.max_tokens < 1) {
    throw_config_error(r.path_of("max_tokens"), "must be at least 1");
  }
  request.stop = r.optional<std::vector<std::string>>("stop", {});
  if (const Json* format = r.raw("response_format")) {
    if (format->is_string()) {
      std::string f = format->get<std::string>();
      if (f != "json" && f != "text") {
        throw_config_error(r.path_of("response_format"), "must be \"text\", \"json\" or a JSON Schema");
      }
      request.json_response = f == "json";
    } else if (format->is_object()) {
      request.json_response = true;
      request.json_schema = *format;
    } else {
      throw_config_error(r.path_of("response_format"), "must be \"text\", \"json\" or a JSON Schema");
    }
  }
  if (const Json* choice = r.raw("tool_choice")) {
    if (choice->is_string()) {
      request.tool_choice = choice->get<std::string>();
      if (request.tool_choice != "auto" && request.tool_choice != "none" &&
          request.tool_choice != "required") {
        throw_config_error(r.path_of("tool_choice"), "must be auto, none, required or {\"name\": ...}");
      }
    } else {
      ConfigReader c(*choice, r.path_of("tool_choice"));
      request.tool_choice = c.required<std::string>("name");
      c.finish();
    }
  }
  request.model = r.optional<std::string>("model", "");
  r.finish();
  return request;
}

Json Usage::to_json() const {
  return {{"input_tokens", input_tokens}, {"output_tokens", output_tokens}};
}

Usage Usage::from_json(const Json& json) {
  ConfigReader r(json, "usage");
  Usage u;
  u.input_tokens = r.optional<std::int64_t>("input_tokens", 0);
  u.output_tokens = r.optional<std::int64_t>("output_tokens", 0);
  (void)r.raw("total_tokens");
  r.finish();
  return u;
}

Json ChatResponse::to_json() const {
  return {{"message", message.to_json()},
          {"finish_reason", finish_reason},
          {"usage", usage.to_json()},
          {"model", model}};
}

ChatResponse ChatResponse::from_json(const Json& json) {
  ConfigReader r(json, "response");
  ChatResponse response;
  response.message = Message::from_json(r.required<Json>("message"), r.path_of("message"));
  response.finish_reason = r.optional<std::string>("finish_reason", "stop");
  if (const Json* u = r.raw("usage")) response.usage = Usage::from_json(*u);
  response.model = r.optional<std::string>("model", "");
  r.finish();
  return response;
}

ChatModel::~ChatModel() = default;

ChatResponse ChatModel::chat(ChatRequest request, CallOptions options) {
  if (executor().running_in_this_thread()) {
    throw Error(Errc::invalid_argument,
                "ChatModel::chat() called from one of the executor's threads would wait on "
                "itself; use chat_async() there");
  }
  std::promise<Result<ChatResponse>> promise;
  auto future = promise.get_future();
  chat_async(std::move(request), std::move(options),
             [&promise](Result<ChatResponse> result) { promise.set_value(std::move(result)); });
  return future.get().value();
}

}  // namespace keel
