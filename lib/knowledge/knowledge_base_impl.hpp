// Internal: KnowledgeBase::Impl, shared by knowledge_base.cpp (open, writes, maintenance),
// vector_store.cpp (the HNSW index: load, catch up, rebuild, save) and search.cpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "keel/executor.hpp"
#include "keel/knowledge.hpp"
#include "keel/llm.hpp"
#include "knowledge/ranking.hpp"
#include "knowledge/schema.hpp"
#include "knowledge/snippet.hpp"
#include "knowledge/sqlite.hpp"
#include "vector/hnsw_index.hpp"

namespace keel {

namespace knowledge {
/// Compiles into `connection`'s statement cache what every search runs (search.cpp).
void prepare_search_statements(Connection& connection);
/// The index's form of the option.
inline vector::Quantization index_quantization(VectorQuantization quantization) {
  return quantization == VectorQuantization::int8 ? vector::Quantization::int8
                                                  : vector::Quantization::none;
}
}  // namespace knowledge

struct KnowledgeBase::Impl {
  std::string path;
  bool memory = false;  // ":memory:": one connection, no index file
  KnowledgeOptions options;
  std::size_t dimension = 0;
  bool cosine = true;
  std::uint64_t owner = 0;
  std::shared_ptr<Embedder> embedder;
  std::unique_ptr<Executor> index_executor;  // index_threads > 1

  // The writer. write_mutex serialises every write; in a memory base memory_mutex also guards
  // every use of `writer` (the only connection), reads included. Order: write_mutex first.
  // A file base opens its writer on the first write (or at once, to make the schema).
  std::mutex write_mutex;
  std::mutex memory_mutex;
  std::unique_ptr<knowledge::Connection> writer;
  std::unique_ptr<knowledge::Snippets> writer_snippets;  // a memory base's searches (memory_mutex)
  std::atomic<std::uint64_t> generation{
      0};                            // kb_meta's, as of the last commit (written under write_mutex)
  std::uint64_t pruned_through = 0;  // (write_mutex)
  bool index_changed = false;        // since the index file was written (write_mutex)
  // The document lengths (token_counts below): whether the loader got every one ("saved":
  // from the token_counts table, "counted": from FTS5's docsize table; empty: it failed, and
  // FTS5 is asked row by row), and whether the table holds them as of `generation`. Set by
  // the loader before it is done, then under write_mutex.
  std::string token_counts_source;
  bool token_counts_saved = false;

  // Read connections of a file base, lent to one thread at a time, each with its snippet
  // maker (an FTS5 tokenizer, made on first use; it goes before its connection).
  struct Reader {
    std::unique_ptr<knowledge::Connection> connection;
    std::unique_ptr<knowledge::Snippets> snippets;
  };
  std::mutex pool_mutex;
  std::vector<Reader> pool;

  // Every document's length in tokens, for keel_bm25 (see ranking.hpp); the writer updates it
  // after each commit.
  std::shared_ptr<knowledge::TokenCounts> token_counts = std::make_shared<knowledge::TokenCounts>();

  // The vector index. Compaction builds a new one and swaps it in while searches finish on
  // the old one, so readers take a reference under index_mutex and search without it.
  //
  // A file base's open() does no work per document: a loader thread of its own reads the
  // token counts with the reader open() used, gives that reader to the pool, then takes the
  // index file (read and verified meanwhile by a thread open() started first, see IndexRead),
  // catches it up or rebuilds it. Until it is done, writes wait for it (WriteLease), keyword
  // searches wait for the token counts and whatever needs the index waits in
  // current_index(); other reads (get, count, the graph's) never wait.
  enum class Loading { token_counts, index, done };
  mutable std::mutex index_mutex;
  mutable std::condition_variable index_loaded;  // `loading` moved on (index_mutex)
  Loading loading = Loading::done;               // (index_mutex)
  std::shared_ptr<vector::HnswIndex> index;      // (index_mutex)
  // Why there is no index (index_mutex) until a compaction makes one. Code and text rather
  // than an Error, so that each thread that reports it throws an Error of its own.
  std::optional<std::pair<Errc, std::string>> load_failure;
  std::atomic<bool> stop_loading{false};  // close() asks the loader to give up
  // The loader's thread is detached, so that a process may end (even with _exit) without
  // joining it; close() and the destructor wait for it to be gone through this block, which
  // the thread shares, so that its very last step never touches a destroyed base.
  struct LoaderExit {
    std::mutex mutex;
    std::condition_variable gone;
    bool done = false;  // (mutex)
  };
  std::shared_ptr<LoaderExit> loader_exit;  // set by open()
  // The index file, read from the start of open() on by a thread of its own while open()
  // reads which base this is (the loader checks the file against it). The thread shares this
  // block and nothing else, so that the base need not wait for it: close() sets `stop`, and a
  // read that was under way ends on its own. Done before open() is, the thread waits for it:
  // open() hands it the load (`job`), and it becomes the loader (one thread started by open()
  // rather than two), or dismisses it (it started a loader itself, or failed).
  struct IndexFile {
    std::optional<vector::HnswIndex> index;  // none: `rejection` says why
    vector::HnswIndex::FileInfo info;
    std::string rejection;
  };
  struct IndexRead {
    std::mutex mutex;
    std::condition_variable finished;  // done, a job, dismissed or stop
    bool done = false;  // (mutex) `file` is set
    IndexFile file;     // (mutex)
    bool waiting = false;        // (mutex) done, the thread waits for a job
    std::function<void()> job;   // (mutex) the load, handed over by open()
    bool dismissed = false;      // (mutex) no job will come
    std::atomic<bool> stop{false};
  };
  std::shared_ptr<IndexRead> index_read;  // none: no thread could be started (the loader reads)
  std::unique_ptr<knowledge::Connection> loader_connection;  // open()'s reader, which load() takes
  std::thread::id loader_thread;  // (index_mutex) set by the loader itself

  // Written by the loader before `loading` becomes done (and by a compaction after a failed
  // load, under index_mutex); read after, under index_mutex.
  std::string index_state;   // created, loaded, caught_up, rebuilt
  std::string index_reason;  // why an index file was not used as is
  std::atomic<std::uint64_t> compactions{0};
  std::atomic<bool> closed{false};

  Impl() = default;
  ~Impl();  // stops the loader and waits for it if close() did not

  /// A connection for reading: pooled (file base) or the single one (memory base, locked).
  /// Throws Error(closed) once the base is closed.
  class ReadLease {
   public:
    ReadLease(Impl& impl);
    ~ReadLease();
    ReadLease(const ReadLease&) = delete;
    ReadLease& operator=(const ReadLease&) = delete;
    knowledge::Connection& operator*() const { return *connection_; }
    knowledge::Connection* operator->() const { return connection_; }
    /// This connection's snippet maker.
    knowledge::Snippets& snippets();

   private:
    Impl& impl_;
    std::unique_lock<std::mutex> memory_lock_;
    Reader owned_;  // a file base's
    knowledge::Connection* connection_ = nullptr;
    std::unique_ptr<knowledge::Snippets>* snippets_ = nullptr;
  };

  /// The writer connection with the write lock held.
  class WriteLease {
   public:
    explicit WriteLease(Impl& impl);
    knowledge::Connection& operator*() const { return *impl_.writer; }
    knowledge::Connection* operator->() const { return impl_.writer.get(); }

   private:
    Impl& impl_;
    std::unique_lock<std::mutex> write_lock_;
    std::unique_lock<std::mutex> memory_lock_;
  };

  void check_open() const;
  /// The index, once loaded. Throws the load's failure, or Error(invalid_argument) once closed.
  std::shared_ptr<vector::HnswIndex> current_index() const;
  void set_index(std::shared_ptr<vector::HnswIndex> next) {
    std::lock_guard lock(index_mutex);
    index = std::move(next);
  }
  /// Returns once the loader has read the token counts (keyword ranking needs them to be fast,
  /// not to be right: an unknown length is asked of FTS5).
  void wait_for_token_counts() const;
  /// Returns once the loader is done, whether it succeeded or not.
  void wait_for_loader() const;

  // knowledge_base.cpp
  /// Starts the thread that reads the index file (IndexRead); when no thread can be started,
  /// the loader reads it.
  void start_reading_index();
  /// Starts the loader thread (or, when no thread can be started, loads here).
  void start_loading();
  /// The loader's work, with loader_connection: token counts, then that connection to the
  /// pool, then open_index(), then the "kb.index" event.
  void load() noexcept;
  /// A reader connection for a file base: opened, configured, ranking registered.
  std::unique_ptr<knowledge::Connection> open_reader() const;
  /// The writer connection: opened, configured (WAL), ranking registered in a memory base.
  std::unique_ptr<knowledge::Connection> open_writer() const;
  /// Puts a reader in the pool, its search statements compiled, so that the first search
  /// does not compile them. Best effort: a reader that cannot be prepared is dropped, and the
  /// first search opens one and reports why.
  void pool_reader(std::unique_ptr<knowledge::Connection> connection) noexcept;
  /// Asks the loader to give up and waits for it; true when it had loaded the index.
  bool stop_loader();

  // vector_store.cpp — all with the write lock held, or on the loader thread (writes wait for
  // it).
  std::string index_path() const { return path + ".hnsw"; }
  vector::Quantization quantization() const {
    return knowledge::index_quantization(options.hnsw.quantization);
  }
  /// The index file as read before this base's identity was known: of any dimension and owner.
  static IndexFile read_index_file(const std::string& path, vector::Quantization quantization,
                                   const std::atomic<bool>* stop);
  /// The index file read by the IndexRead thread, once it is done (or read here when there is
  /// none). Throws Error(cancelled) when `stop` is set meanwhile.
  IndexFile take_index_file(const std::atomic<bool>* stop);
  /// A memory base's index made, or a file base's: the index file (`file`) taken when it is
  /// this base's and caught up, or the index rebuilt from SQLite, read through `connection`
  /// (null: a reader borrowed from the pool, only if SQLite is to be read). `stop` set (by
  /// close()) abandons it with Error(cancelled).
  void open_index(knowledge::Connection* connection, const std::atomic<bool>* stop = nullptr,
                  IndexFile* file = nullptr);
  /// A new index holding every stored vector.
  std::shared_ptr<vector::HnswIndex> build_index(knowledge::Connection& connection,
                                                 const std::atomic<bool>* stop = nullptr);
  /// Whether the index or the token counts have changed since they were saved.
  bool unsaved() const;
  /// Writes the index file when it changed, then prunes tombstones it no longer needs.
  void save_index(knowledge::Connection& connection);
  /// Rebuilds the index when deleted entries pass the compaction thresholds.
  void maybe_compact(knowledge::Connection& connection);
  void compact_locked(knowledge::Connection& connection);
  /// Adds vectors in batches (uses the index executor when there is one).
  void add_vectors(vector::HnswIndex& target, const std::vector<std::int64_t>& labels,
                   const std::vector<float>& vectors);
};

namespace knowledge {

/// The float32 vector in a BLOB, or nullopt when its size is not `dimension` floats.
bool read_vector_blob(std::string_view blob, std::size_t dimension, float* out);

}  // namespace knowledge

}  // namespace keel
