// Internal: what an Executor is made of, for library code that drives Asio directly (sockets,
// libcurl's multi interface, pipes to subprocesses).
#pragma once

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "keel/executor.hpp"

namespace keel {

namespace detail {
struct BlockingPool;
struct TimerQueue;
}

struct Executor::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::thread> threads;
  // Services that live on this executor's event loop (the HTTP client's curl multi handle).
  // Declared after `io`, so they are destroyed before it, and only after the threads have
  // been joined (~Executor), so no handler runs while they go.
  std::mutex services_mutex;
  std::shared_ptr<void> http_service;
  // Threads for host code that may block (post_blocking), created on demand.
  std::shared_ptr<detail::BlockingPool> blocking;
  // Every Timer's entry (Executor::after); shared with the timers, which may outlive the
  // executor. Its Asio timer is bound to `io`, declared before it, so it goes first.
  std::shared_ptr<detail::TimerQueue> timers;
};

namespace detail {
/// The io_context behind an executor.
inline asio::io_context& io_context(Executor& executor) {
  return executor.impl().io;
}
/// Runs `fn`, reporting (not propagating) anything it throws: callbacks run on the event loop,
/// where an escaping exception would end the process. The one exception let through is the
/// forced unwind of a thread being ended (pthread_exit), which must not be swallowed.
void run_guarded(const std::function<void()>& fn);
}  // namespace detail

}  // namespace keel
