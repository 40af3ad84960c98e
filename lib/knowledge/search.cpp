// KnowledgeBase::search: the keyword, vector and graph signals, each honouring the metadata
// filter inside its own search, fused into one ranked list with snippets.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "core/metadata_filter.hpp"
#include "keel/events.hpp"
#include "knowledge/filter_sql.hpp"
#include "knowledge/fts_query.hpp"
#include "knowledge/fusion.hpp"
#include "knowledge/graph.hpp"
#include "knowledge/knowledge_base_impl.hpp"
#include "knowledge/ranking.hpp"
#include "knowledge/snippet.hpp"
#include "vector/dot.hpp"

namespace keel {

using knowledge::Candidate;
using knowledge::Connection;

namespace {

// The statements every search runs besides the keyword ones (ranking.cpp); a filter or graph
// expansion adds others.
constexpr const char* hit_sql = "SELECT id, text, metadata FROM documents WHERE label = ?1";
// The stored vectors of a JSON list of labels (an int8 index's candidates, scored again).
constexpr const char* exact_vectors_sql =
    "SELECT v.label, v.vector FROM json_each(?1) AS j CROSS JOIN vectors v ON v.label = j.value";

using Clock = std::chrono::steady_clock;

std::int64_t micros(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

// Decides whether documents pass the filter, reading and parsing each one's metadata once per
// search.
class FilterCheck {
 public:
  FilterCheck(const MetadataFilter& filter, Connection& db)
      : filter_(filter), db_(db), sql_(knowledge::filter_to_sql(filter, "d.metadata", 2)) {}

  /// Decides a batch of labels in one statement: SQLite's json functions reject most of
  /// those that fail (without parsing JSON in C++), MetadataFilter decides the rest.
  void decide(const std::vector<std::int64_t>& labels) {
    std::string list = "[";
    std::size_t pending = 0;
    for (auto label : labels) {
      if (cache_.count(label)) continue;
      cache_[label] = false;
      if (pending++) list.push_back(',');
      list += std::to_string(label);
    }
    if (!pending) return;
    list.push_back(']');
    // CROSS JOIN keeps json_each outside: one primary-key lookup per label.
    Connection::OneShot query(
        db_,
        "SELECT d.label, d.metadata FROM json_each(?1) AS j CROSS JOIN documents d "
        "ON d.label = j.value WHERE (" +
            sql_.condition + ")");
    auto& rows = query.statement();
    rows.bind_text(1, list);
    sql_.bind(rows, 2);
    while (rows.step())
      cache_[rows.int64(0)] = passes_json(rows.text(1));
  }

  bool empty() const { return filter_.empty(); }
  bool passes_json(std::string_view metadata) const {
    return filter_.empty() || filter_.matches(Json::parse(metadata, nullptr, false));
  }
  /// False also when the document no longer exists.
  bool passes(std::int64_t label) {
    auto [it, added] = cache_.try_emplace(label, false);
    if (!added) return it->second;
    auto row = db_.prepare("SELECT metadata FROM documents WHERE label = ?1");
    row.bind(1, label);
    it->second = row.step() && passes_json(row.text(0));
    return it->second;
  }

 private:
  const MetadataFilter& filter_;
  Connection& db_;
  knowledge::FilterSql sql_;
  std::unordered_map<std::int64_t, bool> cache_;
};

// ---- keyword -------------------------------------------------------------------------------

std::vector<Candidate> keyword_candidates(Connection& db, const std::vector<std::string>& terms,
                                          SearchQuery::KeywordMode mode, bool prefix,
                                          FilterCheck& check,
                                          const knowledge::FilterSql& sql_filter,
                                          std::size_t want) {
  // With a filter, the best documents among those it lets through: SQLite's condition (a
  // superset) first, then the filter itself on each row's metadata.
  knowledge::DocumentFilter filter{
      &sql_filter, [&](std::string_view metadata) { return check.passes_json(metadata); }};
  const knowledge::DocumentFilter* filtered = check.empty() ? nullptr : &filter;
  auto best = mode == SearchQuery::KeywordMode::any
                  ? knowledge::best_documents_of_any(db, knowledge::term_phrases(terms, prefix),
                                                     want, nullptr, filtered)
                  : knowledge::best_documents(
                        db, knowledge::build_match_expression(terms, mode, prefix), want, filtered);
  std::vector<Candidate> out;
  out.reserve(best.size());
  for (auto [label, score] : best)
    out.push_back({label, score, 0});
  return out;
}

// ---- vector --------------------------------------------------------------------------------

// A filter that lets fewer documents than this through is searched exactly over those
// documents: a few thousand dot products cost less than over-fetching from HNSW.
constexpr double exact_search_below = 4096;

std::vector<Candidate> exact_candidates(Connection& db, const float* query, std::size_t dimension,
                                        FilterCheck& check, const knowledge::FilterSql& sql_filter,
                                        std::size_t want) {
  Connection::OneShot scan(db,
                           "SELECT d.label, d.metadata, v.vector FROM documents d JOIN vectors v "
                           "ON v.label = d.label WHERE (" +
                               sql_filter.condition + ")");
  auto& rows = scan.statement();
  sql_filter.bind(rows, 1);
  std::vector<Candidate> all;
  std::vector<float> vector(dimension);
  while (rows.step()) {
    if (!check.passes_json(rows.text(1))) continue;
    if (!knowledge::read_vector_blob(rows.blob(2), dimension, vector.data())) continue;
    all.push_back(
        {rows.int64(0), static_cast<double>(vector::dot(query, vector.data(), dimension)), 0});
  }
  auto better = [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.label < b.label;
  };
  if (all.size() > want) {
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(want), all.end(),
                      better);
    all.resize(want);
  } else {
    std::sort(all.begin(), all.end(), better);
  }
  return all;
}

// An int8 index orders documents whose similarities differ by less than its rounding (about
// 0.003) as it pleases. The first `count` candidates are scored again with the exact vectors
// SQLite keeps (one statement), which brings back what an exact search ranks first; their
// similarities are then exact.
void rescore_exactly(Connection& db, const float* query, std::size_t dimension,
                     std::vector<Candidate>& candidates, std::size_t count) {
  count = std::min(count, candidates.size());
  if (count == 0) return;
  std::string list = "[";
  for (std::size_t i = 0; i < count; ++i) {
    if (i) list.push_back(',');
    list += std::to_string(candidates[i].label);
  }
  list.push_back(']');
  std::unordered_map<std::int64_t, double> exact;
  auto rows = db.prepare(exact_vectors_sql);
  rows.bind_text(1, list);
  std::vector<float> vector(dimension);
  while (rows.step()) {
    if (knowledge::read_vector_blob(rows.blob(1), dimension, vector.data()))
      exact[rows.int64(0)] = static_cast<double>(vector::dot(query, vector.data(), dimension));
  }
  for (std::size_t i = 0; i < count; ++i) {
    auto found = exact.find(candidates[i].label);
    if (found != exact.end()) candidates[i].score = found->second;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
}

std::vector<Candidate> vector_candidates(const vector::HnswIndex& index, Connection& db,
                                         const float* query, std::size_t ef, FilterCheck& check,
                                         const knowledge::FilterSql& sql_filter, std::size_t want,
                                         std::string& strategy) {
  std::vector<Candidate> out;
  const std::size_t live = index.size();
  if (check.empty()) {
    strategy = "none";
    for (auto& [label, similarity] : index.search(query, want, std::max(ef, want))) {
      out.push_back({static_cast<std::int64_t>(label), similarity, 0});
    }
    return out;
  }
  // hnswlib 0.6.2 cannot skip documents during its search, so ask it for more than `want`
  // and keep those that pass; grow the request by how many passed, and switch to an exact
  // search over the filtered documents once the filter is known to be selective.
  std::size_t fetch = std::max<std::size_t>(want * 4, 64);
  while (true) {
    if (fetch >= live) break;
    auto found = index.search(query, fetch, std::max(ef, fetch));
    std::vector<std::int64_t> labels;
    labels.reserve(found.size());
    for (const auto& hit : found)
      labels.push_back(static_cast<std::int64_t>(hit.first));
    check.decide(labels);
    out.clear();
    std::size_t passed = 0;
    for (auto& [label, similarity] : found) {
      if (!check.passes(static_cast<std::int64_t>(label))) continue;
      ++passed;
      if (out.size() < want) out.push_back({static_cast<std::int64_t>(label), similarity, 0});
    }
    if (out.size() >= want || found.size() < fetch) {
      strategy = "index";
      return out;
    }
    double estimated =
        static_cast<double>(passed) / static_cast<double>(found.size()) * static_cast<double>(live);
    if (estimated < exact_search_below) break;
    double growth = std::clamp(
        1.5 * static_cast<double>(want) / static_cast<double>(std::max<std::size_t>(passed, 1)),
        2.0, 16.0);
    fetch = static_cast<std::size_t>(static_cast<double>(fetch) * growth);
  }
  strategy = "exact";
  return exact_candidates(db, query, index.dimension(), check, sql_filter, want);
}

// ---- graph ---------------------------------------------------------------------------------

std::vector<Candidate> graph_candidates(Connection& db,
                                        const std::vector<std::pair<std::string, double>>& seeds,
                                        const SearchQuery& query, FilterCheck& check,
                                        std::size_t want) {
  std::vector<Candidate> out;
  if (seeds.empty()) return out;
  auto reached = knowledge::traverse(db, seeds, query.graph_hops, query.graph_edge_types,
                                     query.graph_direction, std::max<std::size_t>(want * 20, 1000));
  for (const auto& node : reached) {
    auto row = db.prepare("SELECT label, metadata FROM documents WHERE id = ?1");
    if (!row.bind_text(1, node.id).step()) continue;  // an entity: a path, not a hit
    if (!check.passes_json(row.text(1))) continue;
    double score = node.weight * std::pow(query.graph_decay, static_cast<double>(node.hops));
    out.push_back({row.int64(0), score, node.hops});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (out.size() > want) out.resize(want);
  return out;
}

void check_query(const SearchQuery& q, std::size_t dimension) {
  auto bad = [](const std::string& what) { throw Error(Errc::invalid_argument, "query." + what); };
  if (q.k < 1 || q.k > 10000) bad("k: must be in 1..10000");
  if (q.candidates < 1 || q.candidates > 10000) bad("fusion.candidates: must be in 1..10000");
  if (!(q.rrf_k >= 0) || !std::isfinite(q.rrf_k)) bad("fusion.rrf_k: must be a number >= 0");
  for (auto [name, weight] : {std::pair{"keyword", q.keyword_weight},
                              {"vector", q.vector_weight},
                              {"graph", q.graph_weight}}) {
    if (!(weight >= 0) || !std::isfinite(weight))
      bad(std::string("fusion.weights.") + name + ": must be a number >= 0");
  }
  if (!(q.graph_decay > 0 && q.graph_decay <= 1)) bad("graph.decay: must be in (0, 1]");
  if (q.graph_hops < 1 || q.graph_hops > 8) bad("graph.hops: must be in 1..8");
  if (q.snippet_tokens < 1 || q.snippet_tokens > 64) bad("snippet.tokens: must be in 1..64");
  if (!q.vector.empty()) {
    if (q.vector.size() != dimension) {
      bad("vector: has " + std::to_string(q.vector.size()) + " values, expected " +
          std::to_string(dimension));
    }
    for (std::size_t i = 0; i < q.vector.size(); ++i) {
      if (!std::isfinite(q.vector[i]))
        bad("vector[" + std::to_string(i) + "]: not a finite number");
    }
  }
}

}  // namespace

void knowledge::prepare_search_statements(Connection& connection) {
  knowledge::prepare_ranking_statements(connection);
  (void)connection.prepare(hit_sql);
  (void)connection.prepare(exact_vectors_sql);
}

SearchResult KnowledgeBase::search(std::string_view text, std::size_t k) const {
  SearchQuery query;
  query.text = std::string(text);
  query.k = k;
  return search(query);
}

SearchResult KnowledgeBase::search(const SearchQuery& query) const {
  const auto start = Clock::now();
  Impl& impl = *impl_;
  impl.check_open();
  check_query(query, impl.dimension);
  const MetadataFilter filter = MetadataFilter::parse(query.filter, "filter");
  const std::size_t want = std::max(query.candidates, query.k);
  SearchResult result;

  // Embedding may be slow (a model over HTTP): before a connection is taken. A signal
  // weighted 0 is left out of the fusion: the vector one is not even computed then.
  std::vector<float> query_vector;
  if (query.use_vector && query.vector_weight > 0) {
    if (!query.vector.empty()) {
      query_vector = query.vector;
    } else if (!query.text.empty()) {
      auto embedded = impl.embedder->embed_batch({query.text});
      if (embedded.size() == 1 && embedded[0].size() == impl.dimension)
        query_vector = std::move(embedded[0]);
    }
    if (!query_vector.empty() && impl.cosine)
      vector::normalize(query_vector.data(), impl.dimension);
  }

  // Right after open the loader is reading the lengths keel_bm25 uses with the base's first
  // reader, which it then puts in the pool: a keyword search waits for both (waiting for the
  // lengths costs less than asking FTS5 for each matching row's, and the reader is ready). A
  // search by vector alone waits for the index, which the loader reads after.
  std::vector<std::string> terms;
  if (query.use_keyword) terms = knowledge::keyword_terms(query.text);
  std::shared_ptr<vector::HnswIndex> index;
  if (!terms.empty()) {
    impl.wait_for_token_counts();
  } else if (!query_vector.empty()) {
    index = impl.current_index();
  }
  Impl::ReadLease db(impl);
  knowledge::ReadTransaction snapshot(*db);
  FilterCheck check(filter, *db);
  std::array<knowledge::RankedList, knowledge::signal_count> lists;
  lists[knowledge::keyword_signal].weight = query.keyword_weight;
  lists[knowledge::vector_signal].weight = query.vector_weight;
  lists[knowledge::graph_signal].weight = query.graph_weight;

  if (query.use_keyword) {
    auto t = Clock::now();
    if (!terms.empty()) {
      auto sql_filter = knowledge::filter_to_sql(filter, "d.metadata", 3);
      lists[knowledge::keyword_signal].candidates =
          keyword_candidates(*db, terms, query.keyword_mode, query.prefix, check, sql_filter, want);
    }
    result.timings_us["keyword"] = micros(t);
  }
  if (!query_vector.empty()) {
    auto t = Clock::now();
    if (!index) index = impl.current_index();  // (the keyword part ran while it loaded)
    impl.check_open();  // (close() drops the index)
    std::size_t ef = query.ef_search ? query.ef_search : impl.options.hnsw.ef_search;
    auto sql_filter = knowledge::filter_to_sql(filter, "d.metadata", 1);
    auto& candidates = lists[knowledge::vector_signal].candidates;
    candidates = vector_candidates(*index, *db, query_vector.data(), ef, check, sql_filter, want,
                                   result.vector_strategy);
    if (index->quantization() == vector::Quantization::int8 && result.vector_strategy != "exact")
      rescore_exactly(*db, query_vector.data(), impl.dimension, candidates,
                      std::max<std::size_t>(2 * query.k, 16));
    // An int8 index's similarity of unit vectors may stray just past 1: a cosine never does.
    if (impl.cosine) {
      for (auto& candidate : candidates)
        candidate.score = std::clamp(candidate.score, -1.0, 1.0);
    }
    result.timings_us["vector"] = micros(t);
  }
  if (query.use_graph || !query.seeds.empty()) {
    auto t = Clock::now();
    std::vector<std::pair<std::string, double>> seeds;
    if (!query.seeds.empty()) {
      for (const auto& id : query.seeds)
        seeds.emplace_back(id, 1.0);
    } else {
      // The best keyword and vector hits seed the expansion, weighted by their fused score.
      std::array<knowledge::RankedList, knowledge::signal_count> first = lists;
      first[knowledge::graph_signal].candidates.clear();
      auto fused = knowledge::fuse(first, query.fusion, query.rrf_k);
      for (std::size_t i = 0; i < fused.size() && seeds.size() < query.graph_seed_hits; ++i) {
        auto row = db->prepare("SELECT id FROM documents WHERE label = ?1");
        if (!row.bind(1, fused[i].label).step()) continue;
        double weight = fused[0].score > 0 ? fused[i].score / fused[0].score : 1.0;
        seeds.emplace_back(std::string(row.text(0)), weight);
      }
    }
    lists[knowledge::graph_signal].candidates = graph_candidates(*db, seeds, query, check, want);
    result.timings_us["graph"] = micros(t);
  }

  auto fused = knowledge::fuse(lists, query.fusion, query.rrf_k);
  knowledge::Snippets* snippets = nullptr;
  const knowledge::SnippetStyle style{query.snippet_tokens, query.snippet_open, query.snippet_close,
                                      query.snippet_ellipsis};
  for (const auto& candidate : fused) {
    if (result.hits.size() >= query.k) break;
    auto row = db->prepare(hit_sql);
    if (!row.bind(1, candidate.label).step()) continue;  // deleted while we searched
    SearchHit hit;
    hit.id = std::string(row.text(0));
    hit.text = std::string(row.text(1));
    hit.metadata = Json::parse(row.text(2), nullptr, false);
    if (!hit.metadata.is_object()) hit.metadata = Json::object();
    hit.score = candidate.score;
    hit.keyword = candidate.signals[knowledge::keyword_signal];
    hit.vector = candidate.signals[knowledge::vector_signal];
    hit.graph = candidate.signals[knowledge::graph_signal];
    if (!snippets) {
      snippets = &db.snippets();
      snippets->set_query(terms, query.prefix);
    }
    hit.snippet = snippets->make(hit.text, style);
    result.hits.push_back(std::move(hit));
  }
  result.timings_us["total"] = micros(start);
  if (impl.options.events) {
    Json event = make_event("kb.search", result.timings_us["total"].get<std::int64_t>());
    event["k"] = query.k;
    event["hits"] = result.hits.size();
    event["vector_strategy"] = result.vector_strategy;
    emit(impl.options.events, event);
  }
  return result;
}

}  // namespace keel
