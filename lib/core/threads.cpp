#include "core/threads.hpp"

#include <sched.h>

#include <atomic>
#include <memory>
#include <utility>

namespace keel::detail {

namespace {

thread_local ThreadStart start_of_this_thread;
std::atomic<std::size_t> started_threads{0};

// What the creator hands its new thread: the CPUs to give it back once it has begun elsewhere,
// and when it may.
struct Placement {
  cpu_set_t caller_cpus{};
  ThreadStart start;
  std::atomic<bool> placed{false};
};

}  // namespace

std::size_t threads_started() noexcept {
  return started_threads.load(std::memory_order_relaxed);
}

const ThreadStart& this_thread_start() noexcept {
  return start_of_this_thread;
}

std::thread start_thread_apart(const char* name, std::function<void()> work) {
  auto placement = std::make_shared<Placement>();
  cpu_set_t elsewhere;
  CPU_ZERO(&elsewhere);
  const int here = ::sched_getcpu();
  if (here >= 0 &&
      ::sched_getaffinity(0, sizeof placement->caller_cpus, &placement->caller_cpus) == 0) {
    elsewhere = placement->caller_cpus;
    CPU_CLR(here, &elsewhere);
    placement->start.caller_cpu = here;
  }
  std::thread thread([placement, name, work = std::move(work)] {
    // Kept off the caller's CPU until the caller has said where it may run; then anywhere the
    // caller may (the restriction was only for the start).
    placement->placed.wait(false, std::memory_order_acquire);
    if (placement->start.apart) {
      placement->start.started_cpu = ::sched_getcpu();
      (void)::pthread_setaffinity_np(::pthread_self(), sizeof placement->caller_cpus,
                                     &placement->caller_cpus);
    }
    start_of_this_thread = placement->start;
    name_this_thread(name);
    work();
  });
  started_threads.fetch_add(1, std::memory_order_relaxed);
  // Moving a thread that has not begun yet takes it off this CPU's queue at once (a thread the
  // system put elsewhere already stays there). A failure — a CPU set the system will not
  // have — only leaves the thread where it was put.
  if (CPU_COUNT(&elsewhere) > 0)
    placement->start.apart =
        ::pthread_setaffinity_np(thread.native_handle(), sizeof elsewhere, &elsewhere) == 0;
  placement->placed.store(true, std::memory_order_release);
  placement->placed.notify_one();
  return thread;
}

}  // namespace keel::detail
