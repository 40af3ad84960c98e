// Subprocess skills' runner: no shell, stdin in, stdout and a stderr tail out, limits enforced,
// the whole process group killed on timeout, cancellation or too much output.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "keel/json.hpp"
#include "tools/subprocess.hpp"

using namespace keel;
using namespace std::chrono_literals;
using tools::SubprocessResult;
using tools::SubprocessSpec;

namespace {

Executor& test_executor() {
  static Executor executor(Executor::Options{2});
  return executor;
}

Result<SubprocessResult> run(const SubprocessSpec& spec, std::string input = "",
                             CancellationToken cancel = {}) {
  std::promise<Result<SubprocessResult>> promise;
  tools::run_subprocess(test_executor(), spec, std::move(input), std::move(cancel),
                        [&](Result<SubprocessResult> r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

SubprocessSpec command(std::vector<std::string> argv) {
  SubprocessSpec spec;
  spec.command = std::move(argv);
  spec.timeout = 10s;
  return spec;
}

bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  stat >> pid_field >> name >> state;
  return state != "Z";
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "keel-tools-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

TEST_CASE("a program reads its stdin and its stdout is the result") {
  auto result = run(command({"python3", "-c",
                             "import sys, json; r = json.load(sys.stdin); "
                             "print(json.dumps({'echo': r['arguments']}))"}),
                    R"({"tool": "echo", "arguments": {"x": 1}, "call_id": "c1"})");
  REQUIRE(result.ok());
  CHECK(result.value().succeeded());
  CHECK(result.value().exit_code == 0);
  CHECK(result.value().output == "{\"echo\": {\"x\": 1}}\n");
  CHECK(result.value().failure().empty());
}

TEST_CASE("arguments reach the program as they are: no shell interprets them") {
  auto result = run(command({"printf", "%s|", "$HOME", "a b", "*", "; rm -rf /"}));
  REQUIRE(result.ok());
  CHECK(result.value().output == "$HOME|a b|*|; rm -rf /|");
}

TEST_CASE("a non-zero exit is a failure carrying the end of stderr") {
  auto spec = command({"sh", "-c", "echo first line >&2; head -c 5000 /dev/zero | tr '\\0' x >&2; "
                                   "echo last words >&2; exit 3"});
  spec.stderr_tail_bytes = 100;
  auto result = run(spec);
  REQUIRE(result.ok());
  const auto& r = result.value();
  CHECK_FALSE(r.succeeded());
  CHECK(r.exit_code == 3);
  CHECK(r.error_tail.size() == 100);
  CHECK(r.error_tail.find("last words") != std::string::npos);
  CHECK(r.failure().find("exited with status 3") != std::string::npos);
  CHECK(r.failure().find("last words") != std::string::npos);
}

TEST_CASE("a timeout kills the program and what it started") {
  TempDir dir;
  const auto pid_file = (dir.path / "child.pid").string();
  auto spec = command({"sh", "-c", "sleep 60 & echo $! > \"$1\"; wait", "sh", pid_file});
  spec.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto result = run(spec);
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(result.ok());
  CHECK(result.value().timed_out);
  CHECK(result.value().signal == SIGKILL);
  CHECK(result.value().failure().find("timed out") != std::string::npos);
  CHECK(elapsed < 5s);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  REQUIRE(grandchild > 0);
  for (int i = 0; i < 100 && process_alive(grandchild); ++i)
    std::this_thread::sleep_for(10ms);
  CHECK_FALSE(process_alive(grandchild));
}

TEST_CASE("what a program leaves running when it exits is killed, so the run ends") {
  auto start = std::chrono::steady_clock::now();
  auto result = run(command({"sh", "-c", "sleep 60 & echo done"}));
  REQUIRE(result.ok());
  CHECK(result.value().succeeded());
  CHECK(result.value().output == "done\n");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("a descendant outside the group holding stdout delays the run only to the timeout") {
  // setsid puts the sleeper in a session of its own, out of reach of the group kill; it keeps
  // the program's stdout open after the program has exited.
  auto spec = command({"sh", "-c", "setsid sleep 3 & sleep 0.2; echo started"});
  spec.timeout = 400ms;
  auto start = std::chrono::steady_clock::now();
  auto result = run(spec);
  REQUIRE(result.ok());
  CHECK(result.value().succeeded());  // it did exit in time, with status 0
  CHECK_FALSE(result.value().timed_out);
  CHECK(result.value().output == "started\n");
  CHECK(std::chrono::steady_clock::now() - start < 2500ms);
}

TEST_CASE("output past the limit kills the program") {
  auto spec = command({"yes"});
  spec.max_output_bytes = 1000;
  auto result = run(spec);
  REQUIRE(result.ok());
  CHECK(result.value().output_exceeded);
  CHECK(result.value().output.size() == 1000);
  CHECK_FALSE(result.value().succeeded());
  CHECK(result.value().failure().find("more output than allowed") != std::string::npos);
}

TEST_CASE("only allowed variables and the spec's own reach the environment") {
  ::setenv("KEEL_TEST_SECRET", "hunter2", 1);
  ::setenv("KEEL_TEST_SHARED", "visible", 1);
  auto spec = command({"env"});
  spec.environment_allow = {"PATH", "KEEL_TEST_SHARED"};
  spec.environment = {{"SKILL_MODE", "test"}};
  auto result = run(spec);
  REQUIRE(result.ok());
  const auto& out = result.value().output;
  CHECK(out.find("KEEL_TEST_SECRET") == std::string::npos);
  CHECK(out.find("KEEL_TEST_SHARED=visible\n") != std::string::npos);
  CHECK(out.find("SKILL_MODE=test\n") != std::string::npos);
  CHECK(out.find("PATH=") != std::string::npos);
  ::unsetenv("KEEL_TEST_SECRET");
  ::unsetenv("KEEL_TEST_SHARED");
}

TEST_CASE("the working directory is the spec's") {
  TempDir dir;
  auto spec = command({"pwd"});
  spec.working_directory = dir.path.string();
  auto result = run(spec);
  REQUIRE(result.ok());
  CHECK(result.value().output ==
        std::filesystem::canonical(dir.path).string() + "\n");
}

TEST_CASE("a program that cannot start is an error naming it, never a throw") {
  auto missing = run(command({"/nonexistent/skill"}));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == Errc::not_found);
  CHECK(std::string(missing.error().what()).find("/nonexistent/skill") != std::string::npos);

  auto spec = command({"true"});
  spec.working_directory = "/nonexistent/dir";
  auto bad_dir = run(spec);
  REQUIRE_FALSE(bad_dir.ok());
  CHECK(std::string(bad_dir.error().what()).find("/nonexistent/dir") != std::string::npos);

  auto empty = run(command({}));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code() == Errc::invalid_argument);
}

TEST_CASE("cancelling kills the program at once") {
  CancellationSource source;
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    source.cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto result = run(command({"sleep", "60"}), "", source.token());
  canceller.join();
  REQUIRE(result.ok());
  CHECK(result.value().cancelled);
  CHECK_FALSE(result.value().succeeded());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("a program that never reads a large input does not hang the run") {
  auto result = run(command({"true"}), std::string(4 << 20, 'x'));
  REQUIRE(result.ok());
  CHECK(result.value().succeeded());
}

TEST_CASE("many programs run at once on two threads") {
  constexpr int n = 40;
  std::vector<std::promise<Result<SubprocessResult>>> promises(n);
  for (int i = 0; i < n; ++i) {
    tools::run_subprocess(test_executor(), command({"sh", "-c", "sleep 0.2; cat"}),
                          "call " + std::to_string(i), {},
                          [&, i](Result<SubprocessResult> r) { promises[i].set_value(std::move(r)); });
  }
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto r = promises[i].get_future().get();
    REQUIRE(r.ok());
    CHECK(r.value().output == "call " + std::to_string(i));
  }
  // Forty 200 ms programs in parallel: far less than their 8 s in sequence.
  CHECK(std::chrono::steady_clock::now() - start < 4s);
}

TEST_CASE("the example skill speaks the protocol: a result, or a failure with its reason") {
  const std::string skill = std::string(KEEL_SOURCE_DIR) + "/examples/skills/lookup_order.py";
  auto found = run(command({"python3", skill}),
                   R"({"tool": "lookup_order", "arguments": {"order_id": "A-1001"}, "call_id": "c1"})");
  REQUIRE(found.ok());
  REQUIRE(found.value().succeeded());
  auto order = Json::parse(found.value().output);
  CHECK(order["status"] == "shipped");
  CHECK(order["order_id"] == "A-1001");

  auto missing = run(command({"python3", skill}),
                     R"({"tool": "lookup_order", "arguments": {"order_id": "Z-9"}, "call_id": "c2"})");
  REQUIRE(missing.ok());
  CHECK(missing.value().exit_code == 1);
  CHECK(missing.value().failure().find("no order 'Z-9'") != std::string::npos);

  auto garbage = run(command({"python3", skill}), "not json");
  REQUIRE(garbage.ok());
  CHECK(garbage.value().exit_code == 2);
  CHECK(garbage.value().failure().find("bad request") != std::string::npos);
}
