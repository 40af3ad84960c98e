// KnowledgeBase: opening, documents, entities and edges, maintenance and stats. Search is in
// search.cpp, the vector index's life cycle in vector_store.cpp.
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <random>
#include <system_error>
#include <unordered_map>

#include "core/threads.hpp"
#include "keel/events.hpp"
#include "knowledge/graph.hpp"
#include "knowledge/knowledge_base_impl.hpp"
#include "vector/dot.hpp"

namespace keel {

using knowledge::Connection;
using knowledge::Transaction;

// ---- connections -------------------------------------------------------------------------

KnowledgeBase::Impl::ReadLease::ReadLease(Impl& impl) : impl_(impl) {
  if (impl.memory) {
    memory_lock_ = std::unique_lock(impl.memory_mutex);
    impl.check_open();  // close() may have come between the caller's check and the lock
    connection_ = impl.writer.get();
    snippets_ = &impl.writer_snippets;
    return;
  }
  {
    std::lock_guard lock(impl.pool_mutex);
    if (!impl.pool.empty()) {
      owned_ = std::move(impl.pool.back());
      impl.pool.pop_back();
    }
  }
  if (!owned_.connection) {
    impl.check_open();
    owned_.connection = impl.open_reader();
  }
  connection_ = owned_.connection.get();
  snippets_ = &owned_.snippets;
}

std::unique_ptr<Connection> KnowledgeBase::Impl::open_reader() const {
  auto connection = std::make_unique<Connection>(path, false);
  knowledge::configure_connection(*connection, false, options.synchronous);
  knowledge::register_ranking(*connection, token_counts);
  return connection;
}

std::unique_ptr<Connection> KnowledgeBase::Impl::open_writer() const {
  auto connection = std::make_unique<Connection>(path, false);
  knowledge::configure_connection(*connection, true, options.synchronous);
  // A memory base's searches use its one connection; a file base's writer ranks nothing.
  if (memory) knowledge::register_ranking(*connection, token_counts);
  return connection;
}

void KnowledgeBase::Impl::pool_reader(std::unique_ptr<Connection> connection) noexcept {
  try {
    Reader reader;
    reader.connection = std::move(connection);
    knowledge::prepare_search_statements(*reader.connection);
    std::lock_guard lock(pool_mutex);
    if (!closed.load() && pool.size() < options.read_connections) pool.push_back(std::move(reader));
  } catch (...) {  // (the first search opens a reader, and reports what stops it)
  }
}

KnowledgeBase::Impl::ReadLease::~ReadLease() {
  if (!owned_.connection) return;
  std::lock_guard lock(impl_.pool_mutex);
  if (!impl_.closed.load() && impl_.pool.size() < impl_.options.read_connections)
    impl_.pool.push_back(std::move(owned_));
}

knowledge::Snippets& KnowledgeBase::Impl::ReadLease::snippets() {
  if (!*snippets_) *snippets_ = std::make_unique<knowledge::Snippets>(*connection_);
  return **snippets_;
}

KnowledgeBase::Impl::WriteLease::WriteLease(Impl& impl) : impl_(impl) {
  impl.wait_for_loader();  // writes change what it reads, and go to the index it makes
  write_lock_ = std::unique_lock(impl.write_mutex);
  if (impl.memory) memory_lock_ = std::unique_lock(impl.memory_mutex);
  impl.check_open();
  if (!impl.writer) impl.writer = impl.open_writer();  // a file base's first write
}

void KnowledgeBase::Impl::check_open() const {
  if (closed.load()) throw Error(Errc::invalid_argument, "knowledge base " + path + ": closed");
}

// ---- the vector index's loader ---------------------------------------------------------------

std::shared_ptr<vector::HnswIndex> KnowledgeBase::Impl::current_index() const {
  std::unique_lock lock(index_mutex);
  index_loaded.wait(lock, [&] { return loading == Loading::done; });
  if (load_failure) throw Error(load_failure->first, load_failure->second);
  if (!index) throw Error(Errc::invalid_argument, "knowledge base " + path + ": closed");
  return index;
}

void KnowledgeBase::Impl::wait_for_token_counts() const {
  std::unique_lock lock(index_mutex);
  index_loaded.wait(lock, [&] { return loading != Loading::token_counts; });
}

void KnowledgeBase::Impl::wait_for_loader() const {
  std::unique_lock lock(index_mutex);
  index_loaded.wait(lock, [&] { return loading == Loading::done; });
}

void KnowledgeBase::Impl::start_reading_index() {
  auto read = std::make_shared<IndexRead>();
  try {
    ::keel::detail::start_thread_apart("keel-kb-read", [read, path = index_path(),
                                                        quantization = quantization()] {
      IndexFile file = read_index_file(path, quantization, &read->stop);
      std::function<void()> job;
      {
        std::unique_lock lock(read->mutex);
        read->file = std::move(file);
        read->done = true;
        read->waiting = true;
        read->finished.notify_all();
        read->finished.wait(lock,
                            [&] { return read->job || read->dismissed || read->stop.load(); });
        read->waiting = false;
        job = std::move(read->job);
      }
      if (job) {
        ::keel::detail::name_this_thread("keel-kb-load");
        job();
      }
    }).detach();
    index_read = std::move(read);
  } catch (const std::system_error&) {  // (the loader reads it)
  }
}

void KnowledgeBase::Impl::start_loading() {
  {
    std::lock_guard lock(index_mutex);
    loading = Loading::token_counts;
  }
  auto exit = std::make_shared<LoaderExit>();
  loader_exit = exit;
  auto finished = [exit] {
    {
      std::lock_guard lock(exit->mutex);
      exit->done = true;
    }
    exit->gone.notify_all();
  };
  std::function<void()> job = [this, finished] {
    {
      std::lock_guard lock(index_mutex);
      loader_thread = std::this_thread::get_id();
    }
    load();
    finished();  // (the base may be gone by now: see load())
  };
  if (index_read) {
    // The thread that read the index file, when it is done: already apart from the caller,
    // and no thread to start here (~0.2-0.4 ms of the caller's on a virtual machine).
    bool handed = false;
    {
      std::lock_guard lock(index_read->mutex);
      if (index_read->waiting) {
        index_read->job = std::move(job);
        handed = true;
      } else {
        index_read->dismissed = true;
      }
    }
    if (handed) {
      index_read->finished.notify_all();
      return;
    }
  }
  try {
    // Apart from the caller, which goes on to its own work (a search waits for this one).
    ::keel::detail::start_thread_apart("keel-kb-load", job).detach();
  } catch (const std::system_error&) {
    load();  // no thread to be had: load now, as open() did before it had a loader
    finished();
  }
}

void KnowledgeBase::Impl::load() noexcept {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Connection> connection = std::move(loader_connection);
  std::optional<std::pair<Errc, std::string>> failure;
  try {
    try {
      std::optional<std::uint64_t> saved_at;
      try {
        saved_at = token_counts->load_saved(*connection, pruned_through, generation);
      } catch (...) {  // (counted below)
      }
      if (saved_at) {
        token_counts_source = "saved";
        token_counts_saved = *saved_at == generation;
      } else {
        token_counts->load(*connection);
        token_counts_source = "counted";
      }
    } catch (...) {
      // Lengths left unknown are asked of FTS5 row by row: slower keyword ranking, the same
      // scores (and a database that cannot be read says so on the next query).
    }
    // The connection to the pool, its statements compiled, before the index is read and before
    // a keyword search waiting for the lengths goes on: it finds the connection there, rather
    // than opening a reader of its own (~1 ms, and a cache of its own to fill). An index file
    // that does not hold every vector borrows a reader to catch up or rebuild.
    if (!stop_loading.load()) pool_reader(std::move(connection));
    connection.reset();
    {
      std::lock_guard lock(index_mutex);
      loading = Loading::index;
      index_loaded.notify_all();
    }
    IndexFile file = take_index_file(&stop_loading);
    open_index(nullptr, &stop_loading, &file);
  } catch (...) {
    Error error = error_from_current_exception();
    try {
      failure.emplace(error.code(), error.what());
    } catch (...) {
      failure.emplace(error.code(), std::string());  // (out of memory for the message)
    }
  }
  const bool stopped = stop_loading.load();
  {
    std::lock_guard lock(index_mutex);
    // Closed meanwhile: no index, which current_index() reports as closed.
    if (failure || stopped) index.reset();
    if (!stopped) load_failure = std::move(failure);
    loading = Loading::done;
    index_loaded.notify_all();
  }
  if (stopped) return;
  try {
    Json event = make_event("kb.index", std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
    event["path"] = path;
    {
      std::lock_guard lock(index_mutex);
      if (load_failure) {
        event["index"] = "failed";
        event["error"] = load_failure->second;
      } else {
        event["index"] = index_state;
        if (!index_reason.empty()) event["index_reason"] = index_reason;
        event["token_counts"] = token_counts_source.empty() ? "unknown" : token_counts_source;
      }
    }
    // The last use of this object: a sink that closes and destroys the base from this thread
    // is calling a copy (see stop_loader).
    const EventSink sink = options.events;
    emit(sink, event);
  } catch (...) {  // (out of memory for the event: it is left out)
  }
}

bool KnowledgeBase::Impl::stop_loader() {
  stop_loading.store(true);
  if (index_read) {  // (a loader waiting for the index file sees it)
    {
      std::lock_guard lock(index_read->mutex);
      index_read->stop.store(true);
    }
    index_read->finished.notify_all();
  }
  std::thread::id loader_id;
  {
    std::lock_guard lock(index_mutex);
    loader_id = loader_thread;
  }
  // (On the loader's own thread — a "kb.index" sink closing the base — there is nothing to
  // wait for: the loader only returns after its sink.)
  if (loader_exit && loader_id != std::this_thread::get_id()) {
    std::unique_lock lock(loader_exit->mutex);
    loader_exit->gone.wait(lock, [&] { return loader_exit->done; });
  }
  std::lock_guard lock(index_mutex);
  return !load_failure && index;
}

KnowledgeBase::Impl::~Impl() {
  stop_loader();
}

// ---- opening -------------------------------------------------------------------------------

namespace {

std::uint64_t random_owner() {
  std::random_device device;
  std::uint64_t value =
      (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  // Stored as a signed 64-bit integer; keep it positive and non-zero.
  value &= 0x7fffffffffffffffull;
  return value ? value : 1;
}

void check_options(const KnowledgeOptions& o) {
  if (!o.metric.empty() && o.metric != "cosine" && o.metric != "inner_product") {
    throw_config_error("metric", "must be one of cosine, inner_product, got \"" + o.metric + "\"");
  }
  if (o.hnsw.m < 2 || o.hnsw.m > 100) throw_config_error("hnsw.m", "must be in 2..100");
  if (o.hnsw.ef_construction < 10)
    throw_config_error("hnsw.ef_construction", "must be at least 10");
  if (o.hnsw.ef_search < 1) throw_config_error("hnsw.ef_search", "must be at least 1");
  if (o.hnsw.quantization != VectorQuantization::none &&
      o.hnsw.quantization != VectorQuantization::int8) {
    throw_config_error("hnsw.quantization", "must be none or int8");
  }
  if (o.synchronous != "normal" && o.synchronous != "full") {
    throw_config_error("synchronous", "must be one of normal, full");
  }
  if (!(o.compaction_deleted_fraction > 0 && o.compaction_deleted_fraction <= 1)) {
    throw_config_error("compaction.deleted_fraction", "must be in (0, 1]");
  }
  if (o.read_connections < 1) throw_config_error("read_connections", "must be at least 1");
  if (o.index_threads < 1) throw_config_error("index_threads", "must be at least 1");
}

std::int64_t micros_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace

KnowledgeBase KnowledgeBase::open(const std::string& path, KnowledgeOptions options) {
  auto start = std::chrono::steady_clock::now();
  if (path.empty()) throw Error(Errc::invalid_argument, "knowledge base: empty path");
  check_options(options);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->memory = path == ":memory:";
  impl->options.synchronous = options.synchronous;  // (for the connections opened here)
  impl->options.hnsw.quantization = options.hnsw.quantization;
  // A file base's index file is read while this thread opens the database.
  if (!impl->memory) impl->start_reading_index();
  // A file base is opened with a reader, which the loader then uses and gives to the pool;
  // the writer is opened by the first write, or here when the schema is to be made. A process
  // that only reads a base never opens one (a connection costs ~1 ms and its memory).
  std::unique_ptr<Connection> first;
  if (impl->memory) {
    impl->writer = impl->open_writer();
  } else {
    first = impl->open_reader();
  }
  Connection& db = first ? *first : *impl->writer;

  knowledge::StoredMeta meta;
  // The base's identity read from one snapshot (and one read transaction, not one per query).
  std::optional<knowledge::ReadTransaction> snapshot;
  if (first) snapshot.emplace(db);
  if (knowledge::database_is_empty(db)) {
    snapshot.reset();
    meta.dimension = options.dimension  ? options.dimension
                     : options.embedder ? options.embedder->dimension()
                                        : 384;
    meta.metric = options.metric.empty() ? "cosine" : options.metric;
    meta.owner = random_owner();
    if (!impl->writer) impl->writer = impl->open_writer();
    knowledge::create_schema(*impl->writer, meta);
  } else {
    knowledge::check_knowledge_base(db);
    meta = knowledge::read_meta(db);
    if (options.dimension && options.dimension != meta.dimension) {
      throw_config_error("dimension", "is " + std::to_string(options.dimension) +
                                          " but the base at " + path + " holds vectors of " +
                                          std::to_string(meta.dimension));
    }
    if (!options.metric.empty() && options.metric != meta.metric) {
      throw_config_error(
          "metric", "is " + options.metric + " but the base at " + path + " uses " + meta.metric);
    }
  }
  snapshot.reset();
  if (options.embedder && options.embedder->dimension() != meta.dimension) {
    throw_config_error("embedder",
                       "makes vectors of " + std::to_string(options.embedder->dimension()) +
                           " but the base holds vectors of " + std::to_string(meta.dimension));
  }
  impl->dimension = meta.dimension;
  impl->cosine = meta.metric == "cosine";
  impl->owner = meta.owner;
  impl->generation = meta.generation;
  impl->pruned_through = meta.pruned_through;
  options.dimension = meta.dimension;
  options.metric = meta.metric;
  impl->embedder = options.embedder;
  if (!impl->embedder) {
    HashingEmbedder::Options embedder_options;
    embedder_options.dimension = meta.dimension;
    impl->embedder = std::make_shared<HashingEmbedder>(embedder_options);
  }
  if (options.index_threads > 1) {
    impl->index_executor = std::make_unique<Executor>(Executor::Options{options.index_threads});
  }
  impl->options = std::move(options);
  // A memory base starts empty: its index is made here. A file base's index and token counts
  // are loaded by the loader thread, so that opening costs the same for any size of base.
  if (impl->memory) {
    impl->open_index(impl->writer.get());
  } else {
    impl->loader_connection = std::move(first);
  }

  Json event = make_event("kb.open", micros_since(start));
  event["path"] = path;
  event["index"] = impl->memory ? impl->index_state : "loading";
  emit(impl->options.events, event);
  if (!impl->memory) impl->start_loading();  // after the event: "kb.index" comes second
  return KnowledgeBase(std::move(impl));
}

KnowledgeBase::KnowledgeBase(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KnowledgeBase::KnowledgeBase(KnowledgeBase&&) noexcept = default;
KnowledgeBase& KnowledgeBase::operator=(KnowledgeBase&& other) noexcept {
  if (this != &other) {
    try {
      close();
    } catch (...) {  // the destructor's rule: close() reports errors, replacing does not
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

KnowledgeBase::~KnowledgeBase() {
  try {
    close();
  } catch (...) {  // call close() to see errors
  }
}

const std::string& KnowledgeBase::path() const noexcept {
  return impl_->path;
}
std::size_t KnowledgeBase::dimension() const noexcept {
  return impl_->dimension;
}

// ---- documents -----------------------------------------------------------------------------

namespace {

// Validated, normalised documents ready to store.
struct PreparedDocument {
  std::string id;
  std::string text;
  std::string metadata;  // JSON text
  std::vector<float> vector;
};

std::string document_name(const std::string& id) {
  return "document \"" + id + "\"";
}

void check_vector(const std::string& id, const std::vector<float>& vector, std::size_t dimension) {
  if (vector.size() != dimension) {
    throw Error(Errc::invalid_argument, document_name(id) + ": vector has " +
                                            std::to_string(vector.size()) + " values, expected " +
                                            std::to_string(dimension));
  }
  for (std::size_t i = 0; i < vector.size(); ++i) {
    if (!std::isfinite(vector[i])) {
      throw Error(Errc::invalid_argument,
                  document_name(id) + ": vector[" + std::to_string(i) + "] is not a finite number");
    }
  }
}

}  // namespace

void KnowledgeBase::upsert(Document document) {
  std::vector<Document> one;
  one.push_back(std::move(document));
  upsert(std::move(one));
}

void KnowledgeBase::upsert(std::vector<Document> documents) {
  auto start = std::chrono::steady_clock::now();
  Impl& impl = *impl_;
  impl.check_open();
  if (documents.empty()) return;
  // A batch that names an id twice stores the last one (as separate upserts would).
  std::unordered_map<std::string, std::size_t> last;
  last.reserve(documents.size());
  for (std::size_t i = 0; i < documents.size(); ++i)
    last[documents[i].id] = i;

  std::vector<PreparedDocument> prepared;
  prepared.reserve(last.size());
  std::vector<std::size_t> to_embed;
  for (std::size_t i = 0; i < documents.size(); ++i) {
    Document& d = documents[i];
    if (last[d.id] != i) continue;
    if (d.id.empty()) throw Error(Errc::invalid_argument, "document: empty id");
    if (d.metadata.is_null()) d.metadata = Json::object();
    if (!d.metadata.is_object()) {
      throw Error(Errc::invalid_argument, document_name(d.id) +
                                              ": metadata must be a JSON object, got " +
                                              std::string(json_type_name(d.metadata)));
    }
    if (d.vector.empty()) {
      to_embed.push_back(prepared.size());
    } else {
      check_vector(d.id, d.vector, impl.dimension);
    }
    prepared.push_back(
        {std::move(d.id), std::move(d.text), dump_json(d.metadata), std::move(d.vector)});
  }
  // Embedding may be slow (a model over HTTP): it happens before the write lock is taken.
  if (!to_embed.empty()) {
    std::vector<std::string> texts;
    texts.reserve(to_embed.size());
    for (auto i : to_embed)
      texts.push_back(prepared[i].text);
    auto vectors = impl.embedder->embed_batch(texts);
    if (vectors.size() != texts.size()) {
      throw Error(Errc::internal, "knowledge base: the embedder returned " +
                                      std::to_string(vectors.size()) + " vectors for " +
                                      std::to_string(texts.size()) + " texts");
    }
    for (std::size_t j = 0; j < to_embed.size(); ++j) {
      auto& d = prepared[to_embed[j]];
      d.vector = std::move(vectors[j]);
      check_vector(d.id, d.vector, impl.dimension);
    }
  }
  std::vector<float> flat(prepared.size() * impl.dimension);
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    float* v = flat.data() + i * impl.dimension;
    std::copy(prepared[i].vector.begin(), prepared[i].vector.end(), v);
    if (impl.cosine) vector::normalize(v, impl.dimension);
  }

  Impl::WriteLease db(impl);
  // Before anything is written: a base whose index could not be loaded takes no documents it
  // could not index.
  auto index = impl.current_index();
  std::vector<std::int64_t> labels;
  std::vector<std::uint32_t> token_counts;  // FTS5's, published once committed
  labels.reserve(prepared.size());
  const std::uint64_t next_generation = impl.generation + 1;
  {
    Transaction transaction(*db);
    for (std::size_t i = 0; i < prepared.size(); ++i) {
      const auto& d = prepared[i];
      {
        auto entity = db->prepare("SELECT 1 FROM entities WHERE id = ?1");
        if (entity.bind_text(1, d.id).step()) {
          throw Error(Errc::invalid_argument,
                      document_name(d.id) + ": the id belongs to an entity");
        }
      }
      std::int64_t label = 0;
      {
        auto put = db->prepare(
            "INSERT INTO documents(id, metadata, generation, text) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT(id) DO UPDATE SET metadata = excluded.metadata, "
            "generation = excluded.generation, text = excluded.text RETURNING label");
        put.bind_text(1, d.id)
            .bind_text(2, d.metadata)
            .bind(3, static_cast<std::int64_t>(next_generation))
            .bind_text(4, d.text);
        if (!put.step()) throw Error(Errc::internal, document_name(d.id) + ": no label returned");
        label = put.int64(0);
        put.run();
      }
      auto vector = db->prepare("INSERT OR REPLACE INTO vectors(label, vector) VALUES (?1, ?2)");
      vector.bind(1, label)
          .bind_blob(2, flat.data() + i * impl.dimension, impl.dimension * sizeof(float))
          .run();
      labels.push_back(label);
      token_counts.push_back(knowledge::stored_token_count(*db, label).value_or(0));
    }
    knowledge::write_meta(*db, "generation", static_cast<std::int64_t>(next_generation));
    transaction.commit();
  }
  for (std::size_t i = 0; i < labels.size(); ++i)
    impl.token_counts->set(labels[i], token_counts[i]);
  impl.generation = next_generation;
  impl.index_changed = true;
  impl.token_counts_saved = false;
  // Committed: the index follows. Should adding fail (memory), rebuilding from SQLite is the
  // way back to an index that matches the database.
  try {
    impl.add_vectors(*index, labels, flat);
  } catch (const Error&) {
    index.reset();
    impl.compact_locked(*db);
  }
  Json event = make_event("kb.upsert", micros_since(start));
  event["documents"] = prepared.size();
  emit(impl.options.events, event);
}

std::optional<Document> KnowledgeBase::get(const std::string& id) const {
  impl_->check_open();
  Impl::ReadLease db(*impl_);
  auto row = db->prepare(
      "SELECT d.text, d.metadata, v.vector FROM documents d LEFT JOIN vectors v ON v.label = "
      "d.label "
      "WHERE d.id = ?1");
  row.bind_text(1, id);
  if (!row.step()) return std::nullopt;
  Document out;
  out.id = id;
  out.text = std::string(row.text(0));
  out.metadata = Json::parse(row.text(1), nullptr, false);
  if (!out.metadata.is_object()) out.metadata = Json::object();
  out.vector.resize(impl_->dimension);
  if (!knowledge::read_vector_blob(row.blob(2), impl_->dimension, out.vector.data()))
    out.vector.clear();
  return out;
}

namespace {

// Deletes one document inside the caller's transaction; its label, or -1 when absent.
std::int64_t delete_document(Connection& db, const std::string& id, std::uint64_t generation) {
  std::int64_t label = -1;
  {
    auto erase = db.prepare("DELETE FROM documents WHERE id = ?1 RETURNING label");
    erase.bind_text(1, id);
    if (erase.step()) label = erase.int64(0);
    erase.run();
  }
  if (label < 0) return label;
  auto tombstone =
      db.prepare("INSERT OR REPLACE INTO tombstones(label, generation) VALUES (?1, ?2)");
  tombstone.bind(1, label).bind(2, static_cast<std::int64_t>(generation)).run();
  knowledge::delete_edges_of(db, id);
  return label;
}

}  // namespace

void KnowledgeBase::remove(const std::string& id) {
  if (remove(std::vector<std::string>{id}) == 0) {
    throw Error(Errc::not_found, "knowledge base: no document \"" + id + "\"");
  }
}

std::size_t KnowledgeBase::remove(const std::vector<std::string>& ids) {
  auto start = std::chrono::steady_clock::now();
  Impl& impl = *impl_;
  Impl::WriteLease db(impl);
  auto index = impl.current_index();  // (see upsert)
  const std::uint64_t next_generation = impl.generation + 1;
  std::vector<std::int64_t> labels;
  {
    Transaction transaction(*db);
    for (const auto& id : ids) {
      auto label = delete_document(*db, id, next_generation);
      if (label >= 0) labels.push_back(label);
    }
    if (labels.empty()) return 0;
    knowledge::write_meta(*db, "generation", static_cast<std::int64_t>(next_generation));
    transaction.commit();
  }
  for (auto label : labels)
    impl.token_counts->set(label, 0);
  impl.generation = next_generation;
  impl.index_changed = true;
  impl.token_counts_saved = false;
  for (auto label : labels)
    index->mark_deleted(static_cast<vector::HnswIndex::Label>(label));
  index.reset();
  impl.maybe_compact(*db);
  Json event = make_event("kb.delete", micros_since(start));
  event["documents"] = labels.size();
  emit(impl.options.events, event);
  return labels.size();
}

std::size_t KnowledgeBase::count() const {
  impl_->check_open();
  Impl::ReadLease db(*impl_);
  auto rows = db->prepare("SELECT count(*) FROM documents");
  return rows.step() ? static_cast<std::size_t>(rows.int64(0)) : 0;
}

// ---- graph ---------------------------------------------------------------------------------

void KnowledgeBase::upsert_entity(Entity entity) {
  if (entity.id.empty()) throw Error(Errc::invalid_argument, "entity: empty id");
  if (entity.properties.is_null()) entity.properties = Json::object();
  if (!entity.properties.is_object()) {
    throw Error(Errc::invalid_argument,
                "entity \"" + entity.id + "\": properties must be a JSON object");
  }
  Impl::WriteLease db(*impl_);
  Transaction transaction(*db);
  {
    auto document = db->prepare("SELECT 1 FROM documents WHERE id = ?1");
    if (document.bind_text(1, entity.id).step()) {
      throw Error(Errc::invalid_argument,
                  "entity \"" + entity.id + "\": the id belongs to a document");
    }
  }
  auto put = db->prepare(
      "INSERT INTO entities(id, type, properties) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE "
      "SET "
      "type = excluded.type, properties = excluded.properties");
  put.bind_text(1, entity.id)
      .bind_text(2, entity.type)
      .bind_text(3, dump_json(entity.properties))
      .run();
  transaction.commit();
}

std::optional<Entity> KnowledgeBase::get_entity(const std::string& id) const {
  impl_->check_open();
  Impl::ReadLease db(*impl_);
  auto row = db->prepare("SELECT type, properties FROM entities WHERE id = ?1");
  if (!row.bind_text(1, id).step()) return std::nullopt;
  Entity out;
  out.id = id;
  out.type = std::string(row.text(0));
  out.properties = Json::parse(row.text(1), nullptr, false);
  if (!out.properties.is_object()) out.properties = Json::object();
  return out;
}

void KnowledgeBase::remove_entity(const std::string& id) {
  Impl::WriteLease db(*impl_);
  Transaction transaction(*db);
  {
    auto erase = db->prepare("DELETE FROM entities WHERE id = ?1");
    erase.bind_text(1, id).run();
  }
  if (db->changes() == 0) throw Error(Errc::not_found, "knowledge base: no entity \"" + id + "\"");
  knowledge::delete_edges_of(*db, id);
  transaction.commit();
}

void KnowledgeBase::add_edge(Edge edge) {
  std::vector<Edge> one;
  one.push_back(std::move(edge));
  add_edges(std::move(one));
}

void KnowledgeBase::add_edges(std::vector<Edge> edges) {
  Impl::WriteLease db(*impl_);
  Transaction transaction(*db);
  for (const auto& edge : edges)
    knowledge::put_edge(*db, edge);
  transaction.commit();
}

void KnowledgeBase::remove_edge(const std::string& from, const std::string& to,
                                const std::string& type) {
  Impl::WriteLease db(*impl_);
  if (!knowledge::delete_edge(*db, from, to, type)) {
    throw Error(Errc::not_found, "knowledge base: no edge " + from + " -[" + type + "]-> " + to);
  }
}

std::vector<Edge> KnowledgeBase::edges(const std::string& id, EdgeDirection direction) const {
  impl_->check_open();
  Impl::ReadLease db(*impl_);
  return knowledge::edges_of(*db, id, direction);
}

std::vector<Neighbour> KnowledgeBase::neighbours(const std::string& id,
                                                 const NeighbourQuery& query) const {
  impl_->check_open();
  if (query.hops < 1 || query.hops > 8)
    throw Error(Errc::invalid_argument, "neighbours: hops must be in 1..8");
  Impl::ReadLease db(*impl_);
  knowledge::ReadTransaction snapshot(*db);
  if (knowledge::node_kind(*db, id) == knowledge::NodeKind::none) {
    throw Error(Errc::not_found, "knowledge base: no document or entity \"" + id + "\"");
  }
  auto reached = knowledge::traverse(*db, {{id, 1.0}}, query.hops, query.edge_types,
                                     query.direction, query.limit ? query.limit : 100000);
  std::vector<Neighbour> out;
  out.reserve(reached.size());
  for (auto& node : reached) {
    Neighbour n;
    n.kind = knowledge::to_string(knowledge::node_kind(*db, node.id));
    n.id = std::move(node.id);
    n.hops = node.hops;
    n.weight = node.weight;
    n.via = std::move(node.via);
    n.edge_type = std::move(node.edge_type);
    out.push_back(std::move(n));
  }
  return out;
}

// ---- maintenance ---------------------------------------------------------------------------

void KnowledgeBase::checkpoint() {
  Impl::WriteLease db(*impl_);
  if (impl_->memory) return;
  impl_->save_index(*db);
  db->exec("PRAGMA wal_checkpoint(PASSIVE)");
}

void KnowledgeBase::compact() {
  Impl::WriteLease db(*impl_);
  impl_->compact_locked(*db);  // first: the way back to an index after a failed load
  // The keyword index too: FTS5 keeps the documents' words in segments, merged a few at a time
  // as writes come; in one segment, a keyword query reads each word's list once instead of a
  // piece from each segment (10,000 documents written in batches of 1,000: questions' keyword
  // search p50 1.61 -> 1.46 ms). It rewrites the keyword index through the WAL: checkpointed
  // at once, where no reader holds an older snapshot.
  db->exec("INSERT INTO documents_fts(documents_fts) VALUES('optimize')");
  if (!impl_->memory) db->exec("PRAGMA wal_checkpoint(PASSIVE)");
}

namespace {

std::uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

Json KnowledgeBase::stats() const {
  Impl& impl = *impl_;
  impl.check_open();
  auto index = impl.current_index();  // waits for the loader, whose figures these are
  Json out;
  {
    Impl::ReadLease db(impl);
    knowledge::ReadTransaction snapshot(*db);
    auto count = [&](const char* sql) {
      auto rows = db->prepare(sql);
      return rows.step() ? rows.int64(0) : 0;
    };
    out["documents"] = count("SELECT count(*) FROM documents");
    out["entities"] = count("SELECT count(*) FROM entities");
    out["edges"] = count("SELECT count(*) FROM edges");
    out["db_bytes"] =
        impl.memory
            ? static_cast<std::uint64_t>(count("PRAGMA page_count") * count("PRAGMA page_size"))
            : file_size(impl.path) + file_size(impl.path + "-wal");
  }
  out["path"] = impl.path;
  out["dimension"] = impl.dimension;
  out["metric"] = impl.cosine ? "cosine" : "inner_product";
  out["quantization"] = vector::quantization_name(index->quantization());
  out["index_elements"] = index->size() + index->deleted_count();
  out["deleted_in_index"] = index->deleted_count();
  out["index_bytes"] = impl.memory ? 0 : file_size(impl.index_path());
  {
    std::lock_guard lock(impl.index_mutex);  // (a compaction after a failed load sets them)
    out["index"] = impl.index_state;
    out["index_reason"] = impl.index_reason;
  }
  out["generation"] = impl.generation.load();
  out["compactions"] = impl.compactions.load();
  return out;
}

void KnowledgeBase::close() {
  if (!impl_ || impl_->closed.load()) return;
  Impl& impl = *impl_;
  std::unique_lock write_lock(impl.write_mutex);
  if (impl.closed.exchange(true)) return;
  // A load still running is abandoned (the file or SQLite has all it would have made); an
  // index that was loaded is saved when it changed.
  const bool loaded = impl.stop_loader();
  std::exception_ptr failure;
  try {
    // A process that only read leaves the WAL to SQLite, which checkpoints it as the last
    // connection closes.
    if (!impl.memory && (impl.writer || (loaded && impl.unsaved()))) {
      if (!impl.writer) impl.writer = impl.open_writer();
      if (loaded) impl.save_index(*impl.writer);
      impl.writer->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
  } catch (...) {
    failure = std::current_exception();
  }
  {
    std::lock_guard lock(impl.pool_mutex);
    impl.pool.clear();
  }
  std::unique_lock memory_lock(impl.memory_mutex, std::defer_lock);
  if (impl.memory) memory_lock.lock();  // a memory base's searches use the writer
  impl.writer_snippets.reset();
  impl.writer.reset();
  impl.set_index(nullptr);
  impl.index_executor.reset();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace keel
