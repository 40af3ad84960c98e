// Tools: the round trip of a subprocess skill (spawn, JSON in on stdin, JSON out on stdout,
// exit) through Tool::call, against the same program run by a bare posix_spawn + pipes +
// waitpid loop in the same process (the floor any runner pays), and the cost of checking
// arguments against a schema.
//   build/bin/bench_tools [--runs N]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench.hpp"
#include "keel/tools.hpp"

extern char** environ;

using namespace keel;
using namespace keel::bench;

namespace {

// The floor: spawn, write the request, read the reply, wait — blocking, no limits, no checks.
std::string bare_round_trip(const std::vector<std::string>& command, const std::string& input) {
  int in[2], out[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0) throw Error(Errc::io, "pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> argv;
  for (const auto& arg : command)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) throw Error(Errc::io, "spawn");
  (void)!::write(in[1], input.data(), input.size());
  ::close(in[1]);
  std::string reply;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;)
    reply.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return reply;
}

void round_trip(const char* name, const std::vector<std::string>& command, int runs) {
  ToolSpec spec;
  spec.name = "lookup_order";
  spec.parameters = Json::parse(
      R"({"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]})");
  SkillOptions options;
  options.command = command;
  auto tool = Tool::skill(spec, options);
  const Json arguments = {{"order_id", "A-1001"}};
  const std::string request =
      Json{{"tool", "lookup_order"}, {"arguments", arguments}, {"call_id", "c1"}}.dump();
  std::vector<double> ours, bare;
  for (int i = 0; i < runs; ++i) {  // taking turns, so both see the same machine
    auto start = Clock::now();
    auto result = tool.call(arguments);
    ours.push_back(micros(Clock::now() - start));
    start = Clock::now();
    auto reply = bare_round_trip(command, request);
    bare.push_back(micros(Clock::now() - start));
    if (i == 0 && (result.is_null() || reply.empty())) std::printf("  (no reply)\n");
  }
  std::printf("  %-34s Tool::call p50 %8.0f us   bare spawn+pipes+waitpid p50 %8.0f us  (%.2fx)\n",
              name, percentile(ours, 50), percentile(bare, 50),
              percentile(ours, 50) / percentile(bare, 50));
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 200;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::stoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_tools [--runs N]\n");
      return 2;
    }
  }
  try {
    std::printf("subprocess skill round trip (spawn, JSON on stdin, JSON on stdout, exit), %d runs\n",
                runs);
    round_trip("cat (echoes the request)", {"cat"}, runs);
    round_trip("python3 examples/skills/lookup_order.py",
               {"python3", std::string(KEEL_SOURCE_DIR) + "/examples/skills/lookup_order.py"},
               std::max(runs / 4, 10));

    ToolSpec spec;
    spec.name = "order";
    spec.parameters = Json::parse(R"({"type": "object",
      "properties": {"order_id": {"type": "string", "minLength": 3},
                     "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                     "speed": {"enum": ["standard", "express"]},
                     "tags": {"type": "array", "items": {"type": "string"}}},
      "required": ["order_id", "qty"], "additionalProperties": false})");
    Tool tool(spec, [](const Json&, const ToolContext&) { return Json(nullptr); });
    const Json arguments = {{"order_id", "A-1001"}, {"qty", 2}, {"speed", "express"},
                            {"tags", {"gift", "fragile"}}};
    auto check = sample(20000, [&] { (void)tool.check(arguments); });
    report("  schema check of 4 arguments (valijson)", check);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tools: %s\n", e.what());
    return 1;
  }
  return 0;
}
