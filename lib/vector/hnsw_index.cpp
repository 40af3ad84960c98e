#include "vector/hnsw_index.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>

// Everything hnswlib's headers include, included here first so that the include below, inside
// an anonymous namespace, adds only hnswlib's own code: its header defines non-inline
// functions (cpuid, AVXCapable...), which would clash with any other file that includes it.
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <queue>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wextra"
#endif
// hnswlib's search reads the entry after the last of a link list to prefetch what it points
// to: up to 4 bytes past the end of a full upper-level list's block. Harmless in a release
// build (the heap goes on past any such block), a heap overflow to AddressSanitizer and, when
// the next block was freed by another thread, a use after free to ThreadSanitizer. Its manual
// vectorisation (the prefetches and its SSE spaces, which keel does not use) is left out of
// sanitizer builds.
#if (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)) && \
    !defined(NO_MANUAL_VECTORIZATION)
#define NO_MANUAL_VECTORIZATION
#endif
namespace {
#include <hnswlib/hnswlib.h>
}  // namespace
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "core/files.hpp"
#include "keel/error.hpp"
#include "keel/executor.hpp"
#include "vector/checksum.hpp"
#include "vector/dot.hpp"

namespace keel::vector {

static_assert(sizeof(hnswlib::labeltype) == sizeof(HnswIndex::Label));

const char* quantization_name(Quantization quantization) noexcept {
  return quantization == Quantization::int8 ? "int8" : "none";
}

namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// Inner-product space whose distance is 1 - dot, with keel's run-time dispatched dot(). An int8
// element is its scale (a float) and then its int8 values.
class DotSpace : public hnswlib::SpaceInterface<float> {
 public:
  DotSpace(std::size_t dimension, Quantization quantization)
      : dimension_(dimension), quantization_(quantization) {}
  std::size_t get_data_size() override { return data_size(); }
  hnswlib::DISTFUNC<float> get_dist_func() override {
    return quantization_ == Quantization::int8 ? &distance_i8 : &distance;
  }
  void* get_dist_func_param() override { return &dimension_; }

  /// An int8 element is padded to whole 4 bytes: hnswlib reads the next element's link list,
  /// which follows it, as 32-bit integers.
  std::size_t data_size() const {
    return quantization_ == Quantization::int8 ? sizeof(float) + (dimension_ + 3) / 4 * 4
                                               : dimension_ * sizeof(float);
  }
  Quantization quantization() const { return quantization_; }
  /// The bytes element() may write: none for float vectors, stored as given.
  std::size_t buffer_size() const { return quantization_ == Quantization::none ? 0 : data_size(); }
  /// The element hnswlib stores for `vector`: the vector itself, or its quantised form written
  /// to `buffer` (data_size() bytes).
  const void* element(const float* vector, char* buffer) const {
    if (quantization_ == Quantization::none) return vector;
    const float scale =
        quantize_i8(vector, dimension_, reinterpret_cast<std::int8_t*>(buffer + sizeof scale));
    std::memcpy(buffer, &scale, sizeof scale);
    std::fill(buffer + sizeof scale + dimension_, buffer + data_size(), char{0});  // the padding
    return buffer;
  }

 private:
  static float distance(const void* a, const void* b, const void* dimension) {
    return 1.0f - dot(static_cast<const float*>(a), static_cast<const float*>(b),
                      *static_cast<const std::size_t*>(dimension));
  }
  static float distance_i8(const void* a, const void* b, const void* dimension) {
    float scale_a, scale_b;
    std::memcpy(&scale_a, a, sizeof scale_a);
    std::memcpy(&scale_b, b, sizeof scale_b);
    const auto* qa = static_cast<const std::int8_t*>(a) + sizeof scale_a;
    const auto* qb = static_cast<const std::int8_t*>(b) + sizeof scale_b;
    return 1.0f -
           scale_a * scale_b *
               static_cast<float>(dot_i8(qa, qb, *static_cast<const std::size_t*>(dimension)));
  }
  std::size_t dimension_;
  Quantization quantization_;
};

constexpr char file_magic[8] = {'K', 'E', 'E', 'L', 'H', 'N', 'S', 'W'};
constexpr std::uint32_t file_version = 2;  // 2: the quantization field

// The file: this header, then hnswlib 0.6.2's own saveIndex layout (so a file stripped of the
// header is a plain hnswlib index).
struct FileHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_size;
  std::uint64_t dimension;
  std::uint32_t quantization;  // Quantization
  std::uint32_t reserved;      // zero
  std::uint64_t owner;
  std::uint64_t generation;
  std::uint64_t max_label;
  std::uint64_t elements;
  std::uint64_t payload_bytes;
  std::uint64_t payload_checksum;
  std::uint64_t header_checksum;  // of the bytes above
};
static_assert(sizeof(FileHeader) == 88);

// hnswlib's fixed fields at the start of the payload.
#pragma pack(push, 1)
struct GraphHeader {
  std::uint64_t offset_level0;
  std::uint64_t max_elements;
  std::uint64_t elements;
  std::uint64_t size_data_per_element;
  std::uint64_t label_offset;
  std::uint64_t offset_data;
  std::int32_t max_level;
  std::uint32_t entry_point;
  std::uint64_t max_m;
  std::uint64_t max_m0;
  std::uint64_t m;
  double mult;
  std::uint64_t ef_construction;
};
#pragma pack(pop)
static_assert(sizeof(GraphHeader) == 96);

std::string errno_text() {
  return std::strerror(errno);
}

// A file header's field, which may hold any value.
const char* quantization_name(std::uint32_t quantization) {
  if (quantization == static_cast<std::uint32_t>(Quantization::none) ||
      quantization == static_cast<std::uint32_t>(Quantization::int8)) {
    return quantization_name(static_cast<Quantization>(quantization));
  }
  return "unknown";
}

class FileWriter {
 public:
  FileWriter(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(Errc::io, "cannot create " + path + ": " + errno_text());
  }
  ~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const void* data, std::size_t size, bool hashed = true) {
    if (hashed) checksum_.update(data, size);
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, std::min<std::size_t>(size, 1 << 24));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(Errc::io, "cannot write " + path_ + ": " + errno_text());
      p += n;
      size -= static_cast<std::size_t>(n);
      written_ += static_cast<std::uint64_t>(n);
    }
  }
  void write_at(std::uint64_t offset, const void* data, std::size_t size) {
    if (::pwrite(fd_, data, size, static_cast<off_t>(offset)) != static_cast<ssize_t>(size)) {
      throw Error(Errc::io, "cannot write " + path_ + ": " + errno_text());
    }
  }
  void sync_and_close() {
    if (::fsync(fd_) != 0) throw Error(Errc::io, "cannot sync " + path_ + ": " + errno_text());
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error(Errc::io, "cannot close " + path_ + ": " + errno_text());
  }
  std::uint64_t written() const { return written_; }
  std::uint64_t checksum() const { return checksum_.value(); }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
  Checksum checksum_;
};

// Writes a byte to each page of fresh memory, so that its page faults are taken here rather
// than inside read(). A fault taken while the kernel copies to user memory holds the process's
// memory-map lock, and every other thread's brk() and mmap() (malloc growing) waits for it; a
// fault taken in user space locks only its own mapping. A host opening its base while this
// thread read the index (bench_footprint's, 5 MB on 4 KiB pages) answered in 5.5 ms rather than
// 6.8 launched back to back, 6.4 rather than 7.1 after the machine idled (medians); with huge
// pages, its main thread waited ~6 ms for each one the kernel zeroed after an idle.
void touch_pages(char* p, std::size_t size) {
  constexpr std::size_t page = 4096;  // the smallest page: a larger one is touched more often
  for (std::size_t at = 0; at < size; at += page) {
    reinterpret_cast<volatile char*>(p)[at] = 0;
  }
  if (size > 0) reinterpret_cast<volatile char*>(p)[size - 1] = 0;
}

class FileReader {
 public:
  explicit FileReader(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ >= 0) {
      struct stat st;
      if (::fstat(fd_, &st) == 0) size_ = static_cast<std::uint64_t>(st.st_size);
    }
  }
  ~FileReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool is_open() const { return fd_ >= 0; }
  std::uint64_t size() const { return size_; }
  // Reads exactly `size` bytes, hashing them when asked; false on a short read or when `stop`
  // is set.
  bool read(void* out, std::size_t size, Checksum* checksum,
            const std::atomic<bool>* stop = nullptr) {
    // Pieces small enough to be hashed while they are still in the CPU cache.
    constexpr std::size_t piece = 1 << 20;
    char* p = static_cast<char*>(out);
    while (size > 0) {
      if (stop && stop->load(std::memory_order_relaxed)) return false;
      std::size_t chunk = std::min(size, piece);
      touch_pages(p, chunk);
      std::size_t got = 0;
      while (got < chunk) {
        ssize_t n = ::read(fd_, p + got, chunk - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
      }
      if (checksum) checksum->update(p, chunk);
      p += chunk;
      size -= chunk;
    }
    return true;
  }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

std::uint16_t list_count(const char* list) {
  std::uint16_t count;
  std::memcpy(&count, list, sizeof count);
  return count;
}

// Memory for an index's level 0, about to be filled: on transparent huge pages, where the
// system offers them, when it is large. Loading touches every page of the buffer once, and
// searches visit it at random:
// - A large index gains from huge pages. With 4 KiB pages a load's page faults can cost more
//   than reading the file (2.3 s against 0.1 s for 200 MB on a virtual machine measured while
//   writing bench_knowledge), and the pages outgrow what the TLB covers.
// - A small one loses. A huge page needs a whole free 2 MiB block, and a hypervisor that takes
//   back its guest's free memory takes exactly such blocks: backing one anew took ~6 ms on the
//   2-core virtual machine of bench_footprint after it idled 3 s. A host launched then, its
//   10,000-document index (5 MB) on huge pages, answered in 19-26 ms; on 4 KiB pages, taken
//   from memory the guest still held, in 6-8 ms. Launched back to back, huge pages saved
//   0.5-1.5 ms of the median's 5.5, and brought outliers of 10-26 ms.
// Huge pages are aligned and sized to whole ones: the small-page ends of an unaligned buffer
// alone took 12 ms to read into, against 4 ms for all of a 17 MB buffer aligned. Freed with
// free() (hnswlib frees and reallocs it).
char* allocate_level0(std::size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr std::size_t huge = 2u << 20;
  constexpr std::size_t huge_from = 32u << 20;
  if (bytes >= huge_from) {
    const std::size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    void* data = nullptr;
    if (::posix_memalign(&data, huge, rounded) != 0) return nullptr;
    ::madvise(data, rounded, MADV_HUGEPAGE);  // a hint only: ignored where unsupported
    return static_cast<char*>(data);
  }
#endif
  return static_cast<char*>(std::malloc(bytes));
}

}  // namespace

struct HnswIndex::State {
  State(std::size_t dimension, Quantization quantization) : space(dimension, quantization) {}
  ~State() { release_loaded_lists(); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  DotSpace space;  // must outlive graph, which points into it
  std::unique_ptr<Graph> graph;
  // The upper-level neighbour lists of a loaded index, as the file holds them, in one block: a
  // loaded element's linkLists_ entry points into it (one allocation, not one per element).
  // Lists of elements added later are hnswlib's own.
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> loaded_lists;
  std::size_t loaded_lists_bytes = 0;
  Label max_label = 0;
  // False after load(): hnswlib's label_lookup_ is filled by map_labels() when first needed
  // (searches never need it; adds, deletions and contains() do).
  bool labels_mapped = true;

  // Exclusive lock held.
  void map_labels() {
    if (labels_mapped) return;
    Graph& g = *graph;
    g.label_lookup_.reserve(g.cur_element_count);
    for (std::size_t i = 0; i < g.cur_element_count; ++i) {
      Label label = g.getExternalLabel(static_cast<hnswlib::tableint>(i));
      g.label_lookup_[label] = static_cast<hnswlib::tableint>(i);
      max_label = std::max(max_label, label);
    }
    labels_mapped = true;
  }

  // hnswlib frees every element's lists on its own when the graph is destroyed: it must not
  // see the ones in loaded_lists.
  void release_loaded_lists() noexcept {
    if (!graph || !loaded_lists || !graph->linkLists_) return;
    const auto begin = reinterpret_cast<std::uintptr_t>(loaded_lists.get());
    const auto end = begin + loaded_lists_bytes;
    Graph& g = *graph;
    for (std::size_t i = 0; i < g.cur_element_count; ++i) {
      const auto list = reinterpret_cast<std::uintptr_t>(g.linkLists_[i]);
      if (list >= begin && list < end) g.linkLists_[i] = nullptr;
    }
  }
};

namespace {

// hnswlib throws std::runtime_error and std::bad_alloc; callers see keel::Error.
[[noreturn]] void rethrow_as_keel_error(const char* what) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(Errc::limit_exceeded, std::string("vector index: out of memory while ") + what);
  } catch (const std::exception& e) {
    throw Error(Errc::internal, std::string("vector index: ") + what + ": " + e.what());
  }
}

}  // namespace

HnswIndex::HnswIndex(std::size_t dimension, std::size_t max_elements, std::size_t M,
                     std::size_t ef_construction, std::size_t seed, Quantization quantization)
    : dimension_(dimension) {
  if (dimension == 0) throw Error(Errc::invalid_argument, "vector index: dimension must be > 0");
  if (M < 2 || M > 10000)
    throw Error(Errc::invalid_argument, "vector index: M must be in 2..10000");
  try {
    state_ = std::make_unique<State>(dimension, quantization);
    state_->graph = std::make_unique<Graph>(&state_->space, std::max<std::size_t>(max_elements, 16),
                                            M, ef_construction, seed);
    state_->graph->metric_distance_computations = 0;
    state_->graph->metric_hops = 0;
  } catch (...) {
    rethrow_as_keel_error("creating the index");
  }
}

HnswIndex::HnswIndex(std::size_t dimension, std::unique_ptr<State> state)
    : dimension_(dimension), state_(std::move(state)) {}

HnswIndex::~HnswIndex() = default;

Quantization HnswIndex::quantization() const noexcept {
  return state_->space.quantization();
}

HnswIndex::HnswIndex(HnswIndex&& other) noexcept
    : dimension_(other.dimension_), state_(std::move(other.state_)) {}

HnswIndex& HnswIndex::operator=(HnswIndex&& other) noexcept {
  if (this != &other) {
    std::unique_lock lock(mutex_);
    dimension_ = other.dimension_;
    state_ = std::move(other.state_);
  }
  return *this;
}

void HnswIndex::grow_for(std::size_t extra) {
  Graph& g = *state_->graph;
  std::size_t needed = g.cur_element_count + extra;
  if (needed <= g.max_elements_) return;
  try {
    g.resizeIndex(std::max(needed, g.max_elements_ * 2));
  } catch (...) {
    rethrow_as_keel_error("growing the index");
  }
}

// hnswlib takes these locks, and looks labels up, only while adding: a loaded index has
// neither until its first add.
void HnswIndex::make_add_locks() {
  Graph& g = *state_->graph;
  try {
    state_->map_labels();
    if (g.link_list_locks_.size() != g.max_elements_)
      std::vector<std::mutex>(g.max_elements_).swap(g.link_list_locks_);
    if (g.link_list_update_locks_.size() != Graph::max_update_element_locks)
      std::vector<std::mutex>(Graph::max_update_element_locks).swap(g.link_list_update_locks_);
  } catch (...) {
    rethrow_as_keel_error("adding vectors");
  }
}

void HnswIndex::add(Label label, const float* vector) {
  std::unique_lock lock(mutex_);
  grow_for(1);
  make_add_locks();
  try {
    std::vector<char> buffer(state_->space.buffer_size());
    state_->graph->addPoint(state_->space.element(vector, buffer.data()), label);
  } catch (...) {
    rethrow_as_keel_error("adding a vector");
  }
  state_->max_label = std::max(state_->max_label, label);
}

void HnswIndex::add_batch(std::size_t n, const Label* labels, const float* vectors,
                          Executor* executor) {
  if (n == 0) return;
  std::unique_lock lock(mutex_);
  grow_for(n);
  make_add_locks();
  Graph& g = *state_->graph;
  for (std::size_t i = 0; i < n; ++i)
    state_->max_label = std::max(state_->max_label, labels[i]);
  // The elements as hnswlib stores them: the vectors themselves, or quantised all at once.
  const DotSpace& space = state_->space;
  std::vector<char> quantised;
  const char* elements = reinterpret_cast<const char*>(vectors);
  if (space.quantization() != Quantization::none) {
    try {
      quantised.resize(n * space.data_size());
    } catch (...) {
      rethrow_as_keel_error("adding vectors");
    }
    for (std::size_t i = 0; i < n; ++i)
      (void)space.element(vectors + i * dimension_, quantised.data() + i * space.data_size());
    elements = quantised.data();
  }
  auto element = [&](std::size_t i) { return elements + i * space.data_size(); };
  unsigned threads = executor ? executor->threads() : 1;
  // Small batches and single threads add in place; parallel adds pay for a hand-off.
  if (threads <= 1 || n < 64) {
    try {
      for (std::size_t i = 0; i < n; ++i)
        g.addPoint(element(i), labels[i]);
    } catch (...) {
      rethrow_as_keel_error("adding vectors");
    }
    return;
  }
  std::atomic<std::size_t> next{0};
  std::mutex done_mutex;
  std::condition_variable done_cv;
  unsigned running = threads;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      for (std::size_t i = next++; i < n && !failure; i = next++)
        g.addPoint(element(i), labels[i]);
    } catch (...) {
      std::lock_guard guard(done_mutex);
      if (!failure) failure = std::current_exception();
    }
    std::lock_guard guard(done_mutex);
    if (--running == 0) done_cv.notify_all();
  };
  for (unsigned t = 0; t < threads; ++t)
    executor->post(work);
  std::unique_lock wait(done_mutex);
  done_cv.wait(wait, [&] { return running == 0; });
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (...) {
      rethrow_as_keel_error("adding vectors");
    }
  }
}

namespace {

using Candidates =
    std::priority_queue<std::pair<float, hnswlib::tableint>,
                        std::vector<std::pair<float, hnswlib::tableint>>, Graph::CompareByFirst>;

// hnswlib's searchKnn up to its result list, with the search breadth given (not its shared
// ef_), internal ids kept (for an int8 index's second look), and without its counters: two
// atomic additions a step, on one cache line every concurrent search writes to.
Candidates search_graph(const Graph& g, const void* query, std::size_t ef) {
  hnswlib::tableint current = g.enterpoint_node_;
  float current_distance =
      g.fstdistfunc_(query, g.getDataByInternalId(current), g.dist_func_param_);
  for (int level = g.maxlevel_; level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      const hnswlib::linklistsizeint* list = g.get_linklist(current, level);
      const int size = g.getListCount(const_cast<hnswlib::linklistsizeint*>(list));
      const auto* neighbours = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (int i = 0; i < size; ++i) {
        const float d =
            g.fstdistfunc_(query, g.getDataByInternalId(neighbours[i]), g.dist_func_param_);
        if (d < current_distance) {
          current_distance = d;
          current = neighbours[i];
          changed = true;
        }
      }
    }
  }
  return g.num_deleted_ ? g.searchBaseLayerST<true>(current, query, ef)
                        : g.searchBaseLayerST<false>(current, query, ef);
}

}  // namespace

std::vector<std::pair<HnswIndex::Label, float>> HnswIndex::search(const float* query, std::size_t k,
                                                                  std::size_t ef) const {
  std::vector<std::pair<Label, float>> out;
  if (k == 0) return out;
  std::shared_lock lock(mutex_);
  const Graph& g = *state_->graph;
  if (g.cur_element_count == 0 || g.num_deleted_ >= g.cur_element_count) return out;
  const DotSpace& space = state_->space;
  Candidates found;
  try {
    std::vector<char> buffer(space.buffer_size());
    found = search_graph(g, space.element(query, buffer.data()), std::max(k, ef));
  } catch (...) {
    rethrow_as_keel_error("searching");
  }
  if (space.quantization() == Quantization::none) {
    while (found.size() > k)
      found.pop();
    out.resize(found.size());
    for (std::size_t i = found.size(); i-- > 0; found.pop())
      out[i] = {g.getExternalLabel(found.top().second), 1.0f - found.top().first};
    return out;
  }
  // int8: the graph was searched with the query quantised too; every candidate is looked at
  // again with the query as given (only the stored vector's rounding left), which orders
  // near-ties as the exact vectors would.
  out.reserve(found.size());
  for (; !found.empty(); found.pop()) {
    const char* element = g.getDataByInternalId(found.top().second);
    float scale;
    std::memcpy(&scale, element, sizeof scale);
    const float similarity =
        scale *
        dot_f32_i8(query, reinterpret_cast<const std::int8_t*>(element + sizeof scale), dimension_);
    out.emplace_back(g.getExternalLabel(found.top().second), similarity);
  }
  auto better = [](const std::pair<Label, float>& a, const std::pair<Label, float>& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  const std::size_t keep = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                    better);
  out.resize(keep);
  return out;
}

bool HnswIndex::mark_deleted(Label label) {
  std::unique_lock lock(mutex_);
  try {
    state_->map_labels();
  } catch (...) {
    rethrow_as_keel_error("deleting a vector");
  }
  Graph& g = *state_->graph;
  auto it = g.label_lookup_.find(label);
  if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) return false;
  g.markDeletedInternal(it->second);
  return true;
}

bool HnswIndex::contains(Label label) const {
  auto look_up = [&] {
    const Graph& g = *state_->graph;
    auto it = g.label_lookup_.find(label);
    return it != g.label_lookup_.end() && !g.isMarkedDeleted(it->second);
  };
  {
    std::shared_lock lock(mutex_);
    if (state_->labels_mapped) return look_up();
  }
  std::unique_lock lock(mutex_);
  try {
    state_->map_labels();
  } catch (...) {
    rethrow_as_keel_error("looking a label up");
  }
  return look_up();
}

std::size_t HnswIndex::size() const {
  std::shared_lock lock(mutex_);
  return state_->graph->cur_element_count - state_->graph->num_deleted_;
}

std::size_t HnswIndex::deleted_count() const {
  std::shared_lock lock(mutex_);
  return state_->graph->num_deleted_;
}

std::size_t HnswIndex::capacity() const {
  std::shared_lock lock(mutex_);
  return state_->graph->max_elements_;
}

void HnswIndex::resize(std::size_t max_elements) {
  std::unique_lock lock(mutex_);
  Graph& g = *state_->graph;
  max_elements = std::max(max_elements, g.cur_element_count);
  if (max_elements == g.max_elements_) return;
  try {
    g.resizeIndex(std::max<std::size_t>(max_elements, 16));
  } catch (...) {
    rethrow_as_keel_error("resizing the index");
  }
}

HnswIndex::Label HnswIndex::max_label() const {
  std::shared_lock lock(mutex_);
  return state_->max_label;
}

void HnswIndex::save(const std::string& path, FileInfo info) const {
  std::shared_lock lock(mutex_);
  const Graph& g = *state_->graph;
  const std::string temporary = path + ".tmp";
  try {
    FileWriter out(temporary);
    FileHeader header{};
    out.write(&header, sizeof header, false);  // rewritten once the checksum is known

    GraphHeader gh{};
    gh.offset_level0 = g.offsetLevel0_;
    gh.max_elements = g.max_elements_;
    gh.elements = g.cur_element_count;
    gh.size_data_per_element = g.size_data_per_element_;
    gh.label_offset = g.label_offset_;
    gh.offset_data = g.offsetData_;
    gh.max_level = g.maxlevel_;
    gh.entry_point = g.enterpoint_node_;
    gh.max_m = g.maxM_;
    gh.max_m0 = g.maxM0_;
    gh.m = g.M_;
    gh.mult = g.mult_;
    gh.ef_construction = g.ef_construction_;
    out.write(&gh, sizeof gh);
    out.write(g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
    std::vector<char> links;
    for (std::size_t i = 0; i < g.cur_element_count; ++i) {
      std::uint32_t bytes =
          g.element_levels_[i] > 0
              ? static_cast<std::uint32_t>(g.size_links_per_element_ *
                                           static_cast<std::size_t>(g.element_levels_[i]))
              : 0;
      const char* b = reinterpret_cast<const char*>(&bytes);
      links.insert(links.end(), b, b + sizeof bytes);
      if (bytes) links.insert(links.end(), g.linkLists_[i], g.linkLists_[i] + bytes);
      if (links.size() > (4u << 20)) {
        out.write(links.data(), links.size());
        links.clear();
      }
    }
    out.write(links.data(), links.size());

    std::memcpy(header.magic, file_magic, sizeof file_magic);
    header.version = file_version;
    header.header_size = sizeof(FileHeader);
    header.dimension = dimension_;
    header.quantization = static_cast<std::uint32_t>(quantization());
    header.owner = info.owner;
    header.generation = info.generation;
    header.max_label = state_->max_label;
    header.elements = g.cur_element_count;
    header.payload_bytes = out.written() - sizeof(FileHeader);
    header.payload_checksum = out.checksum();
    header.header_checksum = checksum(&header, offsetof(FileHeader, header_checksum));
    out.write_at(0, &header, sizeof header);
    out.sync_and_close();
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      throw Error(Errc::io, "cannot rename " + temporary + " to " + path + ": " + errno_text());
    }
    detail::sync_directory_of(path);
  } catch (...) {
    ::unlink(temporary.c_str());
    rethrow_as_keel_error("saving the index");
  }
}

std::string HnswIndex::mismatch(const FileInfo& file, std::size_t dimension, std::uint64_t owner) {
  if (dimension != 0 && file.dimension != dimension) {
    return "dimension " + std::to_string(file.dimension) + ", expected " +
           std::to_string(dimension);
  }
  if (owner != 0 && file.owner != owner) return "belongs to another database";
  return {};
}

std::optional<HnswIndex> HnswIndex::load(const std::string& path, std::size_t dimension,
                                         Quantization quantization, std::uint64_t owner,
                                         FileInfo* info, std::string* rejection,
                                         const std::atomic<bool>* stop) {
  auto reject = [&](const std::string& why) -> std::optional<HnswIndex> {
    if (rejection) *rejection = why;
    return std::nullopt;
  };
  try {
    FileReader in(path);
    if (!in.is_open()) return reject("missing");
    FileHeader header;
    if (in.size() < sizeof header || !in.read(&header, sizeof header, nullptr)) {
      return reject("truncated header");
    }
    if (std::memcmp(header.magic, file_magic, sizeof file_magic) != 0)
      return reject("not an index file");
    if (header.header_checksum != checksum(&header, offsetof(FileHeader, header_checksum))) {
      return reject("corrupt header");
    }
    if (header.version != file_version || header.header_size != sizeof header) {
      return reject("unsupported version " + std::to_string(header.version));
    }
    if (header.dimension == 0) return reject("dimension 0");
    FileInfo identity;
    identity.dimension = static_cast<std::size_t>(header.dimension);
    identity.owner = header.owner;
    if (auto why = mismatch(identity, dimension, 0); !why.empty()) return reject(why);
    dimension = identity.dimension;
    if (header.quantization != static_cast<std::uint32_t>(quantization) || header.reserved != 0) {
      return reject("quantization " + std::string(quantization_name(header.quantization)) +
                    ", expected " + quantization_name(static_cast<std::uint32_t>(quantization)));
    }
    if (auto why = mismatch(identity, 0, owner); !why.empty()) return reject(why);
    if (header.payload_bytes != in.size() - sizeof header) return reject("truncated");

    Checksum sum;
    GraphHeader gh;
    if (header.payload_bytes < sizeof gh || !in.read(&gh, sizeof gh, &sum))
      return reject("truncated");
    const std::uint64_t n = gh.elements;
    const std::uint64_t links0 =
        gh.max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    const std::uint64_t links_upper =
        gh.max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    const DotSpace space(dimension, quantization);
    const std::uint64_t data_bytes = space.data_size();
    bool shape_ok = gh.m >= 2 && gh.m <= 10000 && gh.max_m == gh.m && gh.max_m0 == 2 * gh.m &&
                    gh.offset_level0 == 0 && gh.offset_data == links0 &&
                    gh.label_offset == links0 + data_bytes &&
                    gh.size_data_per_element == gh.label_offset + sizeof(hnswlib::labeltype) &&
                    std::isfinite(gh.mult) && gh.mult > 0 && gh.ef_construction >= 1 &&
                    gh.ef_construction <= (1u << 24) && n == header.elements &&
                    n < std::numeric_limits<hnswlib::tableint>::max() &&
                    n <= (header.payload_bytes - sizeof gh) / gh.size_data_per_element;
    if (!shape_ok) return reject("inconsistent graph header");
    if (n == 0 ? gh.max_level != -1
               : (gh.max_level < 0 || gh.max_level > 64 || gh.entry_point >= n)) {
      return reject("inconsistent entry point");
    }
    const std::uint64_t level0_bytes = n * gh.size_data_per_element;
    const std::size_t capacity =
        static_cast<std::size_t>(std::max<std::uint64_t>(n + n / 4, n + 1024));

    // Read straight into the memory hnswlib will own.
    struct Free {
      void operator()(char* p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> level0(
        allocate_level0(capacity * gh.size_data_per_element));
    if (!level0) return reject("out of memory");
    auto stopped = [&] { return stop && stop->load(std::memory_order_relaxed); };
    // Level 0 in pieces of whole elements, each checked while it is still in cache: every list
    // count and neighbour id in range.
    const std::uint64_t per_piece =
        std::max<std::uint64_t>(1, (1u << 20) / gh.size_data_per_element);
    std::uint64_t deleted = 0;
    for (std::uint64_t first = 0; first < n; first += per_piece) {
      const std::uint64_t count = std::min(per_piece, n - first);
      char* piece = level0.get() + first * gh.size_data_per_element;
      if (!in.read(piece, count * gh.size_data_per_element, &sum, stop))
        return reject(stopped() ? "stopped" : "truncated");
      for (std::uint64_t i = 0; i < count; ++i) {
        const char* list = piece + i * gh.size_data_per_element;
        const std::uint16_t size = list_count(list);
        if (size > gh.max_m0) return reject("corrupt neighbour list");
        hnswlib::tableint largest = 0;  // one test per list, not one branch per id
        for (std::uint16_t j = 0; j < size; ++j) {
          hnswlib::tableint id;
          std::memcpy(&id, list + 4 + 4 * j, sizeof id);
          largest = std::max(largest, id);
        }
        if (size > 0 && largest >= n) return reject("corrupt neighbour list");
        if (quantization == Quantization::int8) {
          float scale;
          std::memcpy(&scale, list + gh.offset_data, sizeof scale);
          if (!(scale >= 0 && scale <= std::numeric_limits<float>::max()))
            return reject("corrupt vector scale");
        }
        if (static_cast<unsigned char>(list[2]) & Graph::DELETE_MARK) ++deleted;
      }
    }
    // The rest: per element, the byte count of its upper-level lists, then the lists. Read
    // into the block that keeps the lists (State::loaded_lists, counts and all: 4 bytes an
    // element, against an allocation of its own for each element's lists).
    const std::uint64_t tail_bytes = header.payload_bytes - sizeof gh - level0_bytes;
    std::unique_ptr<char, State::Free> tail_block(
        static_cast<char*>(std::malloc(std::max<std::uint64_t>(tail_bytes, 1))));
    if (!tail_block) return reject("out of memory");
    const std::string_view tail(tail_block.get(), tail_bytes);
    if (!in.read(tail_block.get(), tail.size(), &sum, stop))
      return reject(stopped() ? "stopped" : "truncated");
    if (sum.value() != header.payload_checksum) return reject("checksum mismatch");

    // The upper levels: every list count and neighbour id in range, every neighbour present
    // on that level, the entry point on the top level. `levels` becomes hnswlib's
    // element_levels_ (one entry per slot of capacity).
    std::vector<int> levels(capacity, 0);
    std::uint64_t at = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint32_t bytes;
      if (tail.size() - at < sizeof bytes) return reject("truncated link lists");
      std::memcpy(&bytes, tail.data() + at, sizeof bytes);
      at += sizeof bytes;
      if (bytes % links_upper != 0 ||
          bytes / links_upper > static_cast<std::uint64_t>(gh.max_level) ||
          tail.size() - at < bytes) {
        return reject("corrupt link lists");
      }
      levels[i] = static_cast<int>(bytes / links_upper);
      at += bytes;
    }
    if (at != tail.size()) return reject("trailing bytes");
    if (n > 0 && levels[gh.entry_point] != gh.max_level) return reject("inconsistent entry point");
    // Element after element, where each one's upper-level lists are in `tail`.
    struct UpperLists {
      const char* at;
      std::uint64_t bytes_per_level;
      const char* next(int level_count) {
        const char* lists = at + sizeof(std::uint32_t);
        at = lists + static_cast<std::uint64_t>(level_count) * bytes_per_level;
        return lists;
      }
    };
    UpperLists walk{tail.data(), links_upper};
    for (std::uint64_t i = 0; i < n; ++i) {
      const char* lists = walk.next(levels[i]);
      for (int l = 1; l <= levels[i]; ++l) {
        const char* upper = lists + static_cast<std::uint64_t>(l - 1) * links_upper;
        std::uint16_t c = list_count(upper);
        if (c > gh.max_m) return reject("corrupt neighbour list");
        for (std::uint16_t j = 0; j < c; ++j) {
          hnswlib::tableint id;
          std::memcpy(&id, upper + 4 + 4 * j, sizeof id);
          if (id >= n || levels[id] < l) return reject("corrupt neighbour list");
        }
      }
    }

    // Build the graph from validated bytes (what hnswlib's loadIndex does, without reading
    // the file twice).
    auto state = std::make_unique<State>(dimension, quantization);
    state->graph.reset(new Graph(&state->space));  // this constructor initialises nothing
    Graph& g = *state->graph;
    g.cur_element_count = 0;  // keeps the destructor safe until the end
    g.data_level0_memory_ = nullptr;
    g.linkLists_ = nullptr;
    g.visited_list_pool_ = nullptr;
    g.num_deleted_ = 0;
    g.metric_distance_computations = 0;
    g.metric_hops = 0;

    g.linkLists_ = static_cast<char**>(std::calloc(capacity, sizeof(char*)));
    if (!g.linkLists_) return reject("out of memory");
    walk = UpperLists{tail.data(), links_upper};
    for (std::uint64_t i = 0; i < n; ++i) {
      char* lists = tail_block.get() + (walk.next(levels[i]) - tail.data());
      if (levels[i] > 0) g.linkLists_[i] = lists;
    }
    state->loaded_lists = std::move(tail_block);
    state->loaded_lists_bytes = tail_bytes;
    g.element_levels_ = std::move(levels);
    g.offsetLevel0_ = 0;
    g.max_elements_ = capacity;
    g.size_data_per_element_ = gh.size_data_per_element;
    g.size_links_per_element_ = links_upper;
    g.size_links_level0_ = links0;
    g.label_offset_ = gh.label_offset;
    g.offsetData_ = gh.offset_data;
    g.maxlevel_ = gh.max_level;
    g.enterpoint_node_ = n == 0 ? static_cast<hnswlib::tableint>(-1) : gh.entry_point;
    g.maxM_ = gh.max_m;
    g.maxM0_ = gh.max_m0;
    g.M_ = gh.m;
    g.mult_ = gh.mult;
    g.revSize_ = 1.0 / gh.mult;
    g.ef_construction_ = gh.ef_construction;
    g.ef_ = 10;
    g.data_size_ = state->space.get_data_size();
    g.fstdistfunc_ = state->space.get_dist_func();
    g.dist_func_param_ = state->space.get_dist_func_param();
    // (link_list_locks_ and link_list_update_locks_ stay empty: see make_add_locks)
    g.visited_list_pool_ = new hnswlib::VisitedListPool(1, static_cast<int>(capacity));
    g.level_generator_.seed(100 + n);
    g.update_probability_generator_.seed(101 + n);
    g.data_level0_memory_ = level0.release();
    g.cur_element_count = n;
    g.num_deleted_ = deleted;
    // The label map waits for the first call that needs it (see map_labels); the header's
    // largest label, covered by the checksum, stands in for it until then.
    state->labels_mapped = false;
    state->max_label = header.max_label;
    if (info) {
      info->owner = header.owner;
      info->generation = header.generation;
      info->max_label = header.max_label;
      info->dimension = header.dimension;
      info->quantization = quantization;
      info->elements = n;
    }
    return HnswIndex(dimension, std::move(state));
  } catch (const std::bad_alloc&) {
    return reject("out of memory");
  } catch (const std::exception& e) {
    return reject(e.what());
  }
}

}  // namespace keel::vector
