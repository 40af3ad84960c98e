// Opening is cheap: a file base's vector index (and the token counts keyword ranking uses) is
// loaded by a thread of its own. What needs the index waits for it and answers as if open()
// had loaded it; what does not need it goes ahead; a damaged file is still never used.
//
// Some tests hold the loader back by putting a FIFO where the index file goes: the open() of
// it by the thread that reads the index file (from the start of open()) blocks until the test
// opens the other end (then it reads nothing: a truncated file, rebuilt from SQLite), and the
// loader waits for that thread.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "core/threads.hpp"
#include "kb_test_support.hpp"
#include "knowledge/sqlite.hpp"

using namespace keel;
using namespace keel::testing;
using namespace std::chrono_literals;

namespace {

std::string id_of(int i) {
  return "d" + std::to_string(i);
}

// A closed base of documents d<from>..d<to-1>, each with the word "token<i>" and the word
// "shared", and a vector of its own.
void build_base(const std::string& path, int from, int to) {
  auto kb = KnowledgeBase::open(path, small_options());
  std::vector<Document> batch;
  for (int i = from; i < to; ++i) {
    batch.push_back(make_document(id_of(i), "token" + std::to_string(i) + " shared", {{"i", i}},
                                  random_vector(16, static_cast<std::uint64_t>(i))));
  }
  kb.upsert(batch);
  kb.close();
}

std::string nearest(const KnowledgeBase& kb, int i) {
  SearchQuery query;
  query.vector = random_vector(16, static_cast<std::uint64_t>(i));
  query.use_keyword = false;
  query.k = 1;
  auto hits = kb.search(query).hits;
  return hits.empty() ? "" : hits[0].id;
}

std::vector<std::string> keyword_hits(const KnowledgeBase& kb, const std::string& text) {
  SearchQuery query;
  query.text = text;
  query.use_vector = false;
  return hit_ids(kb.search(query));
}

// A FIFO in place of the index file: the open() of it by the thread that reads it waits until
// release() (an empty file then: "truncated header", rebuilt from SQLite).
class HeldIndexFile {
 public:
  explicit HeldIndexFile(std::string path) : path_(std::move(path)) {
    std::filesystem::remove(path_);
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
  }
  ~HeldIndexFile() {
    if (fd_ >= 0) ::close(fd_);
    std::filesystem::remove(path_);
  }
  HeldIndexFile(const HeldIndexFile&) = delete;
  HeldIndexFile& operator=(const HeldIndexFile&) = delete;
  // Opens both ends (which never blocks) and keeps them open: the reader's open() goes
  // through whether it is waiting already or comes later.
  void release() {
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDWR | O_NONBLOCK);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// How many times this process has `path` open: each SQLite connection holds the database file
// open once.
int files_open(const std::string& path) {
  int n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    if (std::filesystem::read_symlink(fd.path(), error) == std::filesystem::path(path)) ++n;
  }
  return n;
}

// What the kernel says the thread named `name` waits in ("" when there is none, or it does
// not tell).
std::string waits_in(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string seen;
    std::getline(comm, seen);
    if (seen != name) continue;
    std::ifstream wchan(task.path() / "wchan");
    std::string where;
    std::getline(wchan, where);
    return where == "0" ? std::string() : where;
  }
  return {};
}

// Whether a thread named `name` is running in this process.
bool thread_named(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string seen;
    std::getline(comm, seen);
    if (seen == name) return true;
  }
  return false;
}

// True once the index file's reader is blocked opening a held index file and the loader waits
// for it (on a futex: it has given its reader to the pool), as their wchan say, 20 times in a
// row; where the kernel does not tell, once half a second has passed.
bool loader_waits_for_held_file() {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  int in_a_row = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string reader = waits_in("keel-kb-read"), loader = waits_in("keel-kb-load");
    if (reader.empty() && loader.empty() && std::chrono::steady_clock::now() + 29500ms > deadline)
      return true;
    const bool on_fifo = reader == "wait_for_partner" || reader.find("fifo") != std::string::npos;
    in_a_row = on_fifo && loader.find("futex") != std::string::npos ? in_a_row + 1 : 0;
    if (in_a_row == 20) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// Declared after the base: releases the loader before the base's destructor waits for it,
// should a check fail first.
struct ReleaseAtEnd {
  HeldIndexFile& held;
  ~ReleaseAtEnd() { held.release(); }
};

}  // namespace

TEST_CASE("searches right after open answer as after the load: vector, keyword and hybrid") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 300);
  auto kb = KnowledgeBase::open(path, small_options());
  // No waiting here: the loader may still be at work.
  for (int i = 0; i < 300; i += 7) {
    CHECK(nearest(kb, i) == id_of(i));
    CHECK(keyword_hits(kb, "token" + std::to_string(i)) == std::vector<std::string>{id_of(i)});
  }
  SearchQuery hybrid;
  hybrid.text = "token42 shared";
  hybrid.vector = random_vector(16, 42);
  auto first = kb.search(hybrid);
  REQUIRE_FALSE(first.hits.empty());
  CHECK(first.hits[0].id == "d42");
  CHECK(first.hits[0].keyword.has_value());
  CHECK(first.hits[0].vector.has_value());
  CHECK(kb.stats()["index"] == "loaded");
  CHECK(hit_ids(kb.search(hybrid)) == hit_ids(first));
}

TEST_CASE(
    "a keyword search goes ahead while the vector index loads, a vector search waits for it") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 50);
  HeldIndexFile held(path + ".hnsw");
  auto kb = KnowledgeBase::open(path, small_options());
  auto keyword = std::async(std::launch::async, [&] { return keyword_hits(kb, "token7"); });
  ReleaseAtEnd release_at_end{held};  // (after the future, whose destructor waits for it)
  REQUIRE(keyword.wait_for(30s) == std::future_status::ready);
  CHECK(keyword.get() == std::vector<std::string>{"d7"});
  CHECK(kb.count() == 50);
  CHECK(kb.get("d7").has_value());

  auto vector = std::async(std::launch::async, [&] { return nearest(kb, 7); });
  CHECK(vector.wait_for(100ms) == std::future_status::timeout);  // the loader is held
  held.release();  // an empty index file: rebuilt from SQLite
  REQUIRE(vector.wait_for(30s) == std::future_status::ready);
  CHECK(vector.get() == "d7");
  auto stats = kb.stats();
  CHECK(stats["index"] == "rebuilt");
  CHECK(stats["index_reason"] == "truncated header");
}

TEST_CASE("a reader is ready before the index: a keyword search while it loads opens none") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 20);
  HeldIndexFile held(path + ".hnsw");
  auto kb = KnowledgeBase::open(path, small_options());
  ReleaseAtEnd release_at_end{held};
  // The loader reads the token counts with open()'s reader, puts it in the pool, then waits
  // for the held index file.
  REQUIRE(loader_waits_for_held_file());
  REQUIRE(files_open(path) == 1);  // that reader, and no writer
  CHECK(keyword_hits(kb, "token3") == std::vector<std::string>{"d3"});
  CHECK(files_open(path) == 1);
  held.release();
  CHECK(kb.stats()["index"] == "rebuilt");  // from SQLite, read with the pool's reader
  CHECK(files_open(path) == 1);
}

TEST_CASE("a search while the lengths are counted waits for open()'s reader, opens none") {
  // The loader reads the lengths keel_bm25 uses with open()'s reader, then pools it. A search
  // made meanwhile waits for both rather than opening a reader of its own (~1 ms, and a cache
  // of its own to fill). Lengths not saved are counted, a row each: long enough here for the
  // search to come first.
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 5000);
  for (const bool keyword : {true, false}) {
    CAPTURE(keyword);
    knowledge::Connection(path, false).exec("DROP TABLE IF EXISTS token_counts");
    std::promise<std::string> source;
    auto options = small_options();
    options.events = [&](const Json& event) {
      if (event["type"] == "kb.index") source.set_value(event["token_counts"]);
    };
    auto kb = KnowledgeBase::open(path, options);
    if (keyword) {
      CHECK(keyword_hits(kb, "token3") == std::vector<std::string>{"d3"});
    } else {
      CHECK(nearest(kb, 3) == "d3");  // by vector alone: waits for the index, after the reader
    }
    CHECK(files_open(path) == 1);
    auto counted = source.get_future();
    REQUIRE(counted.wait_for(30s) == std::future_status::ready);
    CHECK(counted.get() == "counted");
    CHECK(files_open(path) == 1);
  }
}

TEST_CASE("an index file read before open() returns: its reader goes on to load the index") {
  // open() starts the thread that reads the index file first. Done before open() is, that
  // thread loads the index too, and open() starts no second one (with the file held, as above,
  // open() starts the loader). Whether the read is done in time depends on the machine: one
  // open in ten is asked to show it.
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 20);
  int reader_loaded = 0;
  for (int attempt = 0; attempt < 10 && reader_loaded == 0; ++attempt) {
    std::promise<void> loaded;
    auto options = small_options();
    options.events = [&](const Json& event) {
      if (event["type"] == "kb.index") loaded.set_value();
    };
    const std::size_t before = detail::threads_started();
    auto kb = KnowledgeBase::open(path, options);
    REQUIRE(loaded.get_future().wait_for(30s) == std::future_status::ready);
    const std::size_t started = detail::threads_started() - before;
    CHECK(started >= 1);
    CHECK(started <= 2);
    if (started == 1) ++reader_loaded;
    CHECK(kb.stats()["index"] == "loaded");
    CHECK(nearest(kb, 3) == "d3");
  }
  CHECK(reader_loaded == 1);
}

TEST_CASE("the index file is read before the base is known and still checked against it") {
  // The file is read while open() reads the database: of any owner and dimension, then
  // taken only if it is this base's.
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 40);
  const auto other = dir.file("other.db");
  // `other`'s index file in place of the base's: refused for `reason`, the index rebuilt.
  auto refused_for = [&](const std::string& reason) {
    std::filesystem::copy_file(other + ".hnsw", path + ".hnsw",
                               std::filesystem::copy_options::overwrite_existing);
    auto kb = KnowledgeBase::open(path, small_options());
    CHECK(nearest(kb, 7) == "d7");
    auto stats = kb.stats();
    CHECK(stats["index"] == "rebuilt");
    CHECK(stats["index_reason"] == reason);
  };
  SUBCASE("another base's file") {
    build_base(other, 100, 140);
    refused_for("belongs to another database");
  }
  SUBCASE("a file of another dimension") {
    {
      auto kb = KnowledgeBase::open(other, small_options(32));
      kb.upsert(make_document("x", "words", {}, random_vector(32, 1)));
    }
    refused_for("dimension 32, expected 16");
  }
  SUBCASE("open() failing meanwhile leaves the read to end on its own") {
    HeldIndexFile held(path + ".hnsw");
    KnowledgeOptions options = small_options(32);  // the base holds vectors of 16
    CHECK_THROWS_AS(KnowledgeBase::open(path, options), Error);
    held.release();
  }
  SUBCASE("open() failing after the read lets the reader go: it waits for no load") {
    // (A reader done before open() is waits to be handed the load.)
    for (int attempt = 0; attempt < 5; ++attempt) {
      KnowledgeOptions options = small_options(32);  // the base holds vectors of 16
      CHECK_THROWS_AS(KnowledgeBase::open(path, options), Error);
    }
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (thread_named("keel-kb-read") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    CHECK_FALSE(thread_named("keel-kb-read"));
  }
}

TEST_CASE("closing does not wait for the index file's read, held or not") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 30);
  HeldIndexFile held(path + ".hnsw");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    CHECK(keyword_hits(kb, "token3") == std::vector<std::string>{"d3"});
    auto closing = std::async(std::launch::async, [&] { kb.close(); });
    REQUIRE(closing.wait_for(30s) == std::future_status::ready);  // the file still held
    closing.get();
    CHECK_THROWS_AS(kb.count(), Error);
  }
  held.release();  // the read then ends, in a thread of its own
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(nearest(kb, 3) == "d3");
}

TEST_CASE("writes right after open wait for the loader and reach the index and its file") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 100);
  {
    auto kb = KnowledgeBase::open(path, small_options());
    kb.upsert(make_document("new", "fresh words", {}, random_vector(16, 500)));
    kb.remove("d3");
    SearchQuery query;
    query.vector = random_vector(16, 500);
    query.use_keyword = false;
    query.k = 1;
    CHECK(hit_ids(kb.search(query)) == std::vector<std::string>{"new"});
    query.vector = random_vector(16, 3);
    query.k = 100;
    for (const auto& id : hit_ids(kb.search(query)))
      CHECK(id != "d3");
    auto stats = kb.stats();
    CHECK(stats["index"] == "loaded");
    CHECK(stats["index_elements"] == 101);
    CHECK(stats["deleted_in_index"] == 1);
  }
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(kb.stats()["index"] == "loaded");  // the file saved at close has both changes
  CHECK(nearest(kb, 500) == "new");
  CHECK(kb.stats()["deleted_in_index"] == 1);
}

TEST_CASE("a damaged index file is still caught: the first search answers from a rebuild") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 200);
  // The graph's header, a neighbour list, a vector in the middle, the last link list: caught
  // by the checks of the structure or by the checksum.
  for (int where = 0; where < 4; ++where) {
    const auto size = std::filesystem::file_size(path + ".hnsw");
    const std::uintmax_t at = std::array<std::uintmax_t, 4>{100, 190, size / 2, size - 3}[where];
    CAPTURE(at);
    {
      std::fstream file(path + ".hnsw", std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(static_cast<std::streamoff>(at));
      char byte = 0;
      file.get(byte);
      file.seekp(static_cast<std::streamoff>(at));
      file.put(static_cast<char>(byte ^ 0x10));
    }
    {
      auto kb = KnowledgeBase::open(path, small_options());
      for (int i = 0; i < 200; i += 9)
        CHECK(nearest(kb, i) == id_of(i));
      auto stats = kb.stats();
      CHECK(stats["index"] == "rebuilt");
      CHECK_FALSE(stats["index_reason"].get<std::string>().empty());
    }
    // Closing saved the rebuilt index: the next open loads it.
    auto kb = KnowledgeBase::open(path, small_options());
    CHECK(kb.stats()["index"] == "loaded");
  }
}

TEST_CASE("closing while the loader works gives the load up and loses nothing") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 80);
  SUBCASE("close()") {
    HeldIndexFile held(path + ".hnsw");
    auto kb = KnowledgeBase::open(path, small_options());
    ReleaseAtEnd release_at_end{held};
    auto closing = std::async(std::launch::async, [&] { kb.close(); });
    // The loader waits for the held index file: close() asks it to stop (it then gives up
    // instead of rebuilding), and the file is released after.
    std::this_thread::sleep_for(50ms);
    held.release();
    REQUIRE(closing.wait_for(30s) == std::future_status::ready);
    closing.get();
    CHECK_THROWS_AS(kb.count(), Error);
    CHECK_THROWS_AS(nearest(kb, 1), Error);
  }
  SUBCASE("the destructor") {
    HeldIndexFile held(path + ".hnsw");
    auto kb = std::make_unique<KnowledgeBase>(KnowledgeBase::open(path, small_options()));
    ReleaseAtEnd release_at_end{held};
    auto destroying = std::async(std::launch::async, [&] { kb.reset(); });
    std::this_thread::sleep_for(50ms);
    held.release();
    REQUIRE(destroying.wait_for(30s) == std::future_status::ready);
  }
  SUBCASE("a search waiting for the index when close() comes") {
    HeldIndexFile held(path + ".hnsw");
    auto kb = KnowledgeBase::open(path, small_options());
    ReleaseAtEnd release_at_end{held};
    auto searching = std::async(std::launch::async, [&] { return nearest(kb, 1); });
    CHECK(searching.wait_for(50ms) == std::future_status::timeout);
    auto closing = std::async(std::launch::async, [&] { kb.close(); });
    std::this_thread::sleep_for(50ms);
    held.release();
    REQUIRE(closing.wait_for(30s) == std::future_status::ready);
    REQUIRE(searching.wait_for(30s) == std::future_status::ready);
    try {
      (void)searching.get();  // closed before the index came
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_argument);
      CHECK(std::string(e.what()).find("closed") != std::string::npos);
    }
  }
  SUBCASE("close() at once while the index is rebuilt") {
    std::filesystem::remove(path + ".hnsw");
    auto kb = KnowledgeBase::open(path, small_options());
    kb.close();
  }
  // Nothing was lost, and nothing half-made was saved: the next open makes the index anew.
  std::filesystem::remove(path + ".hnsw");
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(kb.count() == 80);
  for (int i = 0; i < 80; i += 5)
    CHECK(nearest(kb, i) == id_of(i));
  CHECK(kb.stats()["index"] == "rebuilt");
}

TEST_CASE("the index event says how long the load took and how the index was obtained") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 20);
  std::filesystem::remove(path + ".hnsw");
  auto options = small_options();
  std::mutex mutex;
  std::vector<Json> events;
  options.events = [&](const Json& event) {
    std::lock_guard lock(mutex);
    if (event["type"] == "kb.index") events.push_back(event);
  };
  auto kb = KnowledgeBase::open(path, options);
  (void)kb.stats();
  kb.close();
  std::lock_guard lock(mutex);
  REQUIRE(events.size() == 1);
  CHECK(events[0]["index"] == "rebuilt");
  CHECK(events[0]["index_reason"] == "missing");
  CHECK(events[0]["path"] == path);
}

TEST_CASE("once the index is loaded a reader is ready: the first search opens no connection") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 20);
  auto open_files = [&] { return files_open(path); };
  std::promise<void> loaded;
  auto options = small_options();
  options.events = [&](const Json& event) {
    if (event["type"] == "kb.index") loaded.set_value();
  };
  auto kb = KnowledgeBase::open(path, options);
  REQUIRE(loaded.get_future().wait_for(30s) == std::future_status::ready);
  CHECK(open_files() == 1);  // the reader open() used, now in the pool
  CHECK(keyword_hits(kb, "token3") == std::vector<std::string>{"d3"});
  CHECK(open_files() == 1);
  kb.upsert(make_document("d20", "token20 shared", {}, random_vector(16, 20)));
  CHECK(open_files() == 2);  // the first write opened the writer
  CHECK(keyword_hits(kb, "token20") == std::vector<std::string>{"d20"});
  kb.close();
  CHECK(open_files() == 0);
  auto reopened = KnowledgeBase::open(path, small_options());
  CHECK(reopened.stats()["index"] == "loaded");  // close() saved it with the writer
  CHECK(nearest(reopened, 20) == "d20");
}

TEST_CASE("a base only read is left tidy: SQLite checkpoints its WAL as the last reader closes") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 20);
  const auto index_written = std::filesystem::last_write_time(path + ".hnsw");
  // Another connection commits a change that leaves the index and the lengths current, and
  // stays open while the base is opened: the WAL holds its commit.
  auto other = std::make_unique<knowledge::Connection>(path, false);
  other->exec("UPDATE kb_meta SET value = value");
  REQUIRE(std::filesystem::exists(path + "-wal"));
  {
    auto kb = KnowledgeBase::open(path, small_options());
    CHECK(kb.stats()["index"] == "loaded");
    other.reset();  // (not the last connection: the WAL stays)
    REQUIRE(std::filesystem::exists(path + "-wal"));
    CHECK(keyword_hits(kb, "token1") == std::vector<std::string>{"d1"});
    CHECK(nearest(kb, 1) == "d1");
    kb.close();  // (no writer: nothing to save)
  }
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));  // checkpointed as the reader closed
  CHECK(std::filesystem::last_write_time(path + ".hnsw") == index_written);
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK(kb.count() == 20);
  CHECK(keyword_hits(kb, "token1") == std::vector<std::string>{"d1"});
}

TEST_CASE("the index event's sink may close the base from the loader's thread") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 20);
  HeldIndexFile held(path + ".hnsw");
  std::atomic<KnowledgeBase*> base{nullptr};
  std::promise<void> closed;
  auto options = small_options();
  options.events = [&](const Json& event) {
    if (event["type"] != "kb.index") return;
    if (auto* kb = base.load()) kb->close();  // waits for nothing on this thread
    closed.set_value();
  };
  auto kb = KnowledgeBase::open(path, options);
  base = &kb;
  ReleaseAtEnd release_at_end{held};
  held.release();
  REQUIRE(closed.get_future().wait_for(30s) == std::future_status::ready);
  CHECK_THROWS_AS(kb.count(), Error);
}

TEST_CASE("a load that fails is reported by what needs the index, and compact() recovers") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  build_base(path, 0, 30);
  std::filesystem::remove(path + ".hnsw");  // the loader must rebuild from the vectors table...
  {
    knowledge::Connection raw(path, false);  // ...which is not there
    raw.exec("ALTER TABLE vectors RENAME TO vectors_away");
  }
  auto kb = KnowledgeBase::open(path, small_options());
  CHECK_THROWS_WITH_AS(nearest(kb, 3), doctest::Contains("vectors"), Error);
  CHECK_THROWS_WITH_AS(kb.stats(), doctest::Contains("vectors"), Error);
  CHECK_THROWS_AS(kb.upsert(make_document("new", "fresh", {}, random_vector(16, 99))), Error);
  CHECK(kb.count() == 30);  // nothing was written
  CHECK(keyword_hits(kb, "token3") == std::vector<std::string>{"d3"});
  kb.add_edge({"d1", "d2", "cites", 1.0, Json::object()});  // the graph does not need it

  {
    knowledge::Connection raw(path, false);
    raw.exec("ALTER TABLE vectors_away RENAME TO vectors");
  }
  kb.compact();
  CHECK(nearest(kb, 3) == "d3");
  auto stats = kb.stats();
  CHECK(stats["index"] == "rebuilt");
  CHECK(stats["index_reason"].get<std::string>().find("failed") != std::string::npos);
  kb.upsert(make_document("new", "fresh", {}, random_vector(16, 99)));
  CHECK(nearest(kb, 99) == "new");
}
