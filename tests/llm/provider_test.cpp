// The real OpenAI-compatible and Anthropic clients against the scripted test endpoint
// (tests/support), for both wire formats and every fault it can inject.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "keel/llm.hpp"
#include "test_endpoint.hpp"

using namespace keel;
using keel::testing::Fault;
using keel::testing::Reply;
using keel::testing::Script;
using keel::testing::TestEndpoint;
using namespace std::chrono_literals;

namespace {

// A model on the endpoint, with fast retries so fault tests stay quick.
std::shared_ptr<ChatModel> model_on(const TestEndpoint& endpoint, const std::string& provider,
                                    Json extra = Json::object()) {
  Json config = {{"provider", provider},
                 {"base_url", endpoint.base_url() + "/v1"},
                 {"model", "test-model"},
                 {"api_key", "sk-test-secret-key-1234567890"},
                 {"timeout_ms", 2000},
                 {"retry", {{"max_attempts", 3}, {"base_delay_ms", 10}, {"max_delay_ms", 50}}}};
  config.update(extra);
  return make_chat_model(config);
}

ChatRequest ask(std::string text) {
  ChatRequest r;
  r.messages.push_back(Message::user(std::move(text)));
  return r;
}

Error chat_error(ChatModel& model, ChatRequest request = ask("hi"), CallOptions options = {}) {
  try {
    (void)model.chat(std::move(request), std::move(options));
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an error");
  return Error(Errc::internal, "no error");
}

ChatRequest weather_request() {
  ChatRequest r = ask("Weather in Paris?");
  ToolSpec tool;
  tool.name = "weather";
  tool.description = "Current weather for a city";
  tool.parameters = {{"type", "object"},
                     {"properties", {{"city", {{"type", "string"}}}}},
                     {"required", {"city"}}};
  r.tools.push_back(tool);
  return r;
}

}  // namespace

TEST_CASE("openai: a text answer with usage") {
  TestEndpoint endpoint({Reply::openai_text("Hello there", 7, 2)});
  auto model = model_on(endpoint, "openai");
  auto response = model->chat(ask("hi"));
  CHECK(response.message.content == "Hello there");
  CHECK(response.finish_reason == "stop");
  CHECK(response.usage.input_tokens == 7);
  CHECK(response.usage.output_tokens == 2);
  auto requests = endpoint.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/v1/chat/completions");
  CHECK(requests[0].header("authorization") == "Bearer sk-test-secret-key-1234567890");
  Json body = Json::parse(requests[0].body);
  CHECK(body["model"] == "test-model");
  CHECK(body["messages"][0] == Json{{"role", "user"}, {"content", "hi"}});
}

TEST_CASE("openai: tools and tool_calls round trip") {
  TestEndpoint endpoint({Reply::openai_tool_calls({{"call_9", "weather", R"({"city":"Paris"})"}}),
                         Reply::openai_text("21 degrees")});
  auto model = model_on(endpoint, "openai");
  ChatRequest request = weather_request();
  request.tool_choice = "weather";
  auto first = model->chat(request);
  CHECK(first.finish_reason == "tool_calls");
  REQUIRE(first.message.tool_calls.size() == 1);
  CHECK(first.message.tool_calls[0].id == "call_9");
  CHECK(first.message.tool_calls[0].arguments["city"] == "Paris");

  request.tool_choice.clear();
  request.messages.push_back(first.message);
  request.messages.push_back(Message::tool_result("call_9", "weather", R"({"temp": 21})"));
  CHECK(model->chat(request).message.content == "21 degrees");

  auto requests = endpoint.requests();
  Json sent = Json::parse(requests[0].body);
  CHECK(sent["tools"][0]["type"] == "function");
  CHECK(sent["tools"][0]["function"]["name"] == "weather");
  CHECK(sent["tool_choice"]["function"]["name"] == "weather");
  Json second = Json::parse(requests[1].body);
  CHECK(second["messages"][1]["tool_calls"][0]["function"]["arguments"] == R"({"city":"Paris"})");
  CHECK(second["messages"][2] ==
        Json{{"role", "tool"}, {"tool_call_id", "call_9"}, {"content", R"({"temp": 21})"}});
}

TEST_CASE("openai: JSON response format is requested") {
  TestEndpoint endpoint({Reply::openai_text("{\"ok\": true}")});
  auto model = model_on(endpoint, "openai");
  ChatRequest request = ask("json please");
  request.json_response = true;
  (void)model->chat(request);
  CHECK(Json::parse(endpoint.requests()[0].body)["response_format"]["type"] == "json_object");
}

TEST_CASE("openai: streamed text and tool-call arguments are reassembled") {
  TestEndpoint endpoint({Reply::openai_stream_text({"Hel", "lo ", "world"}),
                         Reply::openai_stream_tool_call("call_1", "weather", {"{\"ci", "ty\": \"Pa", "ris\"}"})});
  auto model = model_on(endpoint, "openai");
  std::string streamed;
  CallOptions options;
  options.on_delta = [&](const StreamDelta& d) { streamed += d.text; };
  auto text = model->chat(ask("hi"), options);
  CHECK(streamed == "Hello world");
  CHECK(text.message.content == "Hello world");
  CHECK(Json::parse(endpoint.requests()[0].body)["stream"] == true);

  std::string arguments;
  std::string name;
  options.on_delta = [&](const StreamDelta& d) {
    if (d.kind == StreamDelta::Kind::tool_call) {
      arguments += d.arguments;
      name += d.name;
    }
  };
  auto call = model->chat(weather_request(), options);
  CHECK(name == "weather");
  CHECK(arguments == "{\"city\": \"Paris\"}");
  REQUIRE(call.message.tool_calls.size() == 1);
  CHECK(call.message.tool_calls[0].arguments["city"] == "Paris");
  CHECK(call.finish_reason == "tool_calls");
}

TEST_CASE("anthropic: system prompt, tool_use and tool_result blocks") {
  TestEndpoint endpoint({Reply::anthropic_tool_use("toolu_1", "weather", {{"city", "Paris"}}, "Let me check."),
                         Reply::anthropic_text("21 degrees", 30, 4)});
  auto model = model_on(endpoint, "anthropic");
  ChatRequest request = weather_request();
  request.messages.insert(request.messages.begin(), Message::system("Be brief."));
  auto first = model->chat(request);
  CHECK(first.finish_reason == "tool_calls");
  CHECK(first.message.content == "Let me check.");
  REQUIRE(first.message.tool_calls.size() == 1);
  CHECK(first.message.tool_calls[0].arguments["city"] == "Paris");
  request.messages.push_back(first.message);
  request.messages.push_back(Message::tool_result("toolu_1", "weather", "21"));
  auto second = model->chat(request);
  CHECK(second.message.content == "21 degrees");
  CHECK(second.usage.input_tokens == 30);

  auto requests = endpoint.requests();
  CHECK(requests[0].path == "/v1/messages");
  CHECK(requests[0].header("x-api-key") == "sk-test-secret-key-1234567890");
  CHECK(requests[0].header("anthropic-version") == "2023-06-01");
  Json sent = Json::parse(requests[1].body);
  CHECK(sent["system"] == "Be brief.");
  CHECK(sent["max_tokens"].get<int>() > 0);
  CHECK(sent["tools"][0]["input_schema"]["required"][0] == "city");
  CHECK(sent["messages"][1]["content"][1]["type"] == "tool_use");
  CHECK(sent["messages"][2]["role"] == "user");
  CHECK(sent["messages"][2]["content"][0] ==
        Json{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "21"}});
}

TEST_CASE("anthropic: streamed text and input_json_delta are reassembled") {
  TestEndpoint endpoint({Reply::anthropic_stream_text({"Bon", "jour"}),
                         Reply::anthropic_stream_tool_use("toolu_2", "weather", {"{\"city\":", " \"Lyon\"}"})});
  auto model = model_on(endpoint, "anthropic");
  std::string streamed;
  CallOptions options;
  options.on_delta = [&](const StreamDelta& d) { streamed += d.text + d.arguments; };
  CHECK(model->chat(ask("hi"), options).message.content == "Bonjour");
  CHECK(streamed == "Bonjour");
  streamed.clear();
  auto call = model->chat(weather_request(), options);
  CHECK(streamed == "{\"city\": \"Lyon\"}");
  REQUIRE(call.message.tool_calls.size() == 1);
  CHECK(call.message.tool_calls[0].id == "toolu_2");
  CHECK(call.message.tool_calls[0].arguments["city"] == "Lyon");
}

TEST_CASE("anthropic: an error event mid-stream is an error, not a partial answer") {
  TestEndpoint endpoint({Reply::anthropic_stream_error({"Hel"}, "overloaded_error", "Overloaded")});
  auto model = model_on(endpoint, "anthropic");
  CallOptions options;
  options.on_delta = [](const StreamDelta&) {};
  Error e = chat_error(*model, ask("hi"), options);
  CHECK(e.code() == Errc::provider);
  CHECK(std::string(e.what()).find("Overloaded") != std::string::npos);
  CHECK(endpoint.requests().size() == 1);  // pieces went out: not retried
}

TEST_CASE("429 with Retry-After is waited for and retried") {
  TestEndpoint endpoint({Reply::error(429, "rate_limit_error", "slow down").with_header("Retry-After", "0.3"),
                         Reply::openai_text("ok")});
  auto model = model_on(endpoint, "openai");
  auto start = std::chrono::steady_clock::now();
  CHECK(model->chat(ask("hi")).message.content == "ok");
  CHECK(std::chrono::steady_clock::now() - start >= 280ms);
  CHECK(endpoint.requests().size() == 2);
}

TEST_CASE("500, 503 and 529 are retried until success") {
  TestEndpoint endpoint({Reply::error(500, "server_error", "boom"), Reply::error(503, "unavailable", "busy"),
                         Reply::openai_text("finally")});
  auto model = model_on(endpoint, "openai");
  CHECK(model->chat(ask("hi")).message.content == "finally");
  TestEndpoint anthropic({Reply::error(529, "overloaded_error", "Overloaded", keel::testing::Provider::anthropic), Reply::anthropic_text("ok")});
  CHECK(model_on(anthropic, "anthropic")->chat(ask("hi")).message.content == "ok");
}

TEST_CASE("a bad request is not retried and carries status, type and message") {
  TestEndpoint endpoint({Reply::error(400, "invalid_request_error", "messages: too long"), Reply::openai_text("never")});
  auto model = model_on(endpoint, "openai");
  Error e = chat_error(*model);
  CHECK(e.code() == Errc::provider);
  CHECK(e.details().http_status == 400);
  CHECK(e.details().provider_type == "invalid_request_error");
  CHECK(std::string(e.what()).find("messages: too long") != std::string::npos);
  CHECK(endpoint.requests().size() == 1);
}

TEST_CASE("the API key never appears in errors") {
  TestEndpoint endpoint({Reply::error(401, "authentication_error",
                                      "Incorrect API key provided: sk-test-secret-key-1234567890")});
  auto model = model_on(endpoint, "openai");
  Error e = chat_error(*model);
  CHECK(e.details().http_status == 401);
  CHECK(std::string(e.what()).find("sk-test-secret-key-1234567890") == std::string::npos);
  CHECK(std::string(e.what()).find("***") != std::string::npos);
}

TEST_CASE("retries run out and the last error is returned") {
  Script script;
  script.default_reply = Reply::error(503, "unavailable", "still busy");
  TestEndpoint endpoint(script);
  auto model = model_on(endpoint, "openai");
  Error e = chat_error(*model);
  CHECK(e.details().http_status == 503);
  CHECK(endpoint.requests().size() == 3);
}

TEST_CASE("malformed JSON and the wrong content type are clear errors") {
  TestEndpoint endpoint({Reply::text("{not json", "application/json"), Reply::text("<html>login</html>", "text/html")});
  auto model = model_on(endpoint, "openai", {{"retry", {{"max_attempts", 1}}}});
  CHECK(chat_error(*model).code() == Errc::parse);
  Error html = chat_error(*model);
  CHECK(html.code() == Errc::provider);
  CHECK(std::string(html.what()).find("text/html instead of JSON") != std::string::npos);
}

TEST_CASE("a truncated stream is an error, retried when nothing was delivered") {
  TestEndpoint endpoint({Reply::openai_stream_text({"a", "b", "c", "d"}).with_fault(Fault::truncate)});
  auto model = model_on(endpoint, "openai", {{"retry", {{"max_attempts", 1}}}});
  CallOptions options;
  options.on_delta = [](const StreamDelta&) {};
  Error e = chat_error(*model, ask("hi"), options);
  CHECK((e.code() == Errc::io || e.code() == Errc::parse));
}

TEST_CASE("a refused connection is unavailable and retried") {
  Json config = {{"provider", "openai"},
                 {"base_url", "http://127.0.0.1:" + std::to_string(TestEndpoint::unused_port())},
                 {"model", "m"},
                 {"retry", {{"max_attempts", 2}, {"base_delay_ms", 5}}}};
  auto model = make_chat_model(config);
  Error e = chat_error(*model);
  CHECK(e.code() == Errc::unavailable);
  CHECK(is_retryable(e));
}

TEST_CASE("a server that never answers times out per attempt") {
  Script script;
  script.default_reply = Reply::openai_text("late").with_fault(Fault::stall);
  TestEndpoint endpoint(script);
  auto model = model_on(endpoint, "openai", {{"timeout_ms", 200}, {"retry", {{"max_attempts", 2}, {"base_delay_ms", 5}}}});
  auto start = std::chrono::steady_clock::now();
  Error e = chat_error(*model);
  CHECK(e.code() == Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("a closed connection and a reset are retried") {
  TestEndpoint endpoint({Reply::openai_text("x").with_fault(Fault::close),
                         Reply::openai_text("x").with_fault(Fault::reset), Reply::openai_text("third time")});
  auto model = model_on(endpoint, "openai");
  CHECK(model->chat(ask("hi")).message.content == "third time");
}

TEST_CASE("the fallback chain answers when the primary fails") {
  Script failing;
  failing.default_reply = Reply::error(503, "unavailable", "down");
  TestEndpoint primary(failing);
  TestEndpoint secondary({Reply::anthropic_text("from the fallback")});
  Json config = {{"provider", "openai"}, {"base_url", primary.base_url()}, {"model", "a"},
                 {"retry", {{"max_attempts", 1}}},
                 {"fallback", {{{"provider", "anthropic"}, {"base_url", secondary.base_url()},
                                {"model", "b"}, {"retry", {{"max_attempts", 1}}}}}}};
  auto model = make_chat_model(config);
  CHECK(model->provider() == "fallback");
  auto response = model->chat(ask("hi"));
  CHECK(response.message.content == "from the fallback");
}

TEST_CASE("the circuit breaker opens after failures and fails fast") {
  Script failing;
  failing.default_reply = Reply::error(500, "server_error", "down");
  TestEndpoint endpoint(failing);
  auto model = model_on(endpoint, "openai",
                        {{"retry", {{"max_attempts", 1}}},
                         {"circuit_breaker", {{"window_size", 4}, {"minimum_calls", 4},
                                              {"failure_rate_threshold", 0.5}, {"wait_in_open_ms", 60000}}}});
  for (int i = 0; i < 4; ++i) CHECK(chat_error(*model).code() == Errc::provider);
  Error open = chat_error(*model);
  CHECK(open.code() == Errc::unavailable);
  CHECK(endpoint.requests().size() == 4);  // the fifth call never left the process
}

TEST_CASE("a call can be cancelled while waiting") {
  Script slow;
  slow.default_reply = Reply::openai_text("late").with_delay(5s);
  TestEndpoint endpoint(slow);
  auto model = model_on(endpoint, "openai", {{"timeout_ms", 10000}});
  CancellationSource cancel;
  CallOptions options;
  options.cancel = cancel.token();
  std::promise<Result<ChatResponse>> result;
  model->chat_async(ask("hi"), options, [&](Result<ChatResponse> r) { result.set_value(std::move(r)); });
  REQUIRE(endpoint.wait_for_requests(1, 2s));
  auto start = std::chrono::steady_clock::now();
  cancel.cancel();
  auto future = result.get_future();
  REQUIRE(future.wait_for(2s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(future.get().error().code() == Errc::cancelled);
}

TEST_CASE("a deadline bounds the whole call, retries included") {
  Script slow;
  slow.default_reply = Reply::error(503, "unavailable", "busy").with_delay(150ms);
  TestEndpoint endpoint(slow);
  auto model = model_on(endpoint, "openai", {{"retry", {{"max_attempts", 10}, {"base_delay_ms", 100}}}});
  CallOptions options;
  options.deadline = Deadline::after(500ms);
  auto start = std::chrono::steady_clock::now();
  (void)chat_error(*model, ask("hi"), options);
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
}

TEST_CASE("many concurrent calls need no thread each") {
  Script script;
  script.default_reply = Reply::openai_text("ok").with_delay(300ms).repeated();
  TestEndpoint endpoint(script);
  Executor executor(Executor::Options{2});
  Json config = {{"provider", "openai"}, {"base_url", endpoint.base_url()}, {"model", "m"}};
  ModelContext context;
  context.executor = &executor;
  auto model = make_chat_model(config, context);
  constexpr int calls = 200;
  std::atomic<int> ok{0}, finished{0};
  std::promise<void> all;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) {
    model->chat_async(ask("hi"), {}, [&](Result<ChatResponse> r) {
      if (r.ok()) ok++;
      if (++finished == calls) all.set_value();
    });
  }
  REQUIRE(all.get_future().wait_for(20s) == std::future_status::ready);
  CHECK(ok == calls);
  // Two threads, two hundred 300 ms waits: concurrent, not serial (serial would be 60 s).
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("model configuration errors name the JSON path") {
  auto message = [](Json config) {
    try {
      (void)make_chat_model(config);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({{"provider", "openai"}, {"base_url", "http://x"}}) == "model: required");
  CHECK(message({{"provider", "gemini"}}).starts_with("provider: must be one of"));
  CHECK(message({{"provider", "openai"}, {"base_url", "ftp://x"}, {"model", "m"}}) ==
        "base_url: must start with http:// or https://");
  CHECK(message({{"provider", "openai"}, {"base_url", "http://x"}, {"model", "m"},
                 {"retry", {{"jiter", "full"}}}})
            .starts_with("retry.jiter: unknown key"));
  CHECK(message({{"provider", "openai"}, {"base_url", "http://x"}, {"model", "m"},
                 {"fallback", {{{"provider", "openai"}, {"base_url", "http://y"}}}}}) ==
        "fallback[0].model: required");
  CHECK(message({{"provider", "openai"}, {"base_url", "https://api.openai.com/v1"}, {"model", "m"},
                 {"api_key_env", "KEEL_TEST_UNSET_KEY"}}) ==
        "api_key_env: $KEEL_TEST_UNSET_KEY is not set (api.openai.com needs an API key)");
}

TEST_CASE("openai embeddings are batched and their dimension checked") {
  // Batches go out concurrently and the endpoint answers in arrival order, so both batch replies
  // are alike; which batch got which is checked through the recorded inputs.
  TestEndpoint endpoint({Reply::openai_embeddings({{1, 0, 0}, {0, 1, 0}}),
                         Reply::openai_embeddings({{1, 0, 0}, {0, 1, 0}}),
                         Reply::openai_embeddings({{1, 0}})});
  Json config = {{"provider", "openai"}, {"base_url", endpoint.base_url()}, {"model", "emb"},
                 {"dimension", 3}, {"batch_size", 2}, {"retry", {{"max_attempts", 1}}}};
  auto embedder = make_embedder(config);
  auto vectors = embedder->embed_batch({"a", "b", "c", "d"});
  REQUIRE(vectors.size() == 4);
  CHECK(vectors[1] == std::vector<float>{0, 1, 0});
  CHECK(vectors[3] == std::vector<float>{0, 1, 0});
  auto requests = endpoint.requests();
  REQUIRE(requests.size() == 2);
  std::set<Json> inputs = {Json::parse(requests[0].body)["input"], Json::parse(requests[1].body)["input"]};
  CHECK(inputs == std::set<Json>{Json{"a", "b"}, Json{"c", "d"}});
  try {
    (void)embedder->embed("e");
    FAIL("expected a dimension error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("have 2 dimensions, expected 3") != std::string::npos);
  }
}

TEST_CASE("a server that ignores stream and answers with one JSON body still answers") {
  for (std::string provider : {"openai", "anthropic"}) {
    CAPTURE(provider);
    TestEndpoint endpoint({provider == "openai" ? Reply::openai_text("whole answer") : Reply::anthropic_text("whole answer")});
    auto model = model_on(endpoint, provider);
    std::vector<std::string> pieces;
    CallOptions options;
    options.on_delta = [&](const StreamDelta& d) { pieces.push_back(d.text); };
    auto response = model->chat(ask("hi"), options);
    CHECK(response.message.content == "whole answer");
    CHECK(pieces == std::vector<std::string>{"whole answer"});
  }
}
