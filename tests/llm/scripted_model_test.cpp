#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "keel/llm.hpp"

using namespace keel;
using namespace std::chrono_literals;

namespace {
ChatRequest ask(std::string text) {
  ChatRequest r;
  r.messages.push_back(Message::user(std::move(text)));
  return r;
}
}  // namespace

TEST_CASE("a scripted model replays its responses in order and records requests") {
  auto model = ScriptedModel::from_json(Json::parse(R"({"provider": "scripted", "responses": [
      {"content": "first"},
      {"tool_calls": [{"name": "search", "arguments": {"q": "x"}}]},
      {"error": {"code": "provider", "message": "overloaded", "http_status": 529}}]})"));
  CHECK(model->chat(ask("a")).message.content == "first");
  auto second = model->chat(ask("b"));
  CHECK(second.finish_reason == "tool_calls");
  CHECK(second.message.tool_calls[0].name == "search");
  CHECK(second.message.tool_calls[0].id == "call_1");
  try {
    (void)model->chat(ask("c"));
    FAIL("expected the scripted error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::provider);
    CHECK(e.details().http_status == 529);
  }
  CHECK_THROWS_WITH_AS((void)model->chat(ask("d")),
                       "scripted model: no more responses (the script is exhausted)", Error);
  auto requests = model->requests();
  REQUIRE(requests.size() == 4);
  CHECK(requests[1].messages[0].content == "b");
}

TEST_CASE("a scripted model streams text word by word") {
  ScriptedModel model(std::vector<Json>{Json{{"content", "hello brave new world"}}});
  std::vector<std::string> pieces;
  CallOptions options;
  options.on_delta = [&](const StreamDelta& d) { pieces.push_back(d.text); };
  auto response = model.chat(ask("x"), options);
  CHECK(pieces == std::vector<std::string>{"hello", " brave", " new", " world"});
  CHECK(response.message.content == "hello brave new world");
}

TEST_CASE("a delayed scripted call can be cancelled") {
  ScriptedModel model(std::vector<Json>{Json{{"content", "late"}}}, Executor::shared(), 5s);
  CancellationSource cancel;
  CallOptions options;
  options.cancel = cancel.token();
  std::promise<Result<ChatResponse>> result;
  model.chat_async(ask("x"), options, [&](Result<ChatResponse> r) { result.set_value(std::move(r)); });
  cancel.cancel();
  auto future = result.get_future();
  REQUIRE(future.wait_for(2s) == std::future_status::ready);
  auto r = future.get();
  CHECK_FALSE(r.ok());
  CHECK(r.error().code() == Errc::cancelled);
}

TEST_CASE("a bad script names the failing entry") {
  try {
    (void)ScriptedModel::from_json(Json::parse(R"({"responses": [{"content": "ok"}, {"tool_calls": [{"arguments": {}}]}]})"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "responses[1].tool_calls[0].name: required");
  }
}

TEST_CASE("callback models and embedders answer from the host") {
  CallbackModel model([](const ChatRequest& r) {
    ChatResponse out;
    out.message = Message::assistant("echo: " + r.messages.back().content);
    return out;
  });
  CHECK(model.chat(ask("ping")).message.content == "echo: ping");
  CallbackModel failing([](const ChatRequest&) -> ChatResponse { throw Error(Errc::tool, "host says no"); });
  CHECK_THROWS_WITH_AS((void)failing.chat(ask("x")), "host says no", Error);

  CallbackEmbedder embedder(3, [](const std::vector<std::string>& texts) {
    return std::vector<std::vector<float>>(texts.size(), {1, 0, 0});
  });
  CHECK(embedder.embed("x") == std::vector<float>{1, 0, 0});
  CallbackEmbedder wrong(4, [](const std::vector<std::string>& texts) {
    return std::vector<std::vector<float>>(texts.size(), {1, 0, 0});
  });
  CHECK_THROWS_AS((void)wrong.embed("x"), Error);
}

TEST_CASE("the blocking form refuses to run on an executor thread") {
  ScriptedModel model(std::vector<Json>{Json{{"content", "x"}}});
  std::promise<Errc> code;
  Executor::shared().post([&] {
    try {
      (void)model.chat(ask("x"));
      code.set_value(Errc::internal);
    } catch (const Error& e) {
      code.set_value(e.code());
    }
  });
  CHECK(code.get_future().get() == Errc::invalid_argument);
}

TEST_CASE("a host model that hangs: the deadline or a cancellation answers at once") {
  std::atomic<int> returned{0};
  CallbackModel slow([&](const ChatRequest&) {
    std::this_thread::sleep_for(800ms);
    ++returned;
    return ChatResponse{Message::assistant("late"), "stop", {}, "host"};
  });
  ChatRequest request;
  request.messages.push_back(Message::user("hi"));
  CallOptions options;
  options.deadline = Deadline::after(100ms);
  auto start = std::chrono::steady_clock::now();
  try {
    (void)slow.chat(request, options);
    FAIL("expected a timeout");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::timeout);
  }
  CHECK(std::chrono::steady_clock::now() - start < 500ms);

  CancellationSource source;
  CallOptions cancellable;
  cancellable.cancel = source.token();
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    source.cancel();
  });
  try {
    (void)slow.chat(request, cancellable);
    FAIL("expected a cancellation");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::cancelled);
  }
  canceller.join();
  for (int i = 0; i < 200 && returned < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(returned == 2);  // both calls' functions ran to their end; their answers were dropped
}
