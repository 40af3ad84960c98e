#include <doctest/doctest.h>

#include "keel/llm.hpp"

using namespace keel;

TEST_CASE("a chat request round-trips through JSON") {
  Json json = Json::parse(R"({"messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "weather", "arguments": {"city": "Paris"}}]},
      {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": "{\"temp\": 21}"}],
    "tools": [{"name": "weather", "description": "Current weather", "parameters": {"type": "object"}}],
    "temperature": 0.2, "max_tokens": 100, "stop": ["END"], "response_format": "json",
    "tool_choice": {"name": "weather"}})");
  ChatRequest request = ChatRequest::from_json(json);
  CHECK(request.messages.size() == 4);
  CHECK(request.messages[2].tool_calls[0].arguments["city"] == "Paris");
  CHECK(request.tool_choice == "weather");
  CHECK(request.json_response);
  CHECK(ChatRequest::from_json(request.to_json()).to_json() == request.to_json());
}

TEST_CASE("request errors name the JSON path") {
  auto message = [](const char* text) {
    try {
      (void)ChatRequest::from_json(Json::parse(text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message(R"({"messages": [{"role": "robot"}]})").starts_with("request.messages[0].role: must be one of"));
  CHECK(message(R"({"messages": [{"role": "tool", "content": "x"}]})") ==
        "request.messages[0].tool_call_id: required for a tool message");
  CHECK(message(R"({"messages": [], "temperature": 3})") == "request.temperature: must be between 0 and 2");
  CHECK(message(R"({"messages": [], "tools": [{"name": ""}]})") == "request.tools[0].name: must not be empty");
  CHECK(message(R"({"messages": [], "temprature": 1})").starts_with("request.temprature: unknown key"));
  CHECK(message(R"({})") == "request.messages: required");
}

TEST_CASE("tool call arguments that are not a JSON object are kept as text") {
  ToolCall bad = ToolCall::make("c1", "search", "{\"q\": unquoted}");
  CHECK_FALSE(bad.arguments_valid);
  CHECK(bad.arguments.is_null());
  CHECK(bad.arguments_text == "{\"q\": unquoted}");
  ToolCall array = ToolCall::make("c2", "search", "[1, 2]");
  CHECK_FALSE(array.arguments_valid);
  ToolCall empty = ToolCall::make("c3", "now", "");
  CHECK(empty.arguments_valid);
  CHECK(empty.arguments == Json::object());
}

TEST_CASE("a response round-trips through JSON") {
  ChatResponse r;
  r.message = Message::assistant("hi", {ToolCall::make("c1", "f", "{\"a\": 1}")});
  r.finish_reason = "tool_calls";
  r.usage = {12, 3};
  r.model = "m";
  CHECK(ChatResponse::from_json(r.to_json()).to_json() == r.to_json());
}
