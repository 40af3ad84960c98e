// Small helpers shared by the benchmark programs: timing samples and percentiles.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace keel::bench {

using Clock = std::chrono::steady_clock;

inline double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

/// Percentile (0..100) of samples; sorts a copy.
inline double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(index, samples.size() - 1)];
}

/// Runs fn `n` times and returns the duration of each run in microseconds.
template <class Fn>
std::vector<double> sample(int n, Fn&& fn) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto start = Clock::now();
    fn();
    out.push_back(micros(Clock::now() - start));
  }
  return out;
}

inline void report(const char* name, const std::vector<double>& us) {
  std::printf("%-44s p50 %9.3f us   p95 %9.3f us   p99 %9.3f us   (n=%zu)\n", name,
              percentile(us, 50), percentile(us, 95), percentile(us, 99), us.size());
}

/// Peak resident set size of this process in KiB (VmHWM), 0 when unknown.
inline long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

/// Current resident set size in KiB (VmRSS).
inline long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

/// Threads of this process now (/proc/self/status), 0 when unknown.
inline int threads_now() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return 0;
}

/// Raises this process's open-file limit to its hard maximum (a thousand sockets each way).
inline void raise_file_limit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

/// The keel_test_endpoint test double in its own process (so its memory and threads are not
/// counted as ours), serving `script_json` (its script format) until destroyed.
class EndpointProcess {
 public:
  explicit EndpointProcess(const std::string& script_json) {
    script_path_ = "/tmp/keel_bench_endpoint_" + std::to_string(::getpid()) + ".json";
    std::ofstream(script_path_) << script_json;
    std::string program = std::string(KEEL_BINARY_DIR) + "/bin/keel_test_endpoint";
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      ::execl(program.c_str(), program.c_str(), script_path_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];  // the endpoint exits when its stdin closes
    out_ = ::fdopen(from_child[0], "r");
    char line[256] = {0};
    if (out_ == nullptr || std::fgets(line, sizeof line, out_) == nullptr) {
      throw std::runtime_error("could not start " + program);
    }
    std::string text = line;
    auto at = text.find("http://");
    base_url_ = text.substr(at, text.find('"', at) - at);
  }
  ~EndpointProcess() {
    ::close(stdin_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    if (out_) std::fclose(out_);
    std::remove(script_path_.c_str());
  }
  EndpointProcess(const EndpointProcess&) = delete;
  EndpointProcess& operator=(const EndpointProcess&) = delete;
  const std::string& base_url() const { return base_url_; }

 private:
  std::string script_path_;
  std::string base_url_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  FILE* out_ = nullptr;
};

}  // namespace keel::bench
