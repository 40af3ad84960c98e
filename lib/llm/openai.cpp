// OpenAI-compatible chat completions (OpenAI, Azure-style deployments, vLLM, Ollama, llama.cpp
// server, LM Studio): request building, response parsing and SSE stream reassembly.
#include <map>

#include "llm/providers.hpp"

namespace keel::llm {

namespace {

std::string finish_reason(const Json& value) {
  if (!value.is_string()) return "";
  std::string reason = value.get<std::string>();
  if (reason == "function_call") return "tool_calls";  // the older OpenAI name
  return reason;
}

Usage usage_of(const Json& body) {
  Usage usage;
  if (!body.contains("usage") || !body["usage"].is_object()) return usage;
  const Json& u = body["usage"];
  if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) {
    usage.input_tokens = u["prompt_tokens"].get<std::int64_t>();
  }
  if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()) {
    usage.output_tokens = u["completion_tokens"].get<std::int64_t>();
  }
  return usage;
}

Json message_json(const Message& m) {
  Json out = {{"role", to_string(m.role)}};
  switch (m.role) {
    case Message::Role::assistant: {
      out["content"] = m.content.empty() && !m.tool_calls.empty() ? Json(nullptr) : Json(m.content);
      if (!m.tool_calls.empty()) {
        Json calls = Json::array();
        for (const auto& c : m.tool_calls) {
          calls.push_back({{"id", c.id},
                           {"type", "function"},
                           {"function", {{"name", c.name},
                                         {"arguments", c.arguments_valid ? dump_json(c.arguments)
                                                                         : c.arguments_text}}}});
        }
        out["tool_calls"] = std::move(calls);
      }
      break;
    }
    case Message::Role::tool:
      out["tool_call_id"] = m.tool_call_id;
      out["content"] = m.content;
      break;
    default: out["content"] = m.content;
  }
  return out;
}

class OpenAIStream final : public StreamAccumulator {
 public:
  std::optional<Error> on_event(const SseEvent& event,
                                const std::function<void(const StreamDelta&)>& emit) override {
    if (event.data == "[DONE]") {
      done_ = true;
      return std::nullopt;
    }
    Json chunk;
    try {
      chunk = parse_json(event.data, "stream chunk");
    } catch (const Error& e) {
      return Error(Errc::parse, e.what());
    }
    if (chunk.contains("error")) {
      const Json& error = chunk["error"];
      std::string message = error.is_object() && error.contains("message") && error["message"].is_string()
                                ? error["message"].get<std::string>()
                                : dump_json(error);
      ErrorDetails details;
      if (error.is_object() && error.contains("type") && error["type"].is_string()) {
        details.provider_type = error["type"].get<std::string>();
      }
      details.retryable = 0;  // deltas may already have reached the caller
      return Error(Errc::provider, "stream error: " + message, details);
    }
    if (chunk.contains("model") && chunk["model"].is_string()) model_ = chunk["model"].get<std::string>();
    Usage u = usage_of(chunk);
    if (u.total() > 0) usage_ = u;
    if (!chunk.contains("choices") || !chunk["choices"].is_array()) return std::nullopt;
    for (const auto& choice : chunk["choices"]) {
      if (choice.value("index", 0) != 0) continue;  // one answer is asked for
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
        finish_ = finish_reason(choice["finish_reason"]);
      }
      if (!choice.contains("delta") || !choice["delta"].is_object()) continue;
      const Json& delta = choice["delta"];
      if (delta.contains("content") && delta["content"].is_string()) {
        std::string piece = delta["content"].get<std::string>();
        if (!piece.empty()) {
          text_ += piece;
          StreamDelta d;
          d.kind = StreamDelta::Kind::text;
          d.text = std::move(piece);
          if (emit) emit(d);
        }
      }
      if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) {
        for (const auto& part : delta["tool_calls"]) {
          int index = part.value("index", 0);
          auto& call = calls_[index];
          StreamDelta d;
          d.kind = StreamDelta::Kind::tool_call;
          d.index = index;
          if (part.contains("id") && part["id"].is_string()) {
            call.id = part["id"].get<std::string>();
            d.id = call.id;
          }
          if (part.contains("function") && part["function"].is_object()) {
            const Json& f = part["function"];
            if (f.contains("name") && f["name"].is_string()) {
              call.name += f["name"].get<std::string>();
              d.name = f["name"].get<std::string>();
            }
            if (f.contains("arguments") && f["arguments"].is_string()) {
              call.arguments += f["arguments"].get<std::string>();
              d.arguments = f["arguments"].get<std::string>();
            }
          }
          if (emit) emit(d);
        }
      }
    }
    return std::nullopt;
  }

  Result<ChatResponse> finish() override {
    if (!done_ && finish_.empty()) {
      ErrorDetails details;
      details.retryable = 1;
      return Error(Errc::io, "the stream ended before the answer was complete", details);
    }
    ChatResponse response;
    response.message.role = Message::Role::assistant;
    response.message.content = text_;
    for (auto& [index, call] : calls_) {
      response.message.tool_calls.push_back(ToolCall::make(call.id, call.name, call.arguments));
    }
    response.finish_reason = finish_.empty() ? "stop" : finish_;
    if (!calls_.empty() && response.finish_reason == "stop") response.finish_reason = "tool_calls";
    response.usage = usage_;
    response.model = model_;
    return response;
  }

 private:
  struct PartialCall {
    std::string id, name, arguments;
  };
  std::string text_, finish_, model_;
  std::map<int, PartialCall> calls_;
  Usage usage_;
  bool done_ = false;
};

}  // namespace

Json openai_request_body(const ChatRequest& request, const ProviderConfig& config, bool stream) {
  Json body = Json::object();
  body["model"] = request.model.empty() ? config.model : request.model;
  Json messages = Json::array();
  for (const auto& m : request.messages) messages.push_back(message_json(m));
  body["messages"] = std::move(messages);
  if (!request.tools.empty()) {
    Json tools = Json::array();
    for (const auto& t : request.tools) {
      tools.push_back({{"type", "function"},
                       {"function", {{"name", t.name},
                                     {"description", t.description},
                                     {"parameters", t.parameters}}}});
    }
    body["tools"] = std::move(tools);
  }
  if (!request.tool_choice.empty()) {
    const std::string& c = request.tool_choice;
    body["tool_choice"] = (c == "auto" || c == "none" || c == "required")
                              ? Json(c)
                              : Json{{"type", "function"}, {"function", {{"name", c}}}};
  }
  if (request.temperature) body["temperature"] = *request.temperature;
  if (request.max_tokens) body["max_tokens"] = *request.max_tokens;
  else if (config.max_tokens > 0) body["max_tokens"] = config.max_tokens;
  if (!request.stop.empty()) body["stop"] = request.stop;
  if (request.json_response) {
    if (request.json_schema.is_object() && !request.json_schema.empty()) {
      body["response_format"] = {
          {"type", "json_schema"},
          {"json_schema", {{"name", "response"}, {"schema", request.json_schema}}}};
    } else {
      body["response_format"] = {{"type", "json_object"}};
    }
  }
  if (stream) {
    body["stream"] = true;
    if (config.stream_usage) body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

ChatResponse openai_parse_response(const Json& body, const ProviderConfig& config) {
  const std::string host = url_host(config.base_url);
  if (!body.is_object() || !body.contains("choices") || !body["choices"].is_array() ||
      body["choices"].empty() || !body["choices"][0].is_object() ||
      !body["choices"][0].contains("message") || !body["choices"][0]["message"].is_object()) {
    ErrorDetails details;
    details.retryable = 0;
    throw Error(Errc::parse, "response from " + host + " has no choices[0].message", details);
  }
  const Json& choice = body["choices"][0];
  const Json& m = choice["message"];
  ChatResponse response;
  response.message.role = Message::Role::assistant;
  if (m.contains("content") && m["content"].is_string()) {
    response.message.content = m["content"].get<std::string>();
  }
  if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
    for (const auto& call : m["tool_calls"]) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
      const Json& f = call["function"];
      std::string arguments;
      if (f.contains("arguments")) {
        arguments = f["arguments"].is_string() ? f["arguments"].get<std::string>()
                                               : dump_json(f["arguments"]);  // lenient servers
      }
      std::string id = call.contains("id") && call["id"].is_string() ? call["id"].get<std::string>() : "";
      std::string name = f.contains("name") && f["name"].is_string() ? f["name"].get<std::string>() : "";
      response.message.tool_calls.push_back(ToolCall::make(std::move(id), std::move(name), std::move(arguments)));
    }
  }
  response.finish_reason = choice.contains("finish_reason") ? finish_reason(choice["finish_reason"]) : "";
  if (response.finish_reason.empty()) {
    response.finish_reason = response.message.tool_calls.empty() ? "stop" : "tool_calls";
  }
  response.usage = usage_of(body);
  response.model = body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>()
                                                                       : config.model;
  return response;
}

namespace {

class OpenAIModel final : public ProviderModel {
 public:
  using ProviderModel::ProviderModel;

 protected:
  Json build_body(const ChatRequest& request, bool stream) const override {
    return openai_request_body(request, config(), stream);
  }

  std::vector<std::string> auth_headers() const override {
    if (config().api_key.empty()) return {};  // local servers (Ollama, vLLM) need none
    return {"Authorization: Bearer " + config().api_key};
  }

  ChatResponse parse_response(const Json& body) const override {
    return openai_parse_response(body, config());
  }

  std::unique_ptr<StreamAccumulator> make_stream() const override {
    return std::make_unique<OpenAIStream>();
  }
};

}  // namespace

std::shared_ptr<ChatModel> make_openai_model(ProviderConfig config, Executor& executor) {
  return std::make_shared<OpenAIModel>(std::move(config), executor);
}

}  // namespace keel::llm
