// Small helpers shared by the benchmark programs: timing samples and percentiles.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
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

}  // namespace keel::bench
