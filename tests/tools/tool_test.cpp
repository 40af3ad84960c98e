// Tool and ToolRegistry: arguments checked before any handler runs, the three kinds of handler,
// failures as errors a model can read, and the tools file.
#include <doctest/doctest.h>

#include <fstream>
#include <future>
#include <thread>

#include "keel/tools.hpp"

using namespace keel;
using namespace std::chrono_literals;

namespace {

ToolSpec add_spec() {
  ToolSpec spec;
  spec.name = "add";
  spec.description = "Adds two integers";
  spec.parameters = Json::parse(R"({"type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "maximum": 1000}},
    "required": ["a", "b"], "additionalProperties": false})");
  return spec;
}

Tool add_tool() {
  return Tool(add_spec(), [](const Json& args, const ToolContext&) {
    return Json{{"sum", args["a"].get<int>() + args["b"].get<int>()}};
  });
}

const std::string skill_path = std::string(KEEL_SOURCE_DIR) + "/examples/skills/lookup_order.py";

Json skill_entry(const std::string& name = "lookup_order") {
  return Json{{"name", name},
              {"description", "Status of an order"},
              {"parameters", Json::parse(R"({"type": "object",
                 "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]})")},
              {"command", {"python3", skill_path}},
              {"timeout_ms", 5000},
              {"idempotent", true}};
}

Error error_of(const Tool& tool, const Json& args, ToolContext context = {}) {
  try {
    tool.call(args, std::move(context));
  } catch (const Error& e) {
    return e;
  }
  FAIL("the call succeeded");
  return Error(Errc::internal, "unreachable");
}

}  // namespace

TEST_CASE("a C++ tool runs on an executor thread with checked arguments") {
  auto tool = add_tool();
  CHECK(tool.call({{"a", 2}, {"b", 3}}) == Json{{"sum", 5}});
  std::thread::id handler_thread;
  Tool where(add_spec(), [&](const Json&, const ToolContext&) {
    handler_thread = std::this_thread::get_id();
    return Json(nullptr);
  });
  where.call({{"a", 1}, {"b", 1}});
  CHECK(handler_thread != std::this_thread::get_id());
}

TEST_CASE("invalid arguments never reach the handler and are listed for the model") {
  bool ran = false;
  Tool tool(add_spec(), [&](const Json&, const ToolContext&) {
    ran = true;
    return Json(nullptr);
  });
  auto error = error_of(tool, {{"a", "2"}, {"b", 5000}, {"c", 1}});
  CHECK_FALSE(ran);
  CHECK(error.code() == Errc::invalid_argument);
  std::string message = error.what();
  CHECK(message.find("invalid arguments for add") != std::string::npos);
  CHECK(message.find("a: ") != std::string::npos);
  CHECK(message.find("b: ") != std::string::npos);
  CHECK(message.find("'c'") != std::string::npos);
  CHECK(tool.check({{"a", 1}, {"b", 2}}).empty());
  CHECK(tool.check({{"a", 1}}).size() == 1);
}

TEST_CASE("a handler's exception is a tool error naming the tool") {
  Tool throws(add_spec(), [](const Json&, const ToolContext&) -> Json {
    throw std::runtime_error("database is down");
  });
  auto error = error_of(throws, {{"a", 1}, {"b", 2}});
  CHECK(error.code() == Errc::tool);
  CHECK(std::string(error.what()) == "add: database is down");

  Tool keel_error(add_spec(), [](const Json&, const ToolContext&) -> Json {
    throw Error(Errc::not_found, "no such account");
  });
  CHECK(error_of(keel_error, {{"a", 1}, {"b", 2}}).code() == Errc::not_found);
}

TEST_CASE("an asynchronous handler completes once, from its own thread") {
  std::vector<std::thread> workers;
  auto tool = Tool::asynchronous(add_spec(), [&](Json args, ToolContext, Callback<Json> done) {
    workers.emplace_back([args, done] {
      std::this_thread::sleep_for(20ms);
      done(Json{{"sum", args["a"].get<int>() + args["b"].get<int>()}});
      done(Json{{"sum", -1}});  // a second completion is ignored
    });
  });
  CHECK(tool.call({{"a", 20}, {"b", 22}}) == Json{{"sum", 42}});
  for (auto& worker : workers)
    worker.join();

  auto throws = Tool::asynchronous(add_spec(), [](Json, ToolContext, Callback<Json>) {
    throw std::runtime_error("refused");
  });
  CHECK(error_of(throws, {{"a", 1}, {"b", 2}}).code() == Errc::tool);
}

TEST_CASE("an answer given once the deadline has passed is a timeout, even before its timer runs") {
  // The handler answers as soon as it sees the deadline passed, racing the deadline's timer:
  // the caller gets the timeout either way (once a handler may know it is too late, its answer
  // must not count).
  Tool eager(add_spec(), [](const Json&, const ToolContext& context) {
    while (!context.deadline.expired()) std::this_thread::sleep_for(100us);
    return Json("late");
  });
  for (int round = 0; round < 20; ++round) {
    ToolContext context;
    context.deadline = Deadline::after(5ms);
    auto error = error_of(eager, {{"a", 1}, {"b", 2}}, context);
    CHECK(error.code() == Errc::timeout);
  }
}

TEST_CASE("a handler still busy at the deadline or a cancellation is not waited for") {
  std::atomic<bool> saw_cancel{false};
  std::atomic<int> finished{0};
  Tool slow(add_spec(), [&](const Json&, const ToolContext& context) {
    for (int i = 0; i < 200 && !context.cancel.cancelled(); ++i) std::this_thread::sleep_for(5ms);
    saw_cancel = context.cancel.cancelled();
    std::this_thread::sleep_for(100ms);  // and finishes late anyway
    ++finished;
    return Json(0);
  });
  ToolContext context;
  context.deadline = Deadline::after(100ms);
  auto start = std::chrono::steady_clock::now();
  auto error = error_of(slow, {{"a", 1}, {"b", 2}}, context);
  CHECK(error.code() == Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - start < 180ms);
  for (int i = 0; i < 100 && finished == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(saw_cancel);

  // Cancelled by the caller: an asynchronous handler that never answers.
  CancellationSource source;
  std::atomic<bool> async_saw_cancel{false};
  auto registrations = std::make_shared<std::vector<CancellationToken::Registration>>();
  auto silent = Tool::asynchronous(add_spec(), [&, registrations](Json, ToolContext c, Callback<Json>) {
    registrations->push_back(c.cancel.on_cancel([&] { async_saw_cancel = true; }));
  });
  ToolContext cancellable;
  cancellable.cancel = source.token();
  std::promise<Result<Json>> outcome;
  silent.call_async({{"a", 1}, {"b", 2}}, cancellable, [&](Result<Json> r) { outcome.set_value(std::move(r)); });
  source.cancel();
  auto future = outcome.get_future();
  REQUIRE(future.wait_for(1s) == std::future_status::ready);
  auto result = future.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::cancelled);
  CHECK(async_saw_cancel);

  // Waiting from an executor thread would deadlock a one-thread executor: refused.
  Executor one(Executor::Options{1});
  std::promise<Errc> code;
  one.post([&] {
    try {
      (void)add_tool().call({{"a", 1}, {"b", 2}}, {}, one);
      code.set_value(Errc::internal);
    } catch (const Error& e) {
      code.set_value(e.code());
    }
  });
  CHECK(code.get_future().get() == Errc::invalid_argument);
  for (int i = 0; i < 100 && finished == 0; ++i) std::this_thread::sleep_for(10ms);
}

TEST_CASE("blocking handlers that hang hold pool threads, never the event loop") {
  Executor one(Executor::Options{1});
  std::atomic<int> released{0};
  Tool hang(add_spec(), [&](const Json&, const ToolContext&) {
    std::this_thread::sleep_for(1500ms);  // ignores its cancellation
    ++released;
    return Json(0);
  });
  std::atomic<int> timed_out{0};
  std::promise<void> all;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    ToolContext context;
    context.deadline = Deadline::after(100ms);
    hang.call_async({{"a", 1}, {"b", 2}}, context, [&](Result<Json> r) {
      if (!r.ok() && r.error().code() == Errc::timeout && ++timed_out == 3) all.set_value();
    }, one);
  }
  // The one event-loop thread stays free: a timer fires on time while the handlers sleep.
  std::promise<std::chrono::steady_clock::duration> fired;
  one.after(50ms, [&](bool) { fired.set_value(std::chrono::steady_clock::now() - start); });
  CHECK(fired.get_future().get() < 400ms);
  REQUIRE(all.get_future().wait_for(1s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(one.blocking_threads() == 3);
  for (int i = 0; i < 300 && released < 3; ++i) std::this_thread::sleep_for(10ms);
  CHECK(released == 3);
}

TEST_CASE("a subprocess skill answers with its JSON, or fails with its reason") {
  auto tool = Tool::from_json(skill_entry());
  CHECK(tool.idempotent());
  REQUIRE(tool.skill_options());
  CHECK(tool.skill_options()->timeout == 5000ms);
  auto order = tool.call({{"order_id", "A-1002"}}, ToolContext{"call-7", {}, {}});
  CHECK(order["status"] == "processing");

  auto missing = error_of(tool, {{"order_id", "Z-1"}});
  CHECK(missing.code() == Errc::tool);
  CHECK(std::string(missing.what()).find("no order 'Z-1'") != std::string::npos);

  CHECK(error_of(tool, {{"order", 1}}).code() == Errc::invalid_argument);
}

TEST_CASE("a skill whose output is not JSON, that is too slow or is cancelled fails clearly") {
  ToolSpec spec;
  spec.name = "chatty";
  SkillOptions options;
  options.command = {"echo", "hello there"};
  auto chatty = Tool::skill(spec, options);
  auto error = error_of(chatty, Json::object());
  CHECK(error.code() == Errc::tool);
  CHECK(std::string(error.what()).find("not JSON: hello there") != std::string::npos);

  spec.name = "slow";
  options.command = {"sleep", "30"};
  options.timeout = 200ms;
  auto slow = Tool::skill(spec, options);
  auto start = std::chrono::steady_clock::now();
  CHECK(error_of(slow, Json::object()).code() == Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - start < 5s);

  options.timeout = 30s;  // the caller's deadline comes first
  auto patient = Tool::skill(spec, options);
  auto late = error_of(patient, Json::object(), ToolContext{"c", Deadline::after(200ms), {}});
  CHECK(late.code() == Errc::timeout);
  CHECK(std::string(late.what()).find("deadline") != std::string::npos);

  CancellationSource source;
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    source.cancel();
  });
  CHECK(error_of(patient, Json::object(), ToolContext{"c", {}, source.token()}).code() ==
        Errc::cancelled);
  canceller.join();
  CHECK(error_of(patient, Json::object(), ToolContext{"c", {}, source.token()}).code() ==
        Errc::cancelled);  // already cancelled: nothing starts
}

TEST_CASE("a tool that cannot be built says why") {
  ToolSpec nameless = add_spec();
  nameless.name = "";
  CHECK_THROWS_AS(Tool(nameless, [](const Json&, const ToolContext&) { return Json(); }), Error);
  ToolSpec bad_schema = add_spec();
  bad_schema.parameters = Json::parse(R"({"type": "nonsense"})");
  try {
    Tool(bad_schema, [](const Json&, const ToolContext&) { return Json(); });
    FAIL("accepted a bad schema");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_argument);
    CHECK(std::string(e.what()).find("tool add: parameters") != std::string::npos);
  }
  CHECK_THROWS_AS(Tool(add_spec(), Tool::Function()), Error);
  CHECK_THROWS_AS(Tool::skill(add_spec(), SkillOptions{}), Error);
}

TEST_CASE("set_idempotent changes this copy only") {
  auto tool = add_tool();
  Tool copy = tool;
  copy.set_idempotent(true);
  CHECK(copy.idempotent());
  CHECK_FALSE(tool.idempotent());
}

TEST_CASE("a registry finds tools by name and lists their specs in order") {
  ToolRegistry registry;
  registry.add(add_tool());
  registry.add(Tool::from_json(skill_entry()));
  CHECK(registry.size() == 2);
  REQUIRE(registry.find("add"));
  CHECK(registry.find("add")->spec().description == "Adds two integers");
  CHECK(registry.find("nope") == nullptr);
  auto specs = registry.specs();
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].name == "add");
  CHECK(specs[1].name == "lookup_order");
  CHECK_THROWS_AS(registry.add(add_tool()), Error);
  CHECK(registry.remove("add"));
  CHECK_FALSE(registry.remove("add"));
  CHECK(registry.size() == 1);
}

TEST_CASE("a tools file is read with every mistake named by its path") {
  auto registry = ToolRegistry::from_json(Json{{"tools", {skill_entry("a"), skill_entry("b")}}});
  CHECK(registry.size() == 2);

  auto expect = [](Json file, const std::string& path) {
    try {
      ToolRegistry::from_json(file);
      FAIL("accepted " << file.dump());
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_config);
      CHECK_MESSAGE(std::string(e.what()).find(path) != std::string::npos, e.what());
    }
  };
  auto no_command = skill_entry();
  no_command.erase("command");
  expect(Json{{"tools", {skill_entry("a"), no_command}}}, "tools[1].command");
  auto misspelt = skill_entry();
  misspelt["timeout"] = 5;
  expect(Json{{"tools", {misspelt}}}, "timeout");
  auto bad_env = skill_entry();
  bad_env["env"] = {{"MODE", 3}};
  expect(Json{{"tools", {bad_env}}}, "tools[0].env.MODE");
  auto bad_timeout = skill_entry();
  bad_timeout["timeout_ms"] = 0;
  expect(Json{{"tools", {bad_timeout}}}, "tools[0].timeout_ms");
  auto bad_schema = skill_entry();
  bad_schema["parameters"] = {{"type", 7}};
  expect(Json{{"tools", {bad_schema}}}, "tools[0].parameters");
  expect(Json{{"tools", {skill_entry("a"), skill_entry("a")}}}, "tools[1].name");
  expect(Json{{"tool", Json::array()}}, "tool");
}

TEST_CASE("ToolRegistry::load reads a file and names it in errors") {
  const std::string path = "/tmp/keel-tools-test-" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream(path) << Json{{"tools", {skill_entry()}}}.dump();
  }
  auto registry = ToolRegistry::load(path);
  CHECK(registry.find("lookup_order")->call({{"order_id", "A-1003"}})["status"] == "refunded");
  {
    std::ofstream(path) << "{not json";
  }
  try {
    ToolRegistry::load(path);
    FAIL("accepted garbage");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::parse);
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
  std::remove(path.c_str());
  CHECK_THROWS_AS(ToolRegistry::load(path), Error);
}
