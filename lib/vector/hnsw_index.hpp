// Internal: an HNSW vector index over hnswlib 0.6.2 for inner-product similarity (cosine on
// unit vectors), shared by the knowledge base and the router.
//
// What it adds to hnswlib:
// - the distance is 1 - dot() with AVX2 + FMA chosen at run time (hnswlib's own spaces only get
//   the SSE the library is compiled for);
// - int8 quantisation on request: each vector kept as a scale and int8 values (dimension + 4
//   bytes instead of 4 x dimension), the graph walked with the query quantised the same way
//   (the dot product in exact integer arithmetic), the candidates found then scored with the
//   query as given (similarities within about 0.01 of the exact ones for unit vectors);
// - thread safety: searches run concurrently under a shared lock, adds, deletions and resizes
//   take it exclusively (hnswlib must not add and search at once); add_batch may still use
//   hnswlib's per-node locks to add from several threads inside that exclusive section;
// - a per-query ef without touching hnswlib's shared ef_ (it asks for max(k, ef) results);
// - capacity that grows by itself;
// - files with a verified header (magic, version, dimension, quantization, owner, generation,
//   count, payload checksum) that are checked completely — sizes, offsets, every neighbour id
//   and level, every int8 scale — before any byte reaches hnswlib, so a truncated, stale or
//   garbage file is rejected, never a crash;
// - its own walk of the graph (hnswlib's searchKnn without its shared counters, which every
//   concurrent search wrote to), keeping internal ids so an int8 index can look at its
//   candidates again with the unquantised query;
// - a cheap load: the file is read once, hashed while each piece is still in cache, and
//   hnswlib's locks for adding (3 MB of mutexes no search touches) are made on the first add.
//
// hnswlib is included by hnsw_index.cpp alone (its header defines non-inline functions).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace keel {
class Executor;
}

namespace keel::vector {

/// How an index keeps its vectors.
enum class Quantization : std::uint32_t {
  none = 0,  ///< 32-bit floats
  int8 = 1,  ///< a float scale and an int8 per dimension
};

/// "none" or "int8": the name the JSON options, stats() and the index file's errors use.
const char* quantization_name(Quantization quantization) noexcept;

class HnswIndex {
 public:
  using Label = std::uint64_t;

  /// What a saved file says about itself; the caller decides whether it is current.
  struct FileInfo {
    std::uint64_t owner = 0;       ///< identifies the database the index belongs to
    std::uint64_t generation = 0;  ///< the owner's change counter when the file was saved
    std::uint64_t max_label = 0;   ///< the largest label ever added when saved
    std::size_t dimension = 0;
    Quantization quantization = Quantization::none;
    std::size_t elements = 0;  ///< entries, deleted ones included
  };

  /// An empty index. M and ef_construction are hnswlib's parameters; `seed` fixes the levels.
  HnswIndex(std::size_t dimension, std::size_t max_elements, std::size_t M = 16,
            std::size_t ef_construction = 200, std::size_t seed = 100,
            Quantization quantization = Quantization::none);
  ~HnswIndex();
  /// Moving is for construction and swaps; never move an index other threads are using.
  HnswIndex(HnswIndex&& other) noexcept;
  HnswIndex& operator=(HnswIndex&& other) noexcept;
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  std::size_t dimension() const noexcept { return dimension_; }
  Quantization quantization() const noexcept;

  /// Adds a vector (dimension floats). Adding a label again replaces its vector and undeletes
  /// it. Exclusive lock. Throws keel::Error.
  void add(Label label, const float* vector);
  /// Adds n vectors stored one after the other. With an executor of more than one thread the
  /// adds run in parallel (hnswlib's per-node locks); still exclusive towards searches.
  void add_batch(std::size_t n, const Label* labels, const float* vectors,
                 Executor* executor = nullptr);
  /// The k nearest live entries by similarity (dot product; of the quantised vectors for an
  /// int8 index), best first; ef >= k is the search breadth. Shared lock: searches run
  /// concurrently.
  std::vector<std::pair<Label, float>> search(const float* query, std::size_t k,
                                              std::size_t ef) const;
  /// Marks a label deleted: searches skip it. False when absent or already deleted.
  bool mark_deleted(Label label);
  /// True when the label is present and not deleted.
  bool contains(Label label) const;

  /// Live entries (added minus deleted).
  std::size_t size() const;
  /// Entries marked deleted: they still cost memory and search time until a rebuild.
  std::size_t deleted_count() const;
  std::size_t capacity() const;
  void resize(std::size_t max_elements);
  /// The largest label ever added (0 when none).
  Label max_label() const;

  /// Writes the index atomically (temporary file, fsync, rename). `info.owner` and
  /// `info.generation` are recorded; the rest is filled in. Shared lock. Throws Error(io).
  void save(const std::string& path, FileInfo info) const;
  /// Reads a file written by save(). nullopt — with the reason in `*rejection` — when the file
  /// is missing, truncated, corrupt, of another dimension, quantization or owner. A `dimension`
  /// or `owner` of 0 accepts the file's own (which `info` then tells the caller to check).
  /// `info` receives the header of an accepted file. Never throws for bad file contents.
  /// `stop`, when given and set while the file is read, abandons the load (nullopt, "stopped").
  /// Why a file whose header says `file` is not the index of vectors of `dimension` belonging
  /// to `owner` (0 for either: any); empty when it is. load() rejects with these words.
  static std::string mismatch(const FileInfo& file, std::size_t dimension, std::uint64_t owner);
  static std::optional<HnswIndex> load(const std::string& path, std::size_t dimension,
                                       Quantization quantization, std::uint64_t owner,
                                       FileInfo* info = nullptr, std::string* rejection = nullptr,
                                       const std::atomic<bool>* stop = nullptr);

  struct State;  // defined in hnsw_index.cpp

 private:
  explicit HnswIndex(std::size_t dimension, std::unique_ptr<State> state);
  void grow_for(std::size_t extra);  // exclusive lock held
  void make_add_locks();             // exclusive lock held

  std::size_t dimension_;
  mutable std::shared_mutex mutex_;
  std::unique_ptr<State> state_;
};

}  // namespace keel::vector
