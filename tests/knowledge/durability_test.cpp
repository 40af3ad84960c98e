// Durability: SQLite is the truth; the index file is a cache that is loaded, caught up or
// rebuilt, never trusted blindly.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include <sys/wait.h>
#include <unistd.h>

#include "kb_test_support.hpp"
#include "knowledge/sqlite.hpp"

using namespace keel;
using namespace keel::testing;

namespace {

void add_range(KnowledgeBase& kb, int from, int to) {
  std::vector<Document> batch;
  for (int i = from; i < to; ++i) {
    batch.push_back(make_document("d" + std::to_string(i), "token" + std::to_string(i) + " shared",
                                  {{"i", i}}, random_vector(16, static_cast<std::uint64_t>(i))));
  }
  kb.upsert(batch);
}

// Every listed document is its own nearest neighbour and is found by its unique word.
void check_findable(const KnowledgeBase& kb, int from, int to) {
  for (int i = from; i < to; ++i) {
    std::string id = "d" + std::to_string(i);
    SearchQuery vector_query;
    vector_query.vector = random_vector(16, static_cast<std::uint64_t>(i));
    vector_query.use_keyword = false;
    vector_query.k = 1;
    auto v = kb.search(vector_query);
    REQUIRE_MESSAGE(v.hits.size() == 1, id);
    CHECK_MESSAGE(v.hits[0].id == id, id);
    SearchQuery keyword_query;
    keyword_query.text = "token" + std::to_string(i);
    keyword_query.use_vector = false;
    auto k = kb.search(keyword_query);
    REQUIRE_MESSAGE(k.hits.size() == 1, id);
    CHECK(k.hits[0].id == id);
  }
}

std::string index_state(const KnowledgeBase& kb) {
  return kb.stats()["index"].get<std::string>();
}

}  // namespace

TEST_CASE("a file base uses WAL and reloads its saved index file on open") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    CHECK(index_state(kb) == "created");
    add_range(kb, 0, 50);
  }
  CHECK(std::filesystem::exists(path + ".hnsw"));
  {
    knowledge::Connection raw(path, false);
    auto mode = raw.prepare("PRAGMA journal_mode");
    REQUIRE(mode.step());
    CHECK(mode.text(0) == "wal");
  }
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(index_state(kb) == "loaded");
  CHECK(kb.count() == 50);
  check_findable(kb, 0, 50);
}

TEST_CASE("a base's database is read, never mapped (a file cut short under a map is SIGBUS)") {
  // A page of a memory map that a file no longer holds is SIGBUS on the first touch; a read of
  // it is an error SQLite reports. (Reading also costs less than a first fault on a mapped page.)
  TempDir dir;
  std::string path = dir.file("kb.db");
  auto kb = KnowledgeBase::open(path, small_options());
  add_range(kb, 0, 50);
  check_findable(kb, 0, 5);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int mapped = 0;
  while (std::getline(maps, line)) {
    const auto at = line.find(path);
    // (the -wal and -shm files are SQLite's WAL index and log: only the database itself counts)
    if (at != std::string::npos && line.size() == at + path.size()) ++mapped;
  }
  CHECK(mapped == 0);
}

TEST_CASE("a database cut short under an open base fails queries, never the process") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    add_range(kb, 0, 400);
  }
  auto kb = KnowledgeBase::open(path, small_options());
  check_findable(kb, 0, 3);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  int failed = 0;
  for (int i = 0; i < 400; i += 7) {
    SearchQuery query;
    query.text = "token" + std::to_string(i);
    query.vector = random_vector(16, static_cast<std::uint64_t>(i));
    try {
      (void)kb.search(query);
      (void)kb.get("d" + std::to_string(i));
    } catch (const Error&) {
      ++failed;
    }
  }
  CHECK(failed > 0);  // (what lay in the lost half is reported, not read as zeros)
  CHECK_NOTHROW(kb.close());
}

TEST_CASE("an index file older than the database is caught up with the changes since") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  // A child process writes after a checkpoint and dies without closing, as in a crash: the
  // index file on disk is the checkpoint's.
  std::fflush(nullptr);  // or the child inherits unwritten output
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int status = 0;
    try {
      auto kb = KnowledgeBase::open(path, small_options());
      add_range(kb, 0, 40);
      kb.checkpoint();
      add_range(kb, 40, 60);
      kb.upsert(make_document("d5", "token5 shared", {}, random_vector(16, 5)));  // same vector
      kb.remove(std::vector<std::string>{"d1", "d2", "d45"});
      ::_exit(0);  // no destructors: nothing is closed or saved
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(index_state(kb) == "caught_up");
  CHECK(kb.count() == 57);
  check_findable(kb, 3, 45);
  check_findable(kb, 46, 60);
  SearchQuery q;
  q.vector = random_vector(16, 1);
  q.use_keyword = false;
  q.k = 60;
  for (const auto& hit : kb.search(q).hits)
    CHECK(hit.id != "d1");
  CHECK(kb.stats()["deleted_in_index"] == 2);  // d45 never reached the old file
}

TEST_CASE("a garbage, truncated or foreign index file is rebuilt from SQLite") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    add_range(kb, 0, 30);
  }
  SUBCASE("garbage") {
    std::ofstream(path + ".hnsw", std::ios::trunc) << "this is not an index";
  }
  SUBCASE("truncated") {
    auto size = std::filesystem::file_size(path + ".hnsw");
    std::filesystem::resize_file(path + ".hnsw", size / 2);
  }
  SUBCASE("a flipped byte") {
    std::fstream file(path + ".hnsw", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(200);
    file.put('\x5a');
  }
  SUBCASE("another database's index") {
    std::string other = dir.file("other.db");
    {
      auto kb = KnowledgeBase::open(other, small_options());
      add_range(kb, 100, 130);
    }
    std::filesystem::copy_file(other + ".hnsw", path + ".hnsw",
                               std::filesystem::copy_options::overwrite_existing);
  }
  SUBCASE("missing") {
    std::filesystem::remove(path + ".hnsw");
  }
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(index_state(kb) == "rebuilt");
  CHECK_FALSE(kb.stats()["index_reason"].get<std::string>().empty());
  check_findable(kb, 0, 30);
}

TEST_CASE("opened with the other quantization, the index is rebuilt and saved that way") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());  // int8, the default
    add_range(kb, 0, 30);
  }
  auto float32 = small_options();
  float32.hnsw.quantization = VectorQuantization::none;
  {
    auto kb = KnowledgeBase::open(path, float32);
    CHECK(index_state(kb) == "rebuilt");
    CHECK(kb.stats()["index_reason"] == "quantization int8, expected none");
    check_findable(kb, 0, 30);
  }
  {
    auto kb = KnowledgeBase::open(path, float32);  // the rebuilt index was saved as float32
    CHECK(index_state(kb) == "loaded");
    check_findable(kb, 0, 30);
  }
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(index_state(kb) == "rebuilt");
  CHECK(kb.stats()["index_reason"] == "quantization none, expected int8");
  check_findable(kb, 0, 30);
}

TEST_CASE("an index file newer than the database (a restored backup) is rebuilt") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    add_range(kb, 0, 10);
  }
  std::filesystem::copy_file(path, dir.file("backup.db"));
  {
    auto kb = KnowledgeBase::open(path, small_options());
    add_range(kb, 10, 20);
  }
  std::filesystem::copy_file(dir.file("backup.db"), path,
                             std::filesystem::copy_options::overwrite_existing);
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(index_state(kb) == "rebuilt");
  CHECK(kb.count() == 10);
  SearchQuery q;
  q.vector = random_vector(16, 15);
  q.use_keyword = false;
  q.k = 20;
  for (const auto& hit : kb.search(q).hits)
    CHECK(std::stoi(hit.id.substr(1)) < 10);
}

TEST_CASE("the open event comes as open returns, the index event says how the index was obtained") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    add_range(kb, 0, 5);
  }
  auto options = small_options();
  std::mutex mutex;  // the index event comes from the loader's thread
  std::vector<Json> events;
  options.events = [&](const Json& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
  };
  auto kb = KnowledgeBase::open(path, options);
  {
    std::lock_guard lock(mutex);
    REQUIRE_FALSE(events.empty());
    CHECK(events[0]["type"] == "kb.open");
    CHECK(events[0]["index"] == "loading");
  }
  CHECK(index_state(kb) == "loaded");  // waits for the loader
  kb.close();                          // and the loader's last words
  std::lock_guard lock(mutex);
  REQUIRE(events.size() == 2);
  CHECK(events[1]["type"] == "kb.index");
  CHECK(events[1]["index"] == "loaded");
  CHECK(events[1]["duration_us"].get<std::int64_t>() >= 0);
}
