// Anthropic Messages: system prompt, tool_use / tool_result blocks, streaming events
// (message_start, content_block_*, input_json_delta, message_delta, ping, error; unknown events
// are tolerated), the anthropic-version header.
#include <map>

#include "llm/providers.hpp"

namespace keel::llm {

namespace {

std::string stop_reason(const Json& value) {
  if (!value.is_string()) return "";
  std::string reason = value.get<std::string>();
  if (reason == "end_turn" || reason == "stop_sequence") return "stop";
  if (reason == "tool_use") return "tool_calls";
  if (reason == "max_tokens") return "length";
  if (reason == "refusal") return "content_filter";
  return reason;
}

std::string text_of(const Json& value, const char* key) {
  return value.is_object() && value.contains(key) && value[key].is_string()
             ? value[key].get<std::string>()
             : std::string();
}

void read_usage(const Json& value, Usage& usage) {
  if (!value.is_object()) return;
  if (value.contains("input_tokens") && value["input_tokens"].is_number_integer()) {
    usage.input_tokens = value["input_tokens"].get<std::int64_t>();
  }
  if (value.contains("output_tokens") && value["output_tokens"].is_number_integer()) {
    usage.output_tokens = value["output_tokens"].get<std::int64_t>();
  }
}

// Anthropic wants alternating user/assistant turns with tool results inside user turns:
// consecutive messages of one role are merged into one turn of content blocks.
Json messages_json(const std::vector<Message>& messages, std::string& system) {
  Json out = Json::array();
  auto push_block = [&](const std::string& role, Json block) {
    if (!out.empty() && out.back()["role"] == role) {
      out.back()["content"].push_back(std::move(block));
    } else {
      out.push_back({{"role", role}, {"content", Json::array({std::move(block)})}});
    }
  };
  for (const auto& m : messages) {
    switch (m.role) {
      case Message::Role::system:
        if (!system.empty()) system += "\n\n";
        system += m.content;
        break;
      case Message::Role::user:
        push_block("user", {{"type", "text"}, {"text", m.content}});
        break;
      case Message::Role::assistant:
        if (!m.content.empty()) push_block("assistant", {{"type", "text"}, {"text", m.content}});
        for (const auto& c : m.tool_calls) {
          push_block("assistant", {{"type", "tool_use"},
                                   {"id", c.id},
                                   {"name", c.name},
                                   {"input", c.arguments_valid ? c.arguments : Json::object()}});
        }
        if (m.content.empty() && m.tool_calls.empty()) {
          push_block("assistant", {{"type", "text"}, {"text", ""}});
        }
        break;
      case Message::Role::tool:
        push_block("user", {{"type", "tool_result"},
                            {"tool_use_id", m.tool_call_id},
                            {"content", m.content}});
        break;
    }
  }
  return out;
}

class AnthropicStream final : public StreamAccumulator {
 public:
  std::optional<Error> on_event(const SseEvent& event,
                                const std::function<void(const StreamDelta&)>& emit) override {
    Json data;
    try {
      data = parse_json(event.data, "stream event");
    } catch (const Error& e) {
      return Error(Errc::parse, e.what());
    }
    std::string type = event.event.empty() ? text_of(data, "type") : event.event;
    if (type == "message_start") {
      if (data.contains("message")) {
        const Json& m = data["message"];
        model_ = text_of(m, "model");
        if (m.is_object() && m.contains("usage")) read_usage(m["usage"], usage_);
      }
    } else if (type == "content_block_start") {
      int index = data.value("index", 0);
      const Json& block = data.contains("content_block") ? data["content_block"] : Json();
      if (text_of(block, "type") == "tool_use") {
        Block& b = blocks_[index];
        b.tool = true;
        b.tool_index = tool_count_++;
        b.id = text_of(block, "id");
        b.name = text_of(block, "name");
        StreamDelta d;
        d.kind = StreamDelta::Kind::tool_call;
        d.index = b.tool_index;
        d.id = b.id;
        d.name = b.name;
        if (emit) emit(d);
      } else {
        blocks_[index].tool = false;
        std::string initial = text_of(block, "text");
        if (!initial.empty()) append_text(initial, emit);
      }
    } else if (type == "content_block_delta") {
      int index = data.value("index", 0);
      const Json& delta = data.contains("delta") ? data["delta"] : Json();
      std::string delta_type = text_of(delta, "type");
      if (delta_type == "text_delta") {
        append_text(text_of(delta, "text"), emit);
      } else if (delta_type == "input_json_delta") {
        Block& b = blocks_[index];
        std::string piece = text_of(delta, "partial_json");
        b.json += piece;
        StreamDelta d;
        d.kind = StreamDelta::Kind::tool_call;
        d.index = b.tool_index;
        d.arguments = std::move(piece);
        if (emit) emit(d);
      }
    } else if (type == "message_delta") {
      if (data.contains("delta")) stop_ = stop_reason(data["delta"].value("stop_reason", Json()));
      if (data.contains("usage")) {
        Usage u = usage_;
        read_usage(data["usage"], u);
        usage_.output_tokens = u.output_tokens;
        if (u.input_tokens) usage_.input_tokens = u.input_tokens;
      }
    } else if (type == "message_stop") {
      stopped_ = true;
    } else if (type == "error") {
      const Json& error = data.contains("error") ? data["error"] : data;
      ErrorDetails details;
      details.provider_type = text_of(error, "type");
      // An overloaded error mid-stream may be worth a retry only if nothing was delivered;
      // the resilience layer knows whether deltas went out.
      details.retryable = details.provider_type == "overloaded_error" ? 1 : 0;
      return Error(Errc::provider, "anthropic stream error " + details.provider_type + ": " +
                                       text_of(error, "message"),
                   details);
    }
    // "ping" and unknown events are ignored.
    return std::nullopt;
  }

  Result<ChatResponse> finish() override {
    if (!stopped_ && stop_.empty()) {
      ErrorDetails details;
      details.retryable = 1;
      return Error(Errc::io, "the stream ended before the answer was complete", details);
    }
    ChatResponse response;
    response.message.role = Message::Role::assistant;
    response.message.content = text_;
    for (auto& [index, block] : blocks_) {
      if (block.tool) {
        response.message.tool_calls.push_back(ToolCall::make(block.id, block.name, block.json));
      }
    }
    response.finish_reason = stop_.empty() ? "stop" : stop_;
    response.usage = usage_;
    response.model = model_;
    return response;
  }

 private:
  void append_text(const std::string& piece, const std::function<void(const StreamDelta&)>& emit) {
    if (piece.empty()) return;
    text_ += piece;
    StreamDelta d;
    d.kind = StreamDelta::Kind::text;
    d.text = piece;
    if (emit) emit(d);
  }

  struct Block {
    bool tool = false;
    int tool_index = 0;
    std::string id, name, json;
  };
  std::map<int, Block> blocks_;
  int tool_count_ = 0;
  std::string text_, stop_, model_;
  Usage usage_;
  bool stopped_ = false;
};

}  // namespace

Json anthropic_request_body(const ChatRequest& request, const ProviderConfig& config, bool stream) {
  Json body = Json::object();
  body["model"] = request.model.empty() ? config.model : request.model;
  std::string system;
  body["messages"] = messages_json(request.messages, system);
  if (request.json_response) {
    // Anthropic has no JSON mode: ask for it in the system prompt.
    if (!system.empty()) system += "\n\n";
    system += "Answer with a single JSON object and nothing else.";
    if (request.json_schema.is_object() && !request.json_schema.empty()) {
      system += " It must follow this JSON Schema: " + dump_json(request.json_schema);
    }
  }
  if (!system.empty()) body["system"] = system;
  body["max_tokens"] = request.max_tokens ? *request.max_tokens
                                          : (config.max_tokens > 0 ? config.max_tokens : 4096);
  if (!request.tools.empty()) {
    Json tools = Json::array();
    for (const auto& t : request.tools) {
      tools.push_back({{"name", t.name}, {"description", t.description}, {"input_schema", t.parameters}});
    }
    body["tools"] = std::move(tools);
  }
  if (!request.tool_choice.empty()) {
    const std::string& c = request.tool_choice;
    if (c == "auto") body["tool_choice"] = {{"type", "auto"}};
    else if (c == "required") body["tool_choice"] = {{"type", "any"}};
    else if (c == "none") body["tool_choice"] = {{"type", "none"}};
    else body["tool_choice"] = {{"type", "tool"}, {"name", c}};
  }
  if (request.temperature) body["temperature"] = std::min(*request.temperature, 1.0);
  if (!request.stop.empty()) body["stop_sequences"] = request.stop;
  if (stream) body["stream"] = true;
  return body;
}

ChatResponse anthropic_parse_response(const Json& body, const ProviderConfig& config) {
  const std::string host = url_host(config.base_url);
  if (!body.is_object() || !body.contains("content") || !body["content"].is_array()) {
    ErrorDetails details;
    details.retryable = 0;
    throw Error(Errc::parse, "response from " + host + " has no content array", details);
  }
  ChatResponse response;
  response.message.role = Message::Role::assistant;
  for (const auto& block : body["content"]) {
    std::string type = text_of(block, "type");
    if (type == "text") {
      response.message.content += text_of(block, "text");
    } else if (type == "tool_use") {
      ToolCall call;
      call.id = text_of(block, "id");
      call.name = text_of(block, "name");
      if (block.contains("input") && block["input"].is_object()) {
        call.arguments = block["input"];
        call.arguments_text = dump_json(call.arguments);
      } else {
        call.arguments = nullptr;
        call.arguments_valid = false;
        call.arguments_text = block.contains("input") ? dump_json(block["input"]) : "";
      }
      response.message.tool_calls.push_back(std::move(call));
    }
  }
  response.finish_reason = body.contains("stop_reason") ? stop_reason(body["stop_reason"]) : "";
  if (response.finish_reason.empty()) {
    response.finish_reason = response.message.tool_calls.empty() ? "stop" : "tool_calls";
  }
  if (body.contains("usage")) read_usage(body["usage"], response.usage);
  response.model = text_of(body, "model");
  if (response.model.empty()) response.model = config.model;
  return response;
}

namespace {

class AnthropicModel final : public ProviderModel {
 public:
  using ProviderModel::ProviderModel;

 protected:
  Json build_body(const ChatRequest& request, bool stream) const override {
    return anthropic_request_body(request, config(), stream);
  }

  std::vector<std::string> auth_headers() const override {
    std::vector<std::string> headers = {"anthropic-version: " + config().anthropic_version};
    if (!config().api_key.empty()) headers.push_back("x-api-key: " + config().api_key);
    return headers;
  }

  ChatResponse parse_response(const Json& body) const override {
    return anthropic_parse_response(body, config());
  }

  std::unique_ptr<StreamAccumulator> make_stream() const override {
    return std::make_unique<AnthropicStream>();
  }
};

}  // namespace

std::shared_ptr<ChatModel> make_anthropic_model(ProviderConfig config, Executor& executor) {
  return std::make_shared<AnthropicModel>(std::move(config), executor);
}

}  // namespace keel::llm
