// The knowledge base's HNSW index: a cache of the vectors stored in SQLite. Loaded from
// `<path>.hnsw` when the file belongs to this database, caught up with the rows written since
// it was saved, or rebuilt from SQLite; compacted when deletions pile up.
#include <chrono>
#include <cstring>

#include "keel/events.hpp"
#include "knowledge/knowledge_base_impl.hpp"

namespace keel {

namespace knowledge {

bool read_vector_blob(std::string_view blob, std::size_t dimension, float* out) {
  if (blob.size() != dimension * sizeof(float)) return false;
  std::memcpy(out, blob.data(), blob.size());
  return true;
}

namespace {

void check_not_stopped(const KnowledgeBase::Impl& impl, const std::atomic<bool>* stop) {
  if (stop && stop->load()) {
    throw Error(Errc::cancelled,
                "knowledge base " + impl.path + ": closed while the vector index was loading");
  }
}

// Reads (label, vector) rows and adds them to `index` a few thousand at a time, so a rebuild
// of a large base never holds every vector twice. Gives up between batches when `stop` is set.
void add_rows(KnowledgeBase::Impl& impl, vector::HnswIndex& index, Statement& rows,
              const std::atomic<bool>* stop) {
  constexpr std::size_t batch = 4096;
  std::vector<std::int64_t> labels;
  std::vector<float> vectors;
  labels.reserve(batch);
  vectors.reserve(batch * impl.dimension);
  auto flush = [&] {
    check_not_stopped(impl, stop);
    impl.add_vectors(index, labels, vectors);
    labels.clear();
    vectors.clear();
  };
  while (rows.step()) {
    std::size_t at = vectors.size();
    vectors.resize(at + impl.dimension);
    // A vector of the wrong size cannot come from keel; skip it rather than fail the open.
    if (!read_vector_blob(rows.blob(1), impl.dimension, vectors.data() + at)) {
      vectors.resize(at);
      continue;
    }
    labels.push_back(rows.int64(0));
    if (labels.size() == batch) flush();
  }
  if (!labels.empty()) flush();
}

std::size_t document_count(Connection& connection) {
  auto rows = connection.prepare("SELECT count(*) FROM documents");
  return rows.step() ? static_cast<std::size_t>(rows.int64(0)) : 0;
}

}  // namespace

}  // namespace knowledge

void KnowledgeBase::Impl::add_vectors(vector::HnswIndex& target,
                                      const std::vector<std::int64_t>& labels,
                                      const std::vector<float>& vectors) {
  if (labels.empty()) return;
  std::vector<vector::HnswIndex::Label> ids(labels.begin(), labels.end());
  target.add_batch(ids.size(), ids.data(), vectors.data(), index_executor.get());
}

std::shared_ptr<vector::HnswIndex> KnowledgeBase::Impl::build_index(
    knowledge::Connection& connection, const std::atomic<bool>* stop) {
  std::size_t count = knowledge::document_count(connection);
  auto fresh = std::make_shared<vector::HnswIndex>(dimension, count + count / 8 + 64,
                                                   options.hnsw.m, options.hnsw.ef_construction,
                                                   options.hnsw.seed, quantization());
  auto rows = connection.prepare("SELECT label, vector FROM vectors ORDER BY label");
  knowledge::add_rows(*this, *fresh, rows, stop);
  return fresh;
}

KnowledgeBase::Impl::IndexFile KnowledgeBase::Impl::read_index_file(
    const std::string& path, vector::Quantization quantization, const std::atomic<bool>* stop) {
  IndexFile file;
  file.index = vector::HnswIndex::load(path, 0, quantization, 0, &file.info, &file.rejection, stop);
  return file;
}

KnowledgeBase::Impl::IndexFile KnowledgeBase::Impl::take_index_file(const std::atomic<bool>* stop) {
  if (!index_read) return read_index_file(index_path(), quantization(), stop);
  IndexRead& read = *index_read;
  std::unique_lock lock(read.mutex);
  read.finished.wait(lock, [&] { return read.done || read.stop.load(); });  // (stop_loader())
  knowledge::check_not_stopped(*this, stop);
  return std::move(read.file);
}

void KnowledgeBase::Impl::open_index(knowledge::Connection* given, const std::atomic<bool>* stop,
                                     IndexFile* file) {
  std::optional<ReadLease> lease;
  auto sqlite = [&]() -> knowledge::Connection& {
    if (given) return *given;
    if (!lease) lease.emplace(*this);
    return **lease;
  };
  if (memory) {
    set_index(build_index(sqlite()));
    index_state = "created";
    return;
  }
  if (!file) throw Error(Errc::internal, "open_index: a file base's index file was not read");
  const vector::HnswIndex::FileInfo& info = file->info;
  std::string rejection = std::move(file->rejection);
  std::optional<vector::HnswIndex>& loaded = file->index;
  knowledge::check_not_stopped(*this, stop);
  if (loaded) {  // (read for any dimension and owner)
    if (auto why = vector::HnswIndex::mismatch(info, dimension, owner); !why.empty()) {
      rejection = std::move(why);
      loaded.reset();
    }
  }
  auto rebuild = [&](std::string reason) {
    loaded.reset();
    knowledge::Connection& connection = sqlite();
    set_index(build_index(connection, stop));
    index_state =
        knowledge::document_count(connection) == 0 && reason == "missing" ? "created" : "rebuilt";
    index_reason = std::move(reason);
    index_changed = true;
  };
  if (!loaded) return rebuild(rejection);
  if (info.generation > generation) return rebuild("index file is newer than the database");
  if (info.generation < pruned_through) return rebuild("index file is too old to catch up");
  auto current = std::make_shared<vector::HnswIndex>(std::move(*loaded));
  loaded.reset();
  if (info.generation == generation) {
    set_index(std::move(current));
    index_state = "loaded";
    return;
  }
  // Catch up: the rows deleted and the rows written since the file was saved.
  knowledge::Connection& connection = sqlite();
  auto deleted = connection.prepare("SELECT label FROM tombstones WHERE generation > ?1");
  deleted.bind(1, static_cast<std::int64_t>(info.generation));
  while (deleted.step())
    current->mark_deleted(static_cast<vector::HnswIndex::Label>(deleted.int64(0)));
  auto written = connection.prepare(
      "SELECT d.label, v.vector FROM documents d JOIN vectors v ON v.label = d.label "
      "WHERE d.generation > ?1");
  written.bind(1, static_cast<std::int64_t>(info.generation));
  knowledge::add_rows(*this, *current, written, stop);
  set_index(std::move(current));
  index_state = "caught_up";
  index_reason = "index file at generation " + std::to_string(info.generation) + ", database at " +
                 std::to_string(generation);
  index_changed = true;
}

bool KnowledgeBase::Impl::unsaved() const {
  return !memory && (index_changed || (!token_counts_source.empty() && !token_counts_saved));
}

void KnowledgeBase::Impl::save_index(knowledge::Connection& connection) {
  if (!unsaved()) return;
  const bool index_saved = index_changed;
  if (index_changed) {
    current_index()->save(index_path(), {owner, generation});
    index_changed = false;
  }
  // A file just written covers every deletion so far: their tombstones are needed no more,
  // nor by the lengths saved with them (lengths the loader could not read are not saved: the
  // next open counts them again). Lengths saved alone leave the tombstones to the index file.
  knowledge::Transaction transaction(connection);
  if (index_saved) {
    auto prune = connection.prepare("DELETE FROM tombstones WHERE generation <= ?1");
    prune.bind(1, static_cast<std::int64_t>(generation)).run();
    knowledge::write_meta(connection, "pruned_through", static_cast<std::int64_t>(generation));
  }
  if (!token_counts_source.empty()) token_counts->save(connection, generation);
  transaction.commit();
  if (index_saved) pruned_through = generation;
  token_counts_saved = !token_counts_source.empty();
}

void KnowledgeBase::Impl::maybe_compact(knowledge::Connection& connection) {
  auto current = current_index();
  std::size_t deleted = current->deleted_count();
  std::size_t entries = current->size() + deleted;
  if (deleted >= options.compaction_min_deleted &&
      static_cast<double>(deleted) >=
          options.compaction_deleted_fraction * static_cast<double>(entries)) {
    compact_locked(connection);
  }
}

void KnowledgeBase::Impl::compact_locked(knowledge::Connection& connection) {
  auto start = std::chrono::steady_clock::now();
  std::shared_ptr<vector::HnswIndex> before;
  {
    std::lock_guard lock(index_mutex);
    before = index;  // none when the load failed: compacting is the way to get one
  }
  std::size_t dropped = before ? before->deleted_count() : 0;
  auto fresh = build_index(connection);
  {
    std::lock_guard lock(index_mutex);
    index = std::move(fresh);
    if (load_failure) {
      index_state = "rebuilt";
      index_reason = "compacted after the load failed: " + load_failure->second;
      load_failure.reset();
    }
  }
  before.reset();
  compactions.fetch_add(1);
  index_changed = true;
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  Json event = make_event("kb.compact", micros);
  event["dropped"] = dropped;
  emit(options.events, event);
}

}  // namespace keel
