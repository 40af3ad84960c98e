// Crash safety: a writer process killed with SIGKILL at random moments loses no acknowledged
// batch, and the database stays intact and searchable.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <sstream>

#include "crash_data.hpp"
#include "knowledge/sqlite.hpp"

using namespace keel;
using namespace keel::testing;

namespace {

struct Run {
  std::set<int> acknowledged;
  std::string stderr_text;
};

// Starts the writer, waits for its first acknowledged batch (a slow start, as under a
// sanitizer, must not make trials that kill nothing), lets it run `run_for` more, kills it
// and collects every "ack n" it wrote (lines still in the pipe after the kill count too).
Run run_writer_and_kill(const std::string& path, int first_batch,
                        std::chrono::milliseconds run_for) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  std::fflush(nullptr);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    std::string first = std::to_string(first_batch);
    ::execl(KEEL_KB_CRASH_WRITER, KEEL_KB_CRASH_WRITER, path.c_str(), first.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool started = false;
  while (true) {
    if (!started && text.find('\n') != std::string::npos) {
      started = true;
      deadline = std::chrono::steady_clock::now() + run_for;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{out[0], POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready <= 0) continue;
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;  // the writer exited on its own: an error, reported below
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ssize_t n;
  while ((n = ::read(out[0], buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  CHECK_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
                "the writer exited by itself: ", text);
  Run run;
  std::istringstream lines(text);
  std::string word;
  int batch;
  while (lines >> word >> batch) {
    if (word == "ack") run.acknowledged.insert(batch);
  }
  return run;
}

void check_database_intact(const std::string& path) {
  knowledge::Connection raw(path, false);
  auto check = raw.prepare("PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.text(0) == "ok");
  // FTS5 compares its index with the documents table.
  CHECK_NOTHROW(raw.exec("INSERT INTO documents_fts(documents_fts) VALUES ('integrity-check')"));
}

void check_batch_present(const KnowledgeBase& kb, int n) {
  for (int i = 0; i < crash::batch_size; ++i) {
    REQUIRE_MESSAGE(kb.get(crash::document_id(n, i)), crash::document_id(n, i));
  }
  SearchQuery keyword;
  keyword.text = "batch" + std::to_string(n);
  keyword.use_vector = false;
  keyword.k = crash::batch_size + 5;
  CHECK(kb.search(keyword).hits.size() == static_cast<std::size_t>(crash::batch_size));
  int i = n % crash::batch_size;
  SearchQuery nearest;
  nearest.vector = crash::vector_of(n, i);
  nearest.use_keyword = false;
  nearest.k = 1;
  auto hits = kb.search(nearest).hits;
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == crash::document_id(n, i));
}

}  // namespace

TEST_CASE("every acknowledged batch survives a SIGKILL of the writer at a random moment") {
  TempDir dir;
  const std::string path = dir.file("crash.db");
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> run_ms(0, 200);
  std::set<int> acknowledged;
  int next_batch = 0;
  std::set<std::string> index_states;
  constexpr int trials = 24;
  for (int trial = 0; trial < trials; ++trial) {
    CAPTURE(trial);
    auto run = run_writer_and_kill(path, next_batch, std::chrono::milliseconds(run_ms(rng)));
    acknowledged.insert(run.acknowledged.begin(), run.acknowledged.end());
    if (!acknowledged.empty()) next_batch = *acknowledged.rbegin() + 1;

    check_database_intact(path);
    auto kb = KnowledgeBase::open(path, crash::options());
    index_states.insert(kb.stats()["index"].get<std::string>());
    for (int n : acknowledged)
      check_batch_present(kb, n);
    // Closing half the time saves a current index file; otherwise the next open catches up.
    if (trial % 2 == 0) kb.close();
  }
  MESSAGE("batches acknowledged: ", acknowledged.size(),
          ", index states seen: ", index_states.size());
  CHECK(acknowledged.size() >= static_cast<std::size_t>(trials));
}
