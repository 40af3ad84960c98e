// The planner: plans read and validated, DAGs run with Kahn's algorithm, references, failure
// policies, retries, breakers, timeouts, cancellation, llm tasks, planning with re-asks, the
// joiner and re-planning, and resuming from the journal. Models are ScriptedModel (a test double).
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "keel/planner.hpp"
#include "planner/journal.hpp"
#include "test_endpoint.hpp"

using namespace keel;
using namespace std::chrono_literals;

namespace {

Plan plan_of(const char* json) { return Plan::from_json(Json::parse(json)); }

ToolSpec spec(std::string name, Json parameters = Json{{"type", "object"}}) {
  ToolSpec s;
  s.name = std::move(name);
  s.description = "test tool " + s.name;
  s.parameters = std::move(parameters);
  return s;
}

// Test tools: they record what they were called with and how many run at once.
struct Bench {
  std::mutex mutex;
  std::vector<std::pair<std::string, Json>> calls;
  // Shared with the timers of sleeper(), which may fire after a test has ended.
  std::shared_ptr<std::atomic<int>> running_now = std::make_shared<std::atomic<int>>(0);
  std::atomic<int>& running = *running_now;
  std::atomic<int> peak{0};

  void record(const std::string& tool, const Json& args) {
    std::lock_guard lock(mutex);
    calls.emplace_back(tool, args);
  }
  int count(const std::string& tool) {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& c : calls) n += c.first == tool;
    return n;
  }
  Json args_of(const std::string& tool) {
    std::lock_guard lock(mutex);
    for (const auto& c : calls) {
      if (c.first == tool) return c.second;
    }
    return nullptr;
  }

  // Answers `value` after `delay` without holding a thread.
  Tool sleeper(std::string name, std::chrono::milliseconds delay, Json value = "ok") {
    return Tool::asynchronous(spec(name), [this, name, delay, value](Json args, ToolContext, Callback<Json> done) {
      record(name, args);
      int now = ++running;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      Executor::shared().after(delay, [running = running_now, done, value](bool) {
        --*running;
        done(value);
      });
    });
  }
  Tool echo(std::string name) {
    return Tool(spec(name), [this, name](const Json& args, const ToolContext&) {
      record(name, args);
      return args;
    });
  }
  Tool failing(std::string name, int failures, bool idempotent) {
    auto left = std::make_shared<std::atomic<int>>(failures);
    Tool tool(spec(name), [this, name, left](const Json& args, const ToolContext&) -> Json {
      record(name, args);
      if (left->fetch_sub(1) > 0) throw std::runtime_error(name + " is down");
      return "recovered";
    });
    tool.set_idempotent(idempotent);
    return tool;
  }
};

PlannerConfig quick() {
  PlannerConfig config;
  config.retry.base_delay = 1ms;
  config.retry.max_delay = 5ms;
  return config;
}

std::vector<std::string> problems(const std::vector<PlanIssue>& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues) out.push_back(i.to_string());
  return out;
}

bool mentions(const std::vector<PlanIssue>& issues, const std::string& text) {
  for (const auto& i : issues) {
    if (i.to_string().find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a plan is read with its mistakes named by their place") {
  auto plan = plan_of(R"({"tasks": [{"id": "t1", "tool": "search", "args": {"q": "x"}},
                                    {"id": "t2", "tool": "fetch", "args": {"u": "$t1"}, "deps": ["t1"], "timeout_ms": 500}]})");
  REQUIRE(plan.tasks.size() == 2);
  CHECK(plan.tasks[1].timeout == 500ms);
  CHECK(Plan::from_json(plan.to_json()).to_json() == plan.to_json());
  auto expect = [](const char* json, const std::string& text) {
    try {
      (void)plan_of(json);
      FAIL("accepted " << json);
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_argument);
      CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
    }
  };
  expect(R"({})", "tasks: required");
  expect(R"({"tasks": {}})", "tasks: expected array");
  expect(R"({"tasks": [{"tool": "x"}]})", "tasks[0].id");
  expect(R"({"tasks": [{"id": "a", "tool": "x", "args": []}]})", "tasks[0].args");
  expect(R"({"tasks": [{"id": "a", "tool": "x", "deps": "b"}]})", "tasks[0].deps");
  expect(R"({"tasks": [{"id": "a", "tool": "x", "colour": 1}]})", "colour");
}

TEST_CASE("validation names every problem and the tasks of a cycle") {
  Bench bench;
  ToolRegistry tools;
  tools.add(Tool(spec("search", Json::parse(R"({"type": "object", "properties": {"q": {"type": "string"},
      "k": {"type": "integer", "maximum": 50}}, "required": ["q"], "additionalProperties": false})")),
                 [](const Json&, const ToolContext&) { return Json::array(); }));
  tools.add(bench.echo("fetch"));
  Planner planner(quick(), nullptr, tools);

  CHECK(planner.validate(plan_of(R"({"tasks": [{"id": "t1", "tool": "search", "args": {"q": "a"}}]})")).empty());
  auto issues = planner.validate(plan_of(R"({"tasks": [
      {"id": "t1", "tool": "search", "args": {"q": "a"}},
      {"id": "t1", "tool": "fetch"},
      {"id": "t2", "tool": "serch"},
      {"id": "t3", "tool": "fetch", "deps": ["t9"]},
      {"id": "t4", "tool": "fetch", "args": {"u": "${t8.url}"}},
      {"id": "t5", "tool": "search", "args": {"q": 3, "k": 99, "x": 1}},
      {"id": "t6", "tool": "fetch", "deps": ["t6"]},
      {"id": "bad id", "tool": "fetch"},
      {"id": "t7", "tool": "llm", "args": {"prompt": "hi"}}]})"));
  INFO(problems(issues));
  CHECK(mentions(issues, "t1: the id is used by more than one task"));
  CHECK(mentions(issues, "t2: unknown tool \"serch\" (the tools are: search, fetch"));
  CHECK(mentions(issues, "t3: depends on \"t9\", which is not a task of the plan"));
  CHECK(mentions(issues, "t4: refers to \"t8\""));
  CHECK(mentions(issues, "t5: args: q:"));
  CHECK(mentions(issues, "t5: args: k:"));
  CHECK(mentions(issues, "t6: depends on itself"));
  CHECK(mentions(issues, "bad id: an id is"));
  CHECK(mentions(issues, "t7: an llm task needs a model"));

  auto cycle = planner.validate(plan_of(R"({"tasks": [
      {"id": "a", "tool": "fetch"}, {"id": "b", "tool": "fetch", "deps": ["a", "d"]},
      {"id": "c", "tool": "fetch", "args": {"x": "$b"}}, {"id": "d", "tool": "fetch", "deps": ["c"]}]})"));
  REQUIRE(cycle.size() == 1);
  CHECK(cycle[0].to_string().find("cycle") != std::string::npos);
  for (const char* id : {"b", "c", "d"}) CHECK(cycle[0].problem.find(id) != std::string::npos);
  CHECK(cycle[0].problem.find("a ->") == std::string::npos);

  // A referenced argument is checked when its value is known; "$5" in text is no reference.
  CHECK(planner.validate(plan_of(R"({"tasks": [{"id": "t1", "tool": "fetch"},
      {"id": "t2", "tool": "search", "args": {"q": "$t1"}},
      {"id": "t3", "tool": "fetch", "args": {"note": "costs $5 and $HOME"}}]})")).empty());
  CHECK_FALSE(planner.validate(Plan{}).empty());
}

TEST_CASE("independent tasks run at once, bounded by max_parallel, dependents after") {
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.sleeper("work", 150ms, Json{{"n", 1}}));
  tools.add(bench.echo("sum"));
  const char* json = R"({"tasks": [{"id": "a", "tool": "work"}, {"id": "b", "tool": "work"},
      {"id": "c", "tool": "work"}, {"id": "d", "tool": "work"},
      {"id": "total", "tool": "sum", "args": {"parts": ["$a", "$b", "$c", "$d"]}}]})";
  {
    Planner planner(quick(), nullptr, tools);
    auto start = std::chrono::steady_clock::now();
    PlanRun run = planner.run(plan_of(json));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(run.status == "succeeded");
    CHECK(bench.peak == 4);
    CHECK(took < 450ms);
    REQUIRE(run.task("total") != nullptr);
    CHECK(run.task("total")->output["parts"].size() == 4);
    CHECK(run.task("total")->started_us >= run.task("a")->finished_us);
    CHECK_FALSE(run.run_id.empty());
  }
  {
    bench.peak = 0;
    PlannerConfig config = quick();
    config.max_parallel = 2;
    Planner planner(config, nullptr, tools);
    CHECK(planner.run(plan_of(json)).status == "succeeded");
    CHECK(bench.peak == 2);
  }
}

TEST_CASE("references keep their JSON type and reach into fields, arrays and text") {
  Bench bench;
  ToolRegistry tools;
  tools.add(Tool(spec("source"), [](const Json&, const ToolContext&) {
    return Json{{"n", 3}, {"items", {10, 20}}, {"name", "ann"}, {"nested", {{"ok", true}}}};
  }));
  tools.add(bench.echo("sink"));
  Planner planner(quick(), nullptr, tools);
  auto run = planner.run(plan_of(R"json({"tasks": [{"id": "t1", "tool": "source"},
      {"id": "t2", "tool": "sink", "args": {"whole": "$t1", "n": "${t1.n}", "second": "${t1.items.1}",
        "deep": ["${t1.nested.ok}", {"text": "hello $t1 is ${t1.name} (${t1.n})"}]}}]})json"));
  CHECK(run.status == "succeeded");
  Json args = bench.args_of("sink");
  CHECK(args["whole"]["name"] == "ann");
  CHECK(args["n"] == 3);
  CHECK(args["n"].is_number_integer());
  CHECK(args["second"] == 20);
  CHECK(args["deep"][0] == true);
  CHECK(args["deep"][1]["text"].get<std::string>().find("is ann (3)") != std::string::npos);

  // A path that is not there fails that task, naming it.
  auto bad = planner.run(plan_of(R"({"tasks": [{"id": "t1", "tool": "source"},
      {"id": "t2", "tool": "sink", "args": {"x": "${t1.items.7}"}}]})"));
  CHECK(bad.status == "failed");
  CHECK(bad.task("t2")->status == "failed");
  CHECK(bad.task("t2")->error.find("items") != std::string::npos);
}

TEST_CASE("failure policies: fail fast, skip dependents, continue") {
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.failing("broken", 100, false));
  tools.add(bench.sleeper("slow", 300ms));
  tools.add(bench.echo("after"));
  const char* json = R"({"tasks": [{"id": "bad", "tool": "broken"}, {"id": "long", "tool": "slow"},
      {"id": "next", "tool": "after", "args": {"x": "$bad"}}, {"id": "last", "tool": "after", "deps": ["next"]},
      {"id": "free", "tool": "after", "deps": ["long"]}]})";
  SUBCASE("skip_dependents") {
    Planner planner(quick(), nullptr, tools);
    auto run = planner.run(plan_of(json));
    CHECK(run.status == "failed");
    CHECK(run.task("bad")->status == "failed");
    CHECK(run.task("next")->status == "skipped");
    CHECK(run.task("last")->status == "skipped");
    CHECK(run.task("free")->status == "done");
  }
  SUBCASE("fail_fast") {
    PlannerConfig config = quick();
    config.failure_policy = FailurePolicy::fail_fast;
    Planner planner(config, nullptr, tools);
    auto start = std::chrono::steady_clock::now();
    auto run = planner.run(plan_of(json));
    CHECK(std::chrono::steady_clock::now() - start < 250ms);
    CHECK(run.status == "failed");
    CHECK(run.task("long")->status == "cancelled");
    CHECK(run.task("free")->status == "cancelled");
    REQUIRE(run.error);
    CHECK(std::string(run.error->what()).find("bad failed") != std::string::npos);
  }
  SUBCASE("continue") {
    PlannerConfig config = quick();
    config.failure_policy = FailurePolicy::continue_all;
    Planner planner(config, nullptr, tools);
    auto run = planner.run(plan_of(json));
    CHECK(run.task("next")->status == "done");
    CHECK(run.task("next")->output["x"].is_null());
    CHECK(run.task("last")->status == "done");
  }
}

TEST_CASE("retries only for idempotent tools; a breaker per tool; a timeout per task") {
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.failing("flaky", 1, true));
  tools.add(bench.failing("once", 2, false));
  tools.add(bench.sleeper("stuck", 2s));
  PlannerConfig config = quick();
  config.retry.max_attempts = 3;
  config.circuit_breaker = CircuitBreaker::Config{};
  config.circuit_breaker->minimum_calls = 2;
  config.circuit_breaker->window_size = 2;
  Planner planner(config, nullptr, tools);
  auto run = planner.run(plan_of(R"({"tasks": [{"id": "f", "tool": "flaky"}, {"id": "o", "tool": "once"},
      {"id": "s", "tool": "stuck", "timeout_ms": 100}]})"));
  CHECK(run.task("f")->status == "done");
  CHECK(run.task("f")->attempts == 2);
  CHECK(run.task("o")->status == "failed");
  CHECK(run.task("o")->attempts == 1);
  CHECK(run.task("s")->status == "failed");
  CHECK(run.task("s")->error.find("tim") != std::string::npos);
  CHECK(run.task("s")->duration_us < 1000000);

  // "once" has failed twice now (this run and the next): its breaker opens and the third run
  // fails at once without calling it.
  (void)planner.run(plan_of(R"({"tasks": [{"id": "o", "tool": "once"}]})"));
  int calls = bench.count("once");
  auto third = planner.run(plan_of(R"({"tasks": [{"id": "o", "tool": "once"}]})"));
  CHECK(third.task("o")->status == "failed");
  CHECK(third.task("o")->error.find("circuit") != std::string::npos);
  CHECK(bench.count("once") == calls);
}

TEST_CASE("cancelling a run cancels what runs and starts nothing more; events tell each step") {
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.sleeper("slow", 2s));
  tools.add(bench.echo("after"));
  Planner planner(quick(), nullptr, tools);
  std::mutex mutex;
  std::vector<Json> events;
  planner.set_event_sink([&](const Json& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  });
  CancellationSource source;
  PlanRunOptions options;
  options.cancel = source.token();
  std::promise<PlanRun> promise;
  planner.run_async(plan_of(R"({"tasks": [{"id": "a", "tool": "slow"}, {"id": "b", "tool": "after", "deps": ["a"]}]})"),
                    options, [&](PlanRun r) { promise.set_value(std::move(r)); });
  std::this_thread::sleep_for(50ms);
  source.cancel();
  auto future = promise.get_future();
  REQUIRE(future.wait_for(1s) == std::future_status::ready);
  auto run = future.get();
  CHECK(run.status == "cancelled");
  CHECK(run.task("a")->status == "cancelled");
  CHECK(run.task("b")->status == "cancelled");
  CHECK(bench.count("after") == 0);

  auto ok = planner.run(plan_of(R"({"tasks": [{"id": "x", "tool": "after"}, {"id": "y", "tool": "after", "deps": ["x"]}]})"));
  CHECK(ok.status == "succeeded");
  std::lock_guard lock(mutex);
  std::map<std::string, int> states;
  for (const auto& e : events) {
    if (e["type"] == "plan.task" && e["run_id"] == ok.run_id) states[e["state"].get<std::string>()]++;
  }
  CHECK(states["queued"] == 2);
  CHECK(states["started"] == 2);
  CHECK(states["finished"] == 2);
}

TEST_CASE("the model plans (re-asked with the errors), llm tasks write text, the joiner answers") {
  Bench bench;
  ToolRegistry tools;
  tools.add(Tool(spec("search", Json::parse(R"({"type": "object", "properties": {"q": {"type": "string"}},
      "required": ["q"]})")),
                 [](const Json& args, const ToolContext&) { return Json{{"hits", {args["q"].get<std::string>() + " result"}}}; }));
  auto model = std::make_shared<ScriptedModel>(std::vector<Json>{
      {{"content", R"({"tasks": [{"id": "t1", "tool": "serch", "args": {"q": "keel"}}]})"}},
      {{"content", "```json\n{\"tasks\": [{\"id\": \"t1\", \"tool\": \"search\", \"args\": {\"q\": \"keel\"}},"
                   " {\"id\": \"t2\", \"tool\": \"llm\", \"args\": {\"prompt\": \"Summarise ${t1.hits.0}\"}}]}\n```"}},
      {{"content", "keel is a library"}},
      {{"content", R"({"answer": "keel is an embeddable library."})"}}});
  Planner planner(quick(), model, tools);
  auto prompt = planner.planning_prompt("What is keel?");
  CHECK(prompt.find("search") != std::string::npos);
  CHECK(prompt.find("\"required\":[\"q\"]") != std::string::npos);
  CHECK(prompt.find("${t1.field}") != std::string::npos);
  CHECK(prompt.find("Goal: What is keel?") != std::string::npos);

  auto run = planner.solve("What is keel?");
  CHECK(run.status == "succeeded");
  CHECK(run.answer == "keel is an embeddable library.");
  CHECK(run.task("t2")->output == "keel is a library");
  auto requests = model->requests();
  REQUIRE(requests.size() == 4);
  CHECK(requests[1].messages.back().content.find("unknown tool \"serch\"") != std::string::npos);
  CHECK(requests[2].messages[0].content == "Summarise keel result");
  CHECK(requests[3].messages[0].content.find("t1 (search") != std::string::npos);

  // Bounded: a model that never writes a valid plan.
  auto stubborn = std::make_shared<ScriptedModel>(std::vector<Json>{
      {{"content", "no"}}, {{"content", "{}"}}, {{"content", R"({"tasks": []})"}}});
  Planner give_up(quick(), stubborn, tools);
  try {
    (void)give_up.plan("x");
    FAIL("expected no plan");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::parse);
    CHECK(std::string(e.what()).find("3 answers") != std::string::npos);
  }
}

TEST_CASE("planning asynchronously: the plan, or a cancellation that does not wait for the model") {
  ToolRegistry tools;
  tools.add(Tool(spec("search", Json{{"type", "object"}}), [](const Json& args, const ToolContext&) { return args; }));
  auto model = std::make_shared<ScriptedModel>(
      std::vector<Json>{{{"content", R"({"tasks": [{"id": "t1", "tool": "search"}]})"}}});
  Planner planner(quick(), model, tools);
  std::promise<Result<Plan>> planned;
  planner.plan_async("find it", {}, [&](Result<Plan> r) { planned.set_value(std::move(r)); });
  auto plan = planned.get_future().get();
  REQUIRE(plan.ok());
  CHECK(plan.value().tasks.at(0).id == "t1");

  // A model that would answer in a minute: cancelling ends the planning at once.
  auto slow = std::make_shared<ScriptedModel>(
      std::vector<Json>{{{"content", R"({"tasks": [{"id": "t1", "tool": "search"}]})"}}}, Executor::shared(), 60s);
  Planner patient(quick(), slow, tools);
  CancellationSource cancel;
  CallOptions options;
  options.cancel = cancel.token();
  std::promise<Result<Plan>> cancelled;
  auto started = std::chrono::steady_clock::now();
  patient.plan_async("find it", options, [&](Result<Plan> r) { cancelled.set_value(std::move(r)); });
  cancel.cancel();
  auto outcome = cancelled.get_future().get();
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().code() == Errc::cancelled);
  CHECK(std::chrono::steady_clock::now() - started < 10s);

  Planner modelless(quick(), nullptr, tools);
  CHECK_THROWS_AS(modelless.plan_async("x", {}, [](Result<Plan>) {}), Error);
}

TEST_CASE("the joiner may ask for a new plan, once by default") {
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.failing("down", 100, false));
  tools.add(bench.echo("backup"));
  auto model = std::make_shared<ScriptedModel>(std::vector<Json>{
      {{"content", R"({"tasks": [{"id": "t1", "tool": "down"}]})"}},
      {{"content", R"({"replan": "down is down; use backup"})"}},
      {{"content", R"({"tasks": [{"id": "t1", "tool": "backup", "args": {"v": 1}}]})"}},
      {{"content", R"({"answer": "done with backup"})"}}});
  Planner planner(quick(), model, tools);
  auto run = planner.solve("do it");
  CHECK(run.replans == 1);
  CHECK(run.plans.size() == 2);
  CHECK(run.status == "succeeded");
  CHECK(run.answer == "done with backup");
  auto requests = model->requests();
  CHECK(requests[2].messages[0].content.find("use backup") != std::string::npos);
  CHECK(requests[2].messages[0].content.find("\"down\"") != std::string::npos);  // the old plan
  // The last joiner prompt may not offer a re-plan any more.
  CHECK(requests[3].messages[0].content.find("replan") == std::string::npos);
}

TEST_CASE("a run resumes from its journal: finished tasks are reloaded, started ones judged") {
  auto dir = std::filesystem::temp_directory_path() / ("keel_planner_journal_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "journal.sqlite").string();
  std::filesystem::remove(path);
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.echo("fetch"));
  Tool charge = bench.echo("charge");  // not idempotent: never run twice
  tools.add(charge);
  Tool reread = bench.echo("reread");
  reread.set_idempotent(true);
  tools.add(reread);
  Plan plan = plan_of(R"({"tasks": [{"id": "t1", "tool": "fetch", "args": {"v": 1}},
      {"id": "t2", "tool": "charge", "args": {"amount": "$t1"}},
      {"id": "t3", "tool": "reread", "args": {"v": "$t1"}},
      {"id": "t4", "tool": "fetch", "args": {"after": "$t2"}},
      {"id": "t5", "tool": "fetch", "args": {"after": "$t3"}}]})");
  {
    // What a killed process leaves: t1 done, t2 and t3 started.
    planner::Journal journal(path);
    journal.begin_run("r1", "");
    journal.add_plan("r1", 0, plan);
    TaskOutcome t1;
    t1.id = "t1";
    t1.status = "done";
    t1.output = Json{{"v", 1}};
    t1.attempts = 1;
    journal.task_started("r1", 0, "t1", 1);
    journal.task_finished("r1", 0, t1);
    journal.task_started("r1", 0, "t2", 1);
    journal.task_started("r1", 0, "t3", 1);
  }
  PlannerConfig config = quick();
  config.journal = path;
  Planner planner(config, nullptr, tools);
  PlanRunOptions options;
  options.run_id = "r1";
  auto run = planner.run(Plan{}, options);  // the journal has the plan
  CHECK(run.run_id == "r1");
  CHECK(run.task("t1")->status == "done");
  CHECK(run.task("t1")->reloaded);
  CHECK(bench.count("fetch") == 1);  // t5 only: t1 was not run again, t4 was skipped
  CHECK(run.task("t2")->status == "interrupted");
  CHECK(bench.count("charge") == 0);
  CHECK(run.task("t3")->status == "done");
  CHECK(run.task("t4")->status == "skipped");
  CHECK(run.task("t5")->status == "done");
  CHECK(bench.args_of("reread")["v"] == Json{{"v", 1}});

  // Resuming with a different plan is refused; a finished run resumed again reloads all.
  PlanRunOptions again;
  again.run_id = "r1";
  CHECK_THROWS_AS(planner.run(plan_of(R"({"tasks": [{"id": "z", "tool": "fetch"}]})"), again), Error);
  auto third = planner.run(Plan{}, again);
  CHECK(third.task("t1")->reloaded);
  CHECK(third.task("t5")->reloaded);
  CHECK(bench.count("charge") == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a streamed plan: tasks start as they arrive; a bad one stops it and the model is asked again") {
  using keel::testing::Reply;
  Bench bench;
  ToolRegistry tools;
  tools.add(bench.sleeper("work", 50ms, Json{{"ok", true}}));
  SUBCASE("tasks start before the answer is complete") {
    keel::testing::TestEndpoint endpoint(
        {Reply::openai_stream_text({R"({"tasks": [{"id": "t1", "tool": "work", "args": {}},)",
                                    R"( {"id": "t2", "tool": "work", "args": {"after": "${t1.ok}"}}]})"})
             .with_sse_interval(400ms),
         Reply::openai_text(R"({"answer": "both ran"})")});
    auto model = make_chat_model({{"provider", "openai"}, {"base_url", endpoint.base_url() + "/v1"},
                                  {"model", "m"}, {"api_key", "k"}});
    Planner planner(quick(), model, tools);
    auto run = planner.solve("stream it");
    CHECK(run.status == "succeeded");
    CHECK(run.answer == "both ran");
    REQUIRE(run.tasks.size() == 2);
    CHECK(run.tasks[0].id == "t1");
    // t1 ran while the rest of the plan was still 400 ms away.
    CHECK(run.task("t1")->finished_us + 200000 < run.task("t2")->started_us);
    CHECK(bench.args_of("work").is_object());
  }
  SUBCASE("an invalid task stops the streamed run; the re-asked plan runs") {
    auto model = std::make_shared<ScriptedModel>(std::vector<Json>{
        {{"content", R"({"tasks": [{"id": "t1", "tool": "work"}, {"id": "t2", "tool": "nope"}]})"}},
        {{"content", R"({"tasks": [{"id": "t1", "tool": "work"}]})"}},
        {{"content", R"({"answer": "fine"})"}}});
    Planner planner(quick(), model, tools);
    auto run = planner.solve("go");
    CHECK(run.answer == "fine");
    CHECK(run.status == "succeeded");
    auto requests = model->requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[1].messages.back().content.find("t2: unknown tool \"nope\"") != std::string::npos);
  }
}

TEST_CASE("a planner freed during a solve; deadlines, failed answers and model events reported") {
  ToolRegistry tools;
  std::atomic<int> blocking_running{0}, blocking_peak{0};
  tools.add(Tool(spec("block"), [&](const Json&, const ToolContext&) {
    int now = ++blocking_running;
    int seen = blocking_peak.load();
    while (now > seen && !blocking_peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(200ms);
    --blocking_running;
    return Json("done");
  }));
  SUBCASE("blocking host tools posted together run together") {
    Planner planner(quick(), nullptr, tools);
    for (int round = 0; round < 5; ++round) {
      blocking_peak = 0;
      auto run = planner.run(plan_of(R"({"tasks": [{"id": "a", "tool": "block"}, {"id": "b", "tool": "block"}]})"));
      CHECK(run.status == "succeeded");
      CHECK(blocking_peak == 2);
    }
  }
  SUBCASE("the planner may go before its run ends") {
    auto model = std::make_shared<ScriptedModel>(std::vector<Json>{
        {{"content", R"({"tasks": [{"id": "a", "tool": "block"}]})"}}, {{"content", R"({"answer": "ok"})"}}},
        Executor::shared(), 50ms);
    auto planner = std::make_unique<Planner>(quick(), model, tools);
    std::mutex mutex;
    std::vector<std::string> stages;
    planner->set_event_sink([&](const Json& e) {
      std::lock_guard lock(mutex);
      if (e["type"] == "plan.model_call") stages.push_back(e["stage"]);
    });
    std::promise<PlanRun> promise;
    planner->solve_async("go", {}, [&](PlanRun r) { promise.set_value(std::move(r)); });
    planner.reset();
    auto run = promise.get_future().get();
    CHECK(run.answer == "ok");
    std::lock_guard lock(mutex);
    CHECK(stages == std::vector<std::string>{"plan", "join"});
  }
  SUBCASE("the run's deadline is a timeout; a failed answer is a failed run") {
    Planner planner(quick(), nullptr, tools);
    PlanRunOptions options;
    options.deadline = Deadline::after(50ms);
    auto run = planner.run(plan_of(R"({"tasks": [{"id": "a", "tool": "block"}]})"), options);
    CHECK(run.status == "failed");
    REQUIRE(run.error);
    CHECK(run.error->code() == Errc::timeout);

    auto model = std::make_shared<ScriptedModel>(
        std::vector<Json>{{{"content", R"({"tasks": [{"id": "a", "tool": "block"}]})"}}});
    Planner answerless(quick(), model, tools);
    auto solved = answerless.solve("go");
    CHECK(solved.status == "failed");
    CHECK(solved.answer.empty());
    REQUIRE(solved.error);
    CHECK(solved.error->code() == Errc::provider);
  }
  // The timed-out tool still sleeps on its pool thread; it uses this test's counters.
  for (int i = 0; i < 100 && blocking_running > 0; ++i) std::this_thread::sleep_for(10ms);
}
