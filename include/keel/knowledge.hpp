/// \file
/// Knowledge: a knowledge base in one SQLite file (WAL) plus an HNSW index file beside it, with
/// documents, a graph of documents and named entities, and hybrid search — keyword (FTS5 BM25),
/// vector (HNSW) and graph expansion, fused by Reciprocal Rank Fusion or weighted scores —
/// with metadata filters applied inside the search.
///
/// Durability: SQLite is the source of truth (vectors are stored there too, as float32 blobs).
/// The index file `<path>.hnsw` is a cache saved on close() and checkpoint(); on open it is
/// verified (checksum, owner, generation) and used as is when current, caught up from SQLite
/// when older, and rebuilt from SQLite when missing, corrupt or foreign. A committed write is
/// never lost: with "synchronous": "normal" (the default) a commit survives a crash of the
/// process; "full" also survives a power loss or an operating-system crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/events.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"

namespace keel {

class Embedder;

/// How the vector index keeps its vectors (the ones stored in SQLite are always exact; an
/// index file of the other kind is rebuilt from them on open).
enum class VectorQuantization {
  none,  ///< 32-bit floats
  int8,  ///< a scale and a byte per dimension (the default): a quarter of the memory, twice
         ///< as fast to build; a search scores its best hits (2 k, at least 16) again with the
         ///< exact vectors, so their ranks and similarities are exact
};

/// HNSW parameters of the vector index.
struct KEEL_API HnswOptions {
  std::size_t m = 16;                 ///< links per node (2..100)
  std::size_t ef_construction = 200;  ///< build breadth (>= 10)
  std::size_t ef_search = 64;         ///< default search breadth (>= 1)
  std::size_t seed = 100;             ///< level generator seed
  /// JSON "none" or "int8".
  VectorQuantization quantization = VectorQuantization::int8;

  /// {"m": 16, "ef_construction": 200, "ef_search": 64, "seed": 100, "quantization": "int8"}
  static HnswOptions from_json(const Json& json, const std::string& path = "hnsw");
  /// The JSON form that from_json() reads.
  Json to_json() const;
};

/// How a knowledge base is opened. JSON:
/// {"dimension": 384, "metric": "cosine" | "inner_product", "hnsw": {...},
///  "synchronous": "normal" | "full", "embedder": {make_embedder config},
///  "compaction": {"deleted_fraction": 0.2, "min_deleted": 64}, "read_connections": 8,
///  "index_threads": 1}.
struct KEEL_API KnowledgeOptions {
  /// Vector dimension; 0 = the stored one for an existing base, else the embedder's, else 384.
  std::size_t dimension = 0;
  /// "cosine" (vectors are stored unit-normalised) or "inner_product" (stored as given);
  /// empty = the stored one for an existing base, else "cosine".
  std::string metric;
  /// Parameters of the vector index.
  HnswOptions hnsw;
  /// SQLite `synchronous`: "normal" survives process crashes, "full" also power loss.
  std::string synchronous = "normal";
  /// Rebuild the HNSW index from SQLite when deleted entries exceed this fraction of its
  /// entries and number at least `compaction_min_deleted`.
  double compaction_deleted_fraction = 0.2;
  /// See compaction_deleted_fraction.
  std::size_t compaction_min_deleted = 64;
  /// Most read connections kept open for concurrent searches (file bases only). Each keeps up
  /// to 4 MiB of the pages it read; the database is read, never memory-mapped.
  std::size_t read_connections = 8;
  /// Threads adding vectors when the index is rebuilt or a large batch is added (1 = the
  /// calling thread; more uses a private executor). More than 1 is faster but runs hnswlib
  /// 0.6.2's addPoint concurrently, whose level draw races on a shared random generator
  /// (benign on x86-64, reported by ThreadSanitizer).
  unsigned index_threads = 1;
  /// Embeds texts given without a vector. Default: a HashingEmbedder of `dimension`.
  std::shared_ptr<Embedder> embedder;
  /// The JSON the embedder was made from (kept for to_json); null when set in code.
  Json embedder_config;
  /// Receives "kb.open", "kb.index" (the vector index is ready: "index" says how it was
  /// obtained, or "failed" with "error"; "token_counts" whether the documents' lengths were
  /// "saved" with the base or "counted" from its keyword index; from the loader's thread),
  /// "kb.upsert", "kb.delete", "kb.search" and "kb.compact" events.
  EventSink events;

  /// Throws Error(invalid_config) naming the JSON path of a bad or unknown key.
  static KnowledgeOptions from_json(const Json& json);
  /// The JSON form above ("embedder" only when embedder_config is set).
  Json to_json() const;
};

/// A document: the unit that is indexed and returned. `metadata` is a JSON object (null is
/// read as {}); `vector`, when empty, is computed by the embedder from `text`.
struct KEEL_API Document {
  /// Unique among documents and entities; not empty.
  std::string id;
  /// The text indexed for keyword search (and embedded when `vector` is empty).
  std::string text;
  /// Any JSON object; search filters test its fields.
  Json metadata = Json::object();
  /// The document's vector (dimension floats); empty to have it embedded.
  std::vector<float> vector;

  /// {"id": "...", "text": "...", "metadata": {...}, "vector": [...]}; only "id" is required.
  /// Throws Error(invalid_argument) naming `path`.
  static Document from_json(const Json& json, const std::string& path = "document");
  /// The vector is included only when `with_vector`.
  Json to_json(bool with_vector = false) const;
};

/// A named entity: a graph node that is not a document ("Paris", type "city").
struct KEEL_API Entity {
  /// Unique among documents and entities.
  std::string id;
  /// What kind of thing it is ("city"); may be empty.
  std::string type;
  /// Any JSON object.
  Json properties = Json::object();

  /// {"id": "...", "type"?: "...", "properties"?: {...}}. Throws Error(invalid_argument)
  /// naming `path`.
  static Entity from_json(const Json& json, const std::string& path = "entity");
  /// {"id", "type", "properties"}
  Json to_json() const;
};

/// A typed, weighted, directed edge between two nodes (documents or entities).
struct KEEL_API Edge {
  /// The id of the node it leaves.
  std::string from;
  /// The id of the node it reaches.
  std::string to;
  /// What the link means ("cites"); with `from` and `to` it identifies the edge.
  std::string type;
  double weight = 1.0;  ///< > 0; multiplies along a path
  /// Any JSON object.
  Json properties = Json::object();

  /// {"from", "to", "type", "weight"?: 1.0, "properties"?: {...}}. Throws
  /// Error(invalid_argument) naming `path`.
  static Edge from_json(const Json& json, const std::string& path = "edge");
  /// {"from", "to", "type", "weight", "properties"}
  Json to_json() const;
};

/// Which edges of a node to follow: outgoing (from it), incoming (to it) or both.
enum class EdgeDirection { outgoing, incoming, both };

/// Which neighbours of a node to return. JSON: {"hops": 1, "edge_types": ["cites"],
/// "direction": "outgoing" | "incoming" | "both", "limit": 0}.
struct KEEL_API NeighbourQuery {
  std::size_t hops = 1;                 ///< 1..8
  std::vector<std::string> edge_types;  ///< empty = every type
  /// Which edges to follow.
  EdgeDirection direction = EdgeDirection::outgoing;
  std::size_t limit = 0;  ///< 0 = no limit

  /// Reads the JSON above. Throws Error(invalid_config) naming `path`.
  static NeighbourQuery from_json(const Json& json, const std::string& path = "query");
  /// The JSON form above.
  Json to_json() const;
};

/// A node reached from another one: its distance in hops and the best product of edge weights
/// over the shortest paths, with the edge that reached it.
struct KEEL_API Neighbour {
  /// The node's id.
  std::string id;
  std::string kind;  ///< "document" or "entity"
  /// Its distance from the start node, in edges.
  std::size_t hops = 0;
  /// The best product of edge weights over the shortest paths to it.
  double weight = 0;
  std::string via;        ///< the node the last edge came from
  std::string edge_type;  ///< the type of that edge

  /// {"id", "kind", "hops", "weight", "via", "edge_type"}
  Json to_json() const;
};

/// How the signals' ranked lists become one: rrf (Reciprocal Rank Fusion: each list adds
/// weight / (rrf_k + rank)) or weighted (each list adds weight times its score, scaled to
/// [0, 1] over the list).
enum class FusionMethod { rrf, weighted };

/// A search. Signals: keyword (FTS5 BM25 over the text), vector (HNSW over the query's vector,
/// embedded from `text` when not given) and graph (expansion from given seeds, or from the top
/// keyword + vector hits, decaying per hop). JSON:
/// {"text": "...", "vector": [...], "k": 10, "filter": {"lang": {"eq": "fr"}},
///  "signals": {"keyword": true, "vector": true, "graph": false},
///  "keyword": {"mode": "any" | "all" | "phrase", "prefix": false},
///  "graph": {"seeds": ["doc-1"], "hops": 1, "decay": 0.5, "edge_types": [], "direction":
///            "both", "seed_hits": 3},
///  "fusion": {"method": "rrf" | "weighted", "rrf_k": 60, "candidates": 50,
///             "weights": {"keyword": 1, "vector": 1, "graph": 0.5}},
///  "ef_search": 64, "snippet": {"tokens": 16, "open": "[", "close": "]", "ellipsis": "…"}}
struct KEEL_API SearchQuery {
  /// The words to search for, and the text embedded when no vector is given.
  std::string text;
  std::vector<float> vector;  ///< empty = embed `text` when the vector signal is on
  std::size_t k = 10;         ///< 1..10000
  /// Metadata predicates that every hit satisfies, applied inside each signal so a selective
  /// filter still yields k hits: {"field": {"eq": v} | {"in": [...]} | {"exists": bool} |
  /// {"gte": n, "lte": m, "gt": n, "lt": m}, ...}; a field may be a dotted path.
  Json filter;

  /// Run the keyword signal.
  bool use_keyword = true;
  /// Run the vector signal.
  bool use_vector = true;
  bool use_graph = false;  ///< on by default when `seeds` are given

  ///@{
  /// any: documents with any of the words (OR, ranked by BM25); all: with every word;
  /// phrase: the words in order. The text is tokenised and every term quoted, so FTS5 syntax
  /// in it (quotes, NEAR, *, AND, column filters) is searched as plain words.
  enum class KeywordMode { any, all, phrase } keyword_mode = KeywordMode::any;
  ///@}
  bool prefix = false;  ///< each term also matches words it begins

  std::vector<std::string> seeds;  ///< graph seeds; empty = the top keyword + vector hits
  std::size_t graph_hops = 1;      ///< 1..8
  double graph_decay = 0.5;        ///< score factor per hop, in (0, 1]
  std::vector<std::string> graph_edge_types;  ///< empty = every type
  /// Which edges the graph expansion follows.
  EdgeDirection graph_direction = EdgeDirection::both;
  std::size_t graph_seed_hits = 3;  ///< how many top hits seed the expansion

  /// How the signals are fused.
  FusionMethod fusion = FusionMethod::rrf;
  /// RRF's constant k (>= 0): a larger k flattens the advantage of the top ranks.
  double rrf_k = 60;
  std::size_t candidates = 50;  ///< hits taken from each signal before fusion (>= k is used)
  /// Weight of the keyword signal in the fusion (0 leaves it out).
  double keyword_weight = 1.0;
  /// Weight of the vector signal in the fusion (0 leaves it out: the query is not embedded).
  double vector_weight = 1.0;
  /// Weight of the graph signal in the fusion (0 leaves it out).
  double graph_weight = 0.5;

  std::size_t ef_search = 0;  ///< 0 = the knowledge base's default

  /// Most tokens in a snippet (1..64).
  std::size_t snippet_tokens = 16;
  /// Written before each matched word of a snippet.
  std::string snippet_open = "[";
  /// Written after each matched word of a snippet.
  std::string snippet_close = "]";
  /// Marks where a snippet cuts the text.
  std::string snippet_ellipsis = "\xE2\x80\xA6";  // …

  /// Reads the JSON above. Throws Error(invalid_config) naming `path`; the filter is checked
  /// by KnowledgeBase::search().
  static SearchQuery from_json(const Json& json, const std::string& path = "query");
  /// The JSON form above, every key written.
  Json to_json() const;
};

/// One signal's view of a hit: its 1-based rank in that signal's list and its raw score
/// (BM25 with larger = better; cosine similarity; graph score).
struct KEEL_API SignalScore {
  /// 1 for the signal's best hit.
  std::size_t rank = 0;
  /// The signal's raw score.
  double score = 0;
  std::size_t hops = 0;  ///< graph only: hops from the nearest seed
};

/// One document a search found.
struct KEEL_API SearchHit {
  /// The document's id.
  std::string id;
  std::string text;  ///< the document's text (in the JSON too, for retrieval-augmented prompts)
  /// The document's metadata.
  Json metadata = Json::object();
  double score = 0;  ///< the fused score
  /// The matched words highlighted (FTS5 snippet()) when the keyword signal matched, else the
  /// start of the text.
  std::string snippet;
  ///@{
  /// How each signal ranked the document; empty when it did not find it.
  std::optional<SignalScore> keyword, vector, graph;
  ///@}

  /// {"id", "score", "snippet", "metadata", "text", "signals": {"keyword": {"rank", "score"},
  ///  "vector": {...}, "graph": {"rank", "score", "hops"}}} — a signal that did not find the
  /// document is absent.
  Json to_json() const;
};

/// What a search found.
struct KEEL_API SearchResult {
  /// At most k hits, best (highest fused score) first.
  std::vector<SearchHit> hits;
  /// {"keyword": us, "vector": us, "graph": us, "total": us}
  Json timings_us = Json::object();
  /// How the vector signal honoured the filter: "none" (no filter), "index" (over-fetch from
  /// HNSW) or "exact" (exact search over the documents the filter selects).
  std::string vector_strategy = "none";

  /// {"hits": [...], "timings_us": {...}}
  Json to_json() const;
};

/// How chunk_text() cuts a long text: on paragraphs, then sentences, then words, into pieces
/// of at most `max_bytes` bytes of UTF-8 that repeat up to `overlap_bytes` of the previous
/// piece (whole sentences or words). JSON: {"max_bytes": 1000, "overlap_bytes": 150}.
struct KEEL_API ChunkOptions {
  std::size_t max_bytes = 1000;     ///< >= 16
  std::size_t overlap_bytes = 150;  ///< < max_bytes / 2

  /// Reads the JSON above. Throws Error(invalid_config) naming `path`.
  static ChunkOptions from_json(const Json& json, const std::string& path = "chunking");
  /// {"max_bytes", "overlap_bytes"}
  Json to_json() const;
};

/// A piece of a text: bytes [start, end) of it.
struct KEEL_API Chunk {
  /// The piece's text.
  std::string text;
  /// Byte offset of its first byte in the text.
  std::size_t start = 0;
  /// Byte offset just past its last byte.
  std::size_t end = 0;
};

/// Cuts `text` into chunks (see ChunkOptions). Empty or blank text gives no chunk. Never
/// splits a UTF-8 sequence. Throws Error(invalid_argument) on bad options.
KEEL_API std::vector<Chunk> chunk_text(std::string_view text, const ChunkOptions& options = {});

/// Cuts a document into documents "<id>#<n>" (n from 0) whose metadata is the document's plus
/// {"parent": id, "chunk": n, "start": s, "end": e}; vectors are left empty (embedded on
/// upsert).
KEEL_API std::vector<Document> chunk_document(const Document& document,
                                              const ChunkOptions& options = {});

/// The knowledge base.
///
/// Thread safety: every method may be called from many threads at once. Reads (get, count,
/// search, neighbours, stats) run concurrently, each on a pooled read connection of its own,
/// and never wait for a writer of a file base (WAL); writes (upsert, remove, graph changes,
/// checkpoint, compact) are serialised by one writer lock. A file base opens its writer
/// connection on the first write (or at once to create the base): a process that only reads
/// holds one SQLite connection per concurrent reader. A ":memory:" base has a single
/// connection, so there reads wait for a running write.
///
/// Opening a file base costs no work per document: its vector index — the index file read
/// and verified (by a thread open() starts first, while it opens SQLite; done in time, that
/// thread goes on to load the rest), caught up with SQLite or rebuilt from it — and the
/// documents' lengths for keyword ranking are loaded in the background. Until that is done,
/// whatever needs the index (a vector or hybrid search, stats, a write) waits for it and then
/// answers as if open() had loaded it; keyword searches wait only for the lengths (the first
/// step), and get, count and graph reads do not wait. close() does not wait for the index
/// file's read.
class KEEL_API KnowledgeBase {
 public:
  /// Opens or creates the base at `path` (its index file is `<path>.hnsw`), or an in-memory
  /// one for ":memory:". Returns once SQLite is open and checked; the vector index is loaded
  /// in the background (see the class comment). Throws Error(io) naming the path when it
  /// cannot be opened, Error(invalid_config) on bad options or options that contradict the
  /// stored base (dimension, metric) or the embedder (dimension). Should loading the index
  /// fail (SQLite unreadable, out of memory), the calls that need it throw that error until
  /// compact() makes a new one.
  static KnowledgeBase open(const std::string& path, KnowledgeOptions options = {});

  /// Takes over another base; the moved-from one may only be destroyed or assigned to.
  KnowledgeBase(KnowledgeBase&&) noexcept;
  /// Closes this base (errors swallowed, as in the destructor), then takes over another.
  KnowledgeBase& operator=(KnowledgeBase&&) noexcept;
  /// Closes (see close()); errors are swallowed here — call close() to see them.
  ~KnowledgeBase();

  // Documents.
  /// Inserts or replaces a document. Throws Error(invalid_argument) for an empty id, a
  /// metadata value that is not an object, a vector of the wrong dimension or an id used by
  /// an entity.
  void upsert(Document document);
  /// Inserts or replaces documents in one transaction: all of them or, on any error, none.
  void upsert(std::vector<Document> documents);
  /// The document with its stored vector; nullopt when there is none.
  std::optional<Document> get(const std::string& id) const;
  /// Deletes a document, its edges and its index entries. Throws Error(not_found).
  void remove(const std::string& id);
  /// Deletes the documents that exist among `ids` in one transaction; returns how many.
  std::size_t remove(const std::vector<std::string>& ids);
  /// The number of documents.
  std::size_t count() const;

  // Graph.
  /// Inserts or replaces an entity. Throws Error(invalid_argument) when a document has its id.
  void upsert_entity(Entity entity);
  /// The entity; nullopt when there is none.
  std::optional<Entity> get_entity(const std::string& id) const;
  /// Deletes an entity and its edges. Throws Error(not_found).
  void remove_entity(const std::string& id);
  /// Inserts or replaces the edge (from, to, type). Throws Error(not_found) when an end is
  /// neither a document nor an entity.
  void add_edge(Edge edge);
  /// Adds edges in one transaction: all or none.
  void add_edges(std::vector<Edge> edges);
  /// Deletes the edge (from, to, type). Throws Error(not_found).
  void remove_edge(const std::string& from, const std::string& to, const std::string& type);
  /// The edges of a node in the given direction.
  std::vector<Edge> edges(const std::string& id,
                          EdgeDirection direction = EdgeDirection::both) const;
  /// Nodes reachable within query.hops, nearest first. Throws Error(not_found) for an unknown
  /// node.
  std::vector<Neighbour> neighbours(const std::string& id, const NeighbourQuery& query = {}) const;

  // Search.
  /// Runs a search (see SearchQuery). Throws Error(invalid_argument) for a bad query (k, vector
  /// dimension, weights) and Error(invalid_config) naming `filter.<field>` for a bad filter.
  SearchResult search(const SearchQuery& query) const;
  /// Searches `text` with the default query (keyword and vector signals fused by RRF) for
  /// `k` hits.
  SearchResult search(std::string_view text, std::size_t k = 10) const;

  // Maintenance.
  /// Saves the index file (when it changed) and checkpoints the WAL into the database file.
  void checkpoint();
  /// Rebuilds the vector index from SQLite now (it also happens by itself after heavy
  /// deletion, and is the way back to an index after a failed load), and merges the keyword
  /// index into one segment (keyword queries then read each word's list in one piece). Both
  /// rewrite what they rebuild: seconds for 100,000 documents. After a bulk load, say.
  void compact();
  /// {"path", "documents", "entities", "edges", "dimension", "metric", "db_bytes",
  ///  "quantization" ("int8" | "none"), "index_elements" (entries, deleted ones included),
  ///  "deleted_in_index", "index": "created" | "loaded" | "caught_up" | "rebuilt", "index_reason",
  ///  "generation", "compactions"}. Waits for the vector index to be loaded.
  Json stats() const;
  /// Saves the index file, checkpoints and closes. A load of the vector index still running
  /// is given up (nothing is lost: the next open loads or rebuilds it again). Later calls on
  /// this object throw Error(invalid_argument). Idempotent.
  void close();
  /// The path it was opened with.
  const std::string& path() const noexcept;
  /// The dimension of its vectors.
  std::size_t dimension() const noexcept;

  struct Impl;

 private:
  explicit KnowledgeBase(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
