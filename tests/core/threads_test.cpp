// Threads keel starts alongside its caller: named, begun on another CPU than the caller's when
// there is one, then free to run wherever the caller may.
#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "core/threads.hpp"

using namespace keel::detail;

namespace {

struct Seen {
  ThreadStart start;
  cpu_set_t cpus{};
  std::string name;
};

Seen start_and_look() {
  Seen seen;
  std::thread thread = start_thread_apart("keel-test", [&] {
    seen.start = this_thread_start();
    (void)::sched_getaffinity(0, sizeof seen.cpus, &seen.cpus);
    char name[16] = {};
    (void)::pthread_getname_np(::pthread_self(), name, sizeof name);
    seen.name = name;
  });
  thread.join();
  return seen;
}

// start_and_look() called from a thread of its own (so that holding it to `cpus` leaves the test
// runner alone) that may run on `cpus` only.
Seen start_and_look_from(const cpu_set_t& cpus) {
  Seen seen;
  int held = -1;
  std::thread([&] {
    held = ::pthread_setaffinity_np(::pthread_self(), sizeof cpus, &cpus);
    if (held == 0) seen = start_and_look();
  }).join();
  REQUIRE(held == 0);
  return seen;
}

}  // namespace

TEST_CASE(
    "a thread started apart begins on another CPU than its caller's, then may run on all of the "
    "caller's") {
  cpu_set_t all;
  REQUIRE(::sched_getaffinity(0, sizeof all, &all) == 0);
  if (CPU_COUNT(&all) < 2) {
    MESSAGE("one CPU to run on: nothing to keep apart here");
    return;
  }
  for (int i = 0; i < 20; ++i) {
    Seen seen = start_and_look();
    REQUIRE(seen.start.apart);
    CHECK(seen.start.caller_cpu >= 0);
    CHECK(seen.start.started_cpu >= 0);
    CHECK(seen.start.started_cpu != seen.start.caller_cpu);
    CHECK(CPU_EQUAL(&seen.cpus, &all));  // the restriction was for the start only
    CHECK(seen.name == "keel-test");
  }
}

TEST_CASE("a thread started apart by a caller held to some CPUs stays within them") {
  cpu_set_t all;
  REQUIRE(::sched_getaffinity(0, sizeof all, &all) == 0);
  int first = -1, second = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && second < 0; ++cpu) {
    if (!CPU_ISSET(cpu, &all)) continue;
    (first < 0 ? first : second) = cpu;
  }
  SUBCASE("one CPU: the thread runs there, as its caller does") {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    Seen seen = start_and_look_from(one);
    CHECK_FALSE(seen.start.apart);
    CHECK(CPU_EQUAL(&seen.cpus, &one));
  }
  if (second >= 0) {
    SUBCASE("two CPUs: the thread begins on the one its caller is not on, and may use both") {
      cpu_set_t two;
      CPU_ZERO(&two);
      CPU_SET(first, &two);
      CPU_SET(second, &two);
      Seen seen = start_and_look_from(two);
      REQUIRE(seen.start.apart);
      CHECK(CPU_ISSET(seen.start.started_cpu, &two));
      CHECK(seen.start.started_cpu != seen.start.caller_cpu);
      CHECK(CPU_EQUAL(&seen.cpus, &two));
    }
  }
}

TEST_CASE("a thread started apart runs its work once, and can be joined or detached") {
  auto runs = std::make_shared<std::atomic<int>>(0);
  start_thread_apart("keel-test", [runs] { runs->fetch_add(1); }).join();
  CHECK(runs->load() == 1);
  auto done = std::make_shared<std::atomic<bool>>(false);
  start_thread_apart("keel-test", [runs, done] {
    runs->fetch_add(1);
    done->store(true);
    done->notify_one();
  }).detach();
  done->wait(false);
  CHECK(runs->load() == 2);
}
