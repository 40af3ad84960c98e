// keel_test_endpoint — the scripted HTTP TEST DOUBLE of test_endpoint.hpp as a program, for tests
// and benchmarks that cannot share keel's process (Python, Go, the CLI, load tests).
//
//   keel_test_endpoint SCRIPT.json [--port N] [--record FILE]
//
// Listens on 127.0.0.1 only, prints one line `{"port": N, "base_url": "http://127.0.0.1:N"}` to
// stdout once listening, and serves until SIGTERM or SIGINT, or until stdin reaches end of file
// when stdin is a pipe, socket or terminal (give it a pipe and it dies with the harness that
// holds the other end). With --record, appends one JSON line per request received:
// {"method", "path", "headers", "body", "received_at_ms"}.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "test_endpoint.hpp"

namespace {

constexpr const char* kUsage =
    "usage: keel_test_endpoint SCRIPT.json [--port N] [--record FILE]\n"
    "A scripted OpenAI/Anthropic-format HTTP test double on 127.0.0.1.\n";

struct Arguments {
  std::string script_path;
  int port = 0;
  std::string record_path;
};

std::optional<Arguments> parse_arguments(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--port" || arg == "--record") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--record") {
        args.record_path = value;
        continue;
      }
      try {
        std::size_t used = 0;
        args.port = std::stoi(value, &used);
        if (used != value.size() || args.port < 0 || args.port > 65535) return std::nullopt;
      } catch (const std::exception&) {
        return std::nullopt;
      }
    } else if (!arg.empty() && arg.front() != '-' && args.script_path.empty()) {
      args.script_path = std::string(arg);
    } else {
      return std::nullopt;
    }
  }
  if (args.script_path.empty()) return std::nullopt;
  return args;
}

// A benchmark opens a thousand connections; the default soft limit is often 1024.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// End of file on stdin means "the harness is gone" only for pipes, sockets and terminals; a
// harness that gave us /dev/null or a file stops us with a signal instead.
bool stdin_signals_shutdown() {
  struct stat info {};
  if (fstat(STDIN_FILENO, &info) != 0) return false;
  return S_ISFIFO(info.st_mode) || S_ISSOCK(info.st_mode) || isatty(STDIN_FILENO) != 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = parse_arguments(argc, argv);
  if (!args) {
    std::cerr << kUsage;
    return 2;
  }

  keel::testing::Script script;
  try {
    std::ifstream in(args->script_path);
    if (!in) {
      std::cerr << "keel_test_endpoint: cannot read " << args->script_path << "\n";
      return 2;
    }
    script = keel::testing::TestEndpoint::script_from_json(nlohmann::json::parse(in));
  } catch (const std::exception& e) {
    std::cerr << "keel_test_endpoint: " << args->script_path << ": " << e.what() << "\n";
    return 2;
  }

  std::ofstream record;
  std::mutex record_mutex;
  keel::testing::EndpointOptions options;
  options.port = args->port;
  if (!args->record_path.empty()) {
    record.open(args->record_path, std::ios::app);
    if (!record) {
      std::cerr << "keel_test_endpoint: cannot open " << args->record_path << "\n";
      return 2;
    }
    options.on_request = [&](const keel::testing::ReceivedRequest& request) {
      const std::lock_guard lock(record_mutex);
      record << request.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             << "\n";
      record.flush();  // a harness reads the file while we run
    };
  }

  raise_descriptor_limit();
  std::signal(SIGPIPE, SIG_IGN);
  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // sigwait below is the one place they arrive.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    keel::testing::TestEndpoint endpoint(std::move(script), std::move(options));
    std::printf("{\"port\": %d, \"base_url\": \"%s\"}\n", endpoint.port(),
                endpoint.base_url().c_str());
    std::fflush(stdout);

    if (stdin_signals_shutdown()) {
      std::thread([] {
        char buffer[256];
        while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
        }
        kill(getpid(), SIGTERM);
      }).detach();
    }
    int received = 0;
    sigwait(&stop_signals, &received);
  } catch (const std::exception& e) {
    std::cerr << "keel_test_endpoint: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
