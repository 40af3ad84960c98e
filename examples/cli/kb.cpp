// `keel kb`: the knowledge base from the command line.
//   keel kb --db PATH add [FILE|-] [--dimension N] [--batch N] [--chunk [--chunk-bytes N]]
//   keel kb --db PATH get ID [--vector]
//   keel kb --db PATH delete ID
//   keel kb --db PATH link FROM TO --type T [--weight W]
//   keel kb --db PATH search [QUERY] [--k N] [--mode hybrid|keyword|vector|graph]
//                            [--filter JSON] [--seeds ID,...] [--hops N] [--type T]
//   keel kb --db PATH neighbours ID [--hops N] [--type T] [--direction D] [--limit N]
//   keel kb --db PATH stats
// `add` commits every --batch documents in one transaction, so a crash (even SIGKILL) loses at
// most the batch being read; only `add` creates a base, the other commands need one to exist.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli.hpp"
#include "keel/knowledge.hpp"

namespace keel::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct KbOptions {
  std::string db;
  std::string options;  // KnowledgeOptions: JSON text or a file
};

struct AddOptions {
  std::string file = "-";
  std::size_t dimension = 0;
  std::size_t batch = 512;
  bool chunk = false;
  std::size_t chunk_bytes = 1000;
  std::optional<std::size_t> chunk_overlap;  // default: 15% of chunk_bytes
};

struct GetOptions {
  std::string id;
  bool vector = false;
};

struct LinkOptions {
  std::string from;
  std::string to;
  std::string type;
  double weight = 1.0;
};

struct SearchOptions {
  std::string text;
  std::size_t k = 10;
  std::string mode = "hybrid";
  std::string filter;
  std::vector<std::string> seeds;
  std::size_t hops = 1;
  std::vector<std::string> types;
};

struct NeighbourOptions {
  std::string id;
  std::size_t hops = 1;
  std::vector<std::string> types;
  std::string direction = "outgoing";
  std::size_t limit = 0;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A JSON argument given inline ("{...}") or as the name of a file holding it.
Json json_argument(const std::string& value, const std::string& what) {
  auto first = value.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (value[first] == '{' || value[first] == '[')) {
    return parse_json(value, what);
  }
  return read_json_file(value, what);
}

// The options a base was created with live beside it, so that later commands embed queries
// with the same embedder.
std::string saved_options_path(const std::string& db) {
  return db + ".options.json";
}

void write_file(const std::string& path, const std::string& data) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw Error(Errc::io, "cannot write " + temporary);
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    fs::remove(temporary, error);
    throw Error(Errc::io, "cannot rename " + temporary + " to " + path);
  }
}

// Opens the base at --db. Only `add` (create = true) may create one; the other commands
// report a missing base rather than create an empty one under a mistyped name.
KnowledgeBase open_base(const KbOptions& kb, bool create, std::size_t dimension = 0) {
  if (kb.db.empty()) throw UsageError("kb: --db PATH is required (run 'keel kb --help')");
  const bool memory = kb.db == ":memory:";
  const bool exists = memory || fs::exists(kb.db);
  if (!exists && !create) {
    throw Error(Errc::not_found, "no knowledge base at " + kb.db +
                                     " (create it with 'keel kb --db " + kb.db + " add FILE')");
  }
  const std::string saved_path = saved_options_path(kb.db);
  const bool saved = !memory && exists && fs::exists(saved_path);
  Json config = saved ? read_json_file(saved_path, "knowledge base options") : Json::object();
  Json given = kb.options.empty() ? Json::object() : json_argument(kb.options, "--options");
  if (!given.is_object() || !config.is_object()) {
    throw Error(Errc::invalid_config, (given.is_object() ? saved_path : std::string("--options")) +
                                          ": expected a JSON object");
  }
  for (auto& [key, value] : given.items())
    config[key] = value;
  if (dimension) config["dimension"] = dimension;
  KnowledgeOptions options;
  try {
    options = KnowledgeOptions::from_json(config);
  } catch (const Error& e) {
    throw Error(e.code(),
                (given.empty() && saved ? saved_path : std::string("--options")) + ": " + e.what());
  }
  // Saved before the base exists, so no base is ever found without the options it was made with.
  const bool save = !exists && !given.empty();
  if (save) write_file(saved_options_path(kb.db), dump_json(given, 2) + "\n");
  try {
    return KnowledgeBase::open(kb.db, std::move(options));
  } catch (...) {
    if (save) {
      std::error_code ignored;
      fs::remove(saved_path, ignored);
    }
    throw;
  }
}

// ---- add -----------------------------------------------------------------------------------

// A progress line on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(std::uintmax_t total_bytes)
      : enabled_(::isatty(STDERR_FILENO) == 1), total_bytes_(total_bytes) {}

  void update(std::size_t documents, std::uintmax_t bytes, bool force = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (!force && now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double rate = elapsed > 0 ? static_cast<double>(documents) / elapsed : 0;
    char line[160];
    if (total_bytes_ > 0) {
      double done = std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_bytes_));
      constexpr int width = 24;
      int filled = static_cast<int>(done * width);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.append(static_cast<std::size_t>(width - filled), '.');
      std::snprintf(line, sizeof line, "\r[%s] %3.0f%%  %zu documents  %.0f/s  %.1fs\x1b[K",
                    bar.c_str(), done * 100, documents, rate, elapsed);
    } else {
      std::snprintf(line, sizeof line, "\r%zu documents  %.0f/s  %.1fs\x1b[K", documents, rate,
                    elapsed);
    }
    std::fputs(line, stderr);
    std::fflush(stderr);
    shown_ = true;
  }

  void clear() {
    if (!shown_) return;
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
    shown_ = false;
  }

  ~Progress() { clear(); }

 private:
  bool enabled_;
  std::uintmax_t total_bytes_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point drawn_{};
};

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t") == std::string::npos;
}

// One input line as the documents to store (several with --chunk). Errors start with "line N".
std::vector<Document> documents_from_line(const std::string& line, std::size_t number,
                                          const AddOptions& options, std::size_t dimension) {
  const std::string where = "line " + std::to_string(number);
  Json json = parse_json(line, where);
  if (!json.is_object()) {
    throw Error(
        Errc::invalid_argument,
        where +
            ": expected {\"id\": ..., \"text\": ..., \"metadata\"?: {...}, \"vector\"?: [...]}");
  }
  Document document;
  try {
    document = Document::from_json(json, "");
  } catch (const Error& e) {
    Errc code = e.code() == Errc::invalid_config ? Errc::invalid_argument : e.code();
    throw Error(code, where + ": " + e.what());
  }
  if (document.id.empty()) throw Error(Errc::invalid_argument, where + ": id: must not be empty");
  if (!document.vector.empty()) {
    if (document.vector.size() != dimension) {
      throw Error(Errc::invalid_argument,
                  where + ": vector: has " + std::to_string(document.vector.size()) +
                      " values, the base holds vectors of " + std::to_string(dimension));
    }
    for (std::size_t i = 0; i < document.vector.size(); ++i) {
      if (!std::isfinite(document.vector[i])) {
        throw Error(Errc::invalid_argument,
                    where + ": vector[" + std::to_string(i) + "]: out of float range");
      }
    }
  }
  if (!options.chunk) {
    std::vector<Document> one;
    one.push_back(std::move(document));
    return one;
  }
  if (!document.vector.empty()) {
    throw Error(Errc::invalid_argument,
                where + ": vector: cannot be given with --chunk (chunks are embedded)");
  }
  ChunkOptions chunking;
  chunking.max_bytes = options.chunk_bytes;
  chunking.overlap_bytes = options.chunk_overlap.value_or(options.chunk_bytes * 15 / 100);
  return chunk_document(document, chunking);
}

std::string lines_note(std::size_t added, std::size_t committed_through) {
  if (added == 0) return " (nothing was added)";
  return " (added " + std::to_string(added) + " documents from lines 1-" +
         std::to_string(committed_through) + "; nothing from line " +
         std::to_string(committed_through + 1) + " on)";
}

int run_add(const KbOptions& kb, const AddOptions& options) {
  const auto start = Clock::now();
  if (options.chunk && options.chunk_overlap && *options.chunk_overlap * 2 >= options.chunk_bytes) {
    throw UsageError("kb add: --chunk-overlap must be less than half of --chunk-bytes");
  }
  const bool from_stdin = options.file == "-";
  std::ifstream file;
  if (!from_stdin) {
    file.open(options.file, std::ios::binary);
    if (!file) throw Error(Errc::io, "kb add: cannot open " + options.file);
  }
  std::istream& in = from_stdin ? std::cin : file;
  std::uintmax_t total_bytes = 0;
  if (!from_stdin) {
    std::error_code ignored;
    total_bytes = fs::file_size(options.file, ignored);
    if (total_bytes == static_cast<std::uintmax_t>(-1)) total_bytes = 0;
  }

  KnowledgeBase base = open_base(kb, true, options.dimension);
  const std::size_t dimension = base.dimension();
  Progress progress(total_bytes);

  std::vector<Document> batch;
  std::vector<std::string> stale_chunks;  // chunks of a re-added text beyond its new count
  std::size_t added = 0, batches = 0, lines = 0, committed_through = 0, number = 0;
  std::uintmax_t bytes = 0;
  std::size_t batch_first_line = 0;
  // A long ingest saves the vector index now and then, so that reopening after a crash
  // catches up from the last save instead of rebuilding the whole index.
  auto saved_at = Clock::now();

  auto commit = [&] {
    if (batch.empty()) return;
    const std::size_t size = batch.size();
    std::set<std::string, std::less<>> ids;
    if (!stale_chunks.empty())
      for (const auto& d : batch)
        ids.insert(d.id);
    try {
      base.upsert(std::move(batch));
    } catch (const Error& e) {
      std::string where = batch_first_line == number ? "line " + std::to_string(number)
                                                     : "lines " + std::to_string(batch_first_line) +
                                                           "-" + std::to_string(number);
      throw Error(e.code(), where + ": " + e.what() + lines_note(added, committed_through));
    }
    batch.clear();
    added += size;
    ++batches;
    committed_through = number;
    if (!stale_chunks.empty()) {
      std::vector<std::string> gone;
      for (auto& id : stale_chunks)
        if (!ids.count(id)) gone.push_back(std::move(id));
      stale_chunks.clear();
      base.remove(gone);
    }
    if (Clock::now() - saved_at > std::chrono::seconds(30)) {
      base.checkpoint();
      saved_at = Clock::now();
    }
    progress.update(added, bytes, true);
  };

  std::string line;
  while (std::getline(in, line)) {
    ++number;
    bytes += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    ++lines;
    std::vector<Document> documents;
    try {
      documents = documents_from_line(line, number, options, dimension);
    } catch (const Error& e) {
      throw Error(e.code(), e.what() + lines_note(added, committed_through));
    }
    if (options.chunk && !documents.empty()) {
      // The text may have had more chunks before: those beyond the new count go.
      const std::string parent = documents.front().metadata.value("parent", std::string());
      for (std::size_t n = documents.size();; ++n) {
        std::string id = parent + "#" + std::to_string(n);
        if (!base.get(id)) break;
        stale_chunks.push_back(std::move(id));
      }
    }
    if (batch.empty()) batch_first_line = number;
    for (auto& d : documents)
      batch.push_back(std::move(d));
    if (batch.size() >= options.batch) commit();
    progress.update(added, bytes);
  }
  if (in.bad()) {
    throw Error(Errc::io, "kb add: cannot read " +
                              (from_stdin ? std::string("stdin") : options.file) +
                              lines_note(added, committed_through));
  }
  commit();
  const std::size_t documents = base.count();
  base.close();
  progress.clear();
  print_json({{"added", added},
              {"lines", lines},
              {"batches", batches},
              {"documents", documents},
              {"seconds", seconds_since(start)}});
  return exit_ok;
}

// ---- the other commands ----------------------------------------------------------------------

int run_get(const KbOptions& kb, const GetOptions& options) {
  KnowledgeBase base = open_base(kb, false);
  auto document = base.get(options.id);
  if (!document)
    throw Error(Errc::not_found, "document \"" + options.id + "\" not found in " + kb.db);
  print_json(document->to_json(options.vector));
  return exit_ok;
}

int run_delete(const KbOptions& kb, const std::string& id) {
  KnowledgeBase base = open_base(kb, false);
  if (!base.get(id)) throw Error(Errc::not_found, "document \"" + id + "\" not found in " + kb.db);
  base.remove(id);
  const std::size_t documents = base.count();
  base.close();
  print_json({{"deleted", id}, {"documents", documents}});
  return exit_ok;
}

int run_link(const KbOptions& kb, const LinkOptions& options) {
  if (options.type.empty()) throw UsageError("kb link: --type must not be empty");
  if (!(options.weight > 0) || !std::isfinite(options.weight))
    throw UsageError("kb link: --weight must be a number > 0");
  KnowledgeBase base = open_base(kb, false);
  Edge edge;
  edge.from = options.from;
  edge.to = options.to;
  edge.type = options.type;
  edge.weight = options.weight;
  Json printed = edge.to_json();
  base.add_edge(std::move(edge));
  base.close();
  print_json({{"linked", printed}});
  return exit_ok;
}

int run_search(const KbOptions& kb, const SearchOptions& options, bool text_given) {
  const bool graph = options.mode == "graph";
  if (!graph && !text_given)
    throw UsageError("kb search: QUERY is required with --mode " + options.mode);
  if (graph && options.seeds.empty())
    throw UsageError("kb search: --mode graph needs --seeds ID,... (the nodes to expand from)");
  if (!options.seeds.empty() && (options.mode == "keyword" || options.mode == "vector"))
    throw UsageError("kb search: --seeds is for --mode graph or hybrid");
  SearchQuery query;
  query.text = options.text;
  query.k = options.k;
  if (!options.filter.empty()) query.filter = json_argument(options.filter, "--filter");
  query.use_keyword = options.mode == "hybrid" || options.mode == "keyword";
  query.use_vector = options.mode == "hybrid" || options.mode == "vector";
  query.use_graph = !options.seeds.empty();
  query.seeds = options.seeds;
  query.graph_hops = options.hops;
  query.graph_edge_types = options.types;
  KnowledgeBase base = open_base(kb, false);
  print_json(base.search(query).to_json());
  return exit_ok;
}

int run_neighbours(const KbOptions& kb, const NeighbourOptions& options) {
  NeighbourQuery query;
  query.hops = options.hops;
  query.edge_types = options.types;
  query.direction = options.direction == "incoming" ? EdgeDirection::incoming
                    : options.direction == "both"   ? EdgeDirection::both
                                                    : EdgeDirection::outgoing;
  query.limit = options.limit;
  KnowledgeBase base = open_base(kb, false);
  Json out = Json::array();
  for (const auto& neighbour : base.neighbours(options.id, query))
    out.push_back(neighbour.to_json());
  print_json({{"id", options.id}, {"neighbours", std::move(out)}});
  return exit_ok;
}

int run_stats(const KbOptions& kb) {
  KnowledgeBase base = open_base(kb, false);
  print_json(base.stats());
  return exit_ok;
}

constexpr const char* kKbFooter = R"(
PATH is a SQLite file (WAL); its vector index is PATH.hnsw beside it, a cache rebuilt from the
file when missing or stale. ":memory:" is allowed but forgotten when the command ends. Only
'add' creates a base; the other commands exit 1 when PATH does not exist. --db and --options
may come before or after the command word.
--options (JSON text or a file) is KnowledgeOptions: {"dimension", "metric", "hnsw": {"m",
  "ef_construction", "ef_search"}, "synchronous": "normal" | "full", "embedder": {...}, ...}.
  Given when 'add' creates the base, it is saved as PATH.options.json and used by every later
  command (so queries are embedded as the documents were); given later, it applies to that
  command only, over the saved options.
Every command prints JSON on stdout. Exit status: 0 ok, 2 bad usage or bad input (options,
input lines, --filter), 1 other errors (no such base or document, I/O).
See 'keel kb COMMAND --help'.)";

constexpr const char* kAddFooter = R"(
Input: JSON lines {"id": "...", "text": "...", "metadata"?: {...}, "vector"?: [...]} from FILE,
  or stdin when FILE is '-' or absent; blank lines are skipped. A line whose id exists replaces
  that document (upsert). Documents without a vector are embedded by the base's embedder.
Every --batch documents are committed in one transaction: a crash or a kill loses at most the
  batch being read, and every committed batch is searchable when the base is next opened (the
  vector index, saved every 30 s of a long run and at the end, is caught up from the file).
A bad line (not JSON, a missing id, a wrong type, a vector of the wrong size) stops the run
  with exit status 2 and a message naming the line: nothing from the bad line's batch is
  added, the batches committed before it stay, and the message says how many documents and
  lines that was ("added 512 documents from lines 1-512; nothing from line 513 on").
  Re-running the whole file after fixing it is safe: adding is an upsert.
With --chunk each text is cut (on paragraphs, sentences, words) into documents "<id>#<n>"
  whose metadata adds {"parent", "chunk", "start", "end"}; chunks a re-added text no longer
  has are deleted. A line with a vector cannot be chunked.
A progress line is drawn on stderr when stderr is a terminal. At the end prints
  {"added": documents upserted, "lines", "batches", "documents": now in the base, "seconds"}.)";

constexpr const char* kSearchFooter = R"(
Modes: hybrid (keyword + vector, fused by Reciprocal Rank Fusion; plus the graph signal when
  --seeds are given), keyword (FTS5 BM25), vector (HNSW, cosine), graph (expansion from --seeds
  along edges up to --hops, of the --type types; QUERY optional).
--filter (JSON text or a file) keeps hits whose metadata match, applied inside each signal so
  a selective filter still yields hits: {"lang": {"eq": "fr"}, "year": {"gte": 2023},
  "tag": {"in": ["a", "b"]}, "draft": {"exists": false}}; a bad filter is exit status 2
  naming the field (filter.year: ...).
Prints {"hits": [{"id", "score", "snippet", "metadata", "text", "signals": {"keyword": {"rank",
  "score"}, "vector": {...}, "graph": {"rank", "score", "hops"}}}], "timings_us": {...}}; a
  signal that did not find a hit is absent from its "signals".)";

}  // namespace

void add_kb(CLI::App& app, int& status) {
  static KbOptions kb_options;
  static AddOptions add_options;
  static GetOptions get_options;
  static std::string delete_id;
  static LinkOptions link_options;
  static SearchOptions search_options;
  static NeighbourOptions neighbour_options;

  auto* kb = app.add_subcommand(
      "kb", "Knowledge base: add documents, link them, and search by keyword, vector and graph");
  kb->require_subcommand(1);
  kb->fallthrough();  // --db and --options may also follow the command word
  kb->add_option("--db", kb_options.db, "Knowledge base file, or :memory: (required)")
      ->type_name("PATH");
  kb->add_option("--options", kb_options.options,
                 "KnowledgeOptions as JSON text or a JSON file (embedder, hnsw, ...)")
      ->type_name("JSON|FILE");

  auto* add = kb->add_subcommand(
      "add", "Add (upsert) documents from JSON lines, in batches; prints {\"added\", ...}");
  add->add_option("FILE", add_options.file, "JSON lines file, or - for stdin (default)")
      ->type_name("FILE|-");
  add->add_option("--dimension", add_options.dimension,
                  "Vector dimension of a new base (default: the embedder's, else 384)")
      ->check(CLI::Range(1, 65536));
  add->add_option("--batch", add_options.batch, "Documents per transaction (default 512)")
      ->check(CLI::Range(1, 1000000));
  add->add_flag("--chunk", add_options.chunk, "Cut each text into chunks \"<id>#<n>\"");
  add->add_option("--chunk-bytes", add_options.chunk_bytes, "Largest chunk in bytes (default 1000)")
      ->check(CLI::Range(16, 1 << 30));
  add->add_option("--chunk-overlap", add_options.chunk_overlap,
                  "Bytes a chunk repeats of the previous one (default 15% of --chunk-bytes)");
  add->footer(kAddFooter);
  add->callback([&status] { status = run_add(kb_options, add_options); });

  auto* get =
      kb->add_subcommand("get", "Print a document as JSON {\"id\", \"text\", \"metadata\"}");
  get->add_option("ID", get_options.id, "Document id")->required();
  get->add_flag("--vector", get_options.vector, "Include the stored vector");
  get->callback([&status] { status = run_get(kb_options, get_options); });

  auto* remove = kb->add_subcommand("delete", "Delete a document, its edges and index entries");
  remove->add_option("ID", delete_id, "Document id")->required();
  remove->callback([&status] { status = run_delete(kb_options, delete_id); });

  auto* link = kb->add_subcommand(
      "link",
      "Add (or replace) a typed, weighted, directed edge between two documents or entities");
  link->add_option("FROM", link_options.from, "Source id")->required();
  link->add_option("TO", link_options.to, "Target id")->required();
  link->add_option("--type", link_options.type, "Edge type, e.g. cites")->required();
  link->add_option("--weight", link_options.weight, "Edge weight > 0 (default 1)");
  link->callback([&status] { status = run_link(kb_options, link_options); });

  auto* search = kb->add_subcommand("search", "Hybrid search; prints {\"hits\": [...]}");
  auto* query = search->add_option("QUERY", search_options.text, "Search text")->type_name("TEXT");
  search->add_option("--k", search_options.k, "Number of hits (default 10)")
      ->check(CLI::Range(1, 10000));
  search->add_option("--mode", search_options.mode, "hybrid (default), keyword, vector or graph")
      ->check(CLI::IsMember({"hybrid", "keyword", "vector", "graph"}));
  search
      ->add_option("--filter", search_options.filter, "Metadata filter as JSON text or a JSON file")
      ->type_name("JSON|FILE");
  search->add_option("--seeds", search_options.seeds, "Graph seeds: node ids, comma-separated")
      ->delimiter(',')
      ->allow_extra_args(false)  // one value per --seeds, so a QUERY after it stays the query
      ->type_name("ID,...");
  search->add_option("--hops", search_options.hops, "Graph expansion depth (default 1)")
      ->check(CLI::Range(1, 8));
  search
      ->add_option("--type", search_options.types,
                   "Graph edge type to follow (repeatable; default all)")
      ->allow_extra_args(false)
      ->type_name("TYPE");
  search->footer(kSearchFooter);
  search->callback(
      [&status, query] { status = run_search(kb_options, search_options, query->count() > 0); });

  auto* neighbours = kb->add_subcommand(
      "neighbours",
      "Nodes reachable from a node, nearest first; prints {\"id\", \"neighbours\": [...]}");
  neighbours->add_option("ID", neighbour_options.id, "Document or entity id")->required();
  neighbours->add_option("--hops", neighbour_options.hops, "Most hops (default 1)")
      ->check(CLI::Range(1, 8));
  neighbours
      ->add_option("--type", neighbour_options.types,
                   "Edge type to follow (repeatable; default all)")
      ->allow_extra_args(false)
      ->type_name("TYPE");
  neighbours
      ->add_option("--direction", neighbour_options.direction,
                   "outgoing (default), incoming or both")
      ->check(CLI::IsMember({"outgoing", "incoming", "both"}));
  neighbours->add_option("--limit", neighbour_options.limit,
                         "Most neighbours (default 0: no limit)");
  neighbours->callback([&status] { status = run_neighbours(kb_options, neighbour_options); });

  auto* stats = kb->add_subcommand(
      "stats", "Print {\"documents\", \"entities\", \"edges\", \"dimension\", \"index\", ...}");
  stats->callback([&status] { status = run_stats(kb_options); });

  // Set after the subcommands are added, which would otherwise inherit it.
  kb->footer(kKbFooter);
}

}  // namespace keel::cli
