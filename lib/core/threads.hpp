// Internal: the threads keel starts — named, as `top -H`, `perf` and debuggers show them, and
// started away from the caller when they are to work alongside it.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>
#include <thread>

namespace keel::detail {

/// Names the calling thread. Linux keeps 15 bytes.
inline void name_this_thread(const char* name) noexcept {
  (void)::pthread_setname_np(::pthread_self(), name);
}

/// Starts a thread named `name` that runs `work` alongside the caller: it begins on a CPU other
/// than the caller's when the caller may run on more than one, then may run anywhere the caller
/// may. A thread started plainly is often queued on its creator's CPU, behind the creator's time
/// slice, even with another CPU idle: 1–3 ms before it begins, and then it takes the creator's
/// CPU from it. Throws std::system_error when no thread can be started.
std::thread start_thread_apart(const char* name, std::function<void()> work);

/// How many threads start_thread_apart has started in this process: for tests.
std::size_t threads_started() noexcept;

/// Where the calling thread, started by start_thread_apart, began: for tests.
struct ThreadStart {
  int caller_cpu = -1;   ///< the CPU its creator ran on; -1 when not known
  int started_cpu = -1;  ///< the CPU it began on, while kept off caller_cpu
  bool apart = false;    ///< whether it was kept off caller_cpu (the caller may use another CPU)
};
const ThreadStart& this_thread_start() noexcept;

}  // namespace keel::detail
