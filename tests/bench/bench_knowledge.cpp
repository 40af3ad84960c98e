// Knowledge base quality and speed.
// (1) Quality: CLINC150 as a retrieval set — one document per intent (its train utterances
//     joined), the test utterances as queries, the intent's document as the one relevant
//     answer. recall@10 and nDCG@10 for keyword (FTS5 BM25), vector (hashing embedder) and
//     hybrid (RRF).
// (2) Speed: N documents (~100 words from a random vocabulary, 384-dim clustered vectors
//     given). Ingest throughput against the raw cost measured in the same run (HnswIndex adds
//     alone + FTS5 inserts alone); hybrid, vector and keyword query latency; vector recall@10
//     against exact search; size on disk; time to open with a current index file; the vector
//     index alone, float32 against int8 (size, build, query, recall).
// (3) Questions: keyword search for people's questions, which are full of common words ("how
//     do i ..."), over 10,000 documents of real support text (Banking77 and CLINC150 requests,
//     as bench_footprint's base), test requests of both sets as queries: keel's plan (the
//     common words counted only in documents holding a rarer one) against the whole query
//     visited, on one connection, the same answers required; as written, then after compact().
//   build/bin/bench_knowledge [--docs N] [--queries N] [--threads N] [--no-quality] [--no-speed]
//                             [--no-questions] [--no-quantization] [--keep DIR]
//   --keep DIR keeps the speed set's base in DIR and, when it is already there, reuses it and
//   skips the ingest measurements: for profiling the queries again and again.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench.hpp"
#include "datasets.hpp"
#include "keel/executor.hpp"
#include "keel/knowledge.hpp"
#include "keel/llm.hpp"
#include "knowledge/fts_query.hpp"
#include "knowledge/knowledge_base_impl.hpp"
#include "knowledge/ranking.hpp"
#include "knowledge/schema.hpp"
#include "knowledge/sqlite.hpp"
#include "vector/dot.hpp"
#include "vector/hnsw_index.hpp"

using namespace keel;
using namespace keel::bench;

namespace {

// A metadata filter passing the documents of one group of ten (documents carry {"group": i % 10}),
// as keel's search hands it to the keyword ranking: an SQL condition, then the exact test.
struct GroupFilter {
  knowledge::FilterSql sql;
  knowledge::DocumentFilter filter;
  explicit GroupFilter(int group) {
    sql.condition = "json_extract(d.metadata, '$.group') = ?3";
    sql.parameters = {Json(group)};
    filter = {&sql, [group](std::string_view metadata) {
                return Json::parse(metadata).value("group", -1) == group;
              }};
  }
  GroupFilter(const GroupFilter&) = delete;
  GroupFilter& operator=(const GroupFilter&) = delete;
};

// The best k documents of `match` that `group` lets through, as keel found them before its
// keyword ranking took filters: ORDER BY keel_bm25 LIMIT k over the rows of the SQL condition.
// (The condition is exact here, so one round is enough.)
std::vector<std::pair<std::int64_t, double>> filtered_by_order(knowledge::Connection& db,
                                                               const std::string& match,
                                                               const GroupFilter& group,
                                                               std::size_t k) {
  knowledge::Connection::OneShot query(
      db,
      "SELECT documents_fts.rowid, keel_bm25(documents_fts) AS score, d.metadata FROM "
      "documents_fts JOIN documents d ON d.label = documents_fts.rowid WHERE documents_fts "
      "MATCH ?1 AND (" +
          group.sql.condition + ") ORDER BY score LIMIT ?2");
  auto& rows = query.statement();
  rows.bind_text(1, match).bind(2, static_cast<std::int64_t>(k));
  group.sql.bind(rows, 3);
  std::vector<std::pair<std::int64_t, double>> out;
  while (rows.step()) {
    if (group.filter.passes(rows.text(2))) out.emplace_back(rows.int64(0), -rows.real(1));
  }
  return out;
}

// How many of two answers' places hold different scores (ties may be ordered apart), and any
// difference in length.
std::size_t score_differences(const std::vector<std::pair<std::int64_t, double>>& a,
                              const std::vector<std::pair<std::int64_t, double>>& b) {
  std::size_t differ = a.size() != b.size();
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    differ += a[i].second != b[i].second;
  return differ;
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Errc::io, "cannot open " + path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

// ---- quality -----------------------------------------------------------------------------

struct Quality {
  double recall = 0, ndcg = 0;
};

void run_quality() {
  const std::string path = std::string(KEEL_SHARED_DATA_DIR) + "/router/clinc150_data_full.json";
  Json data = parse_json(read_file(path), "CLINC150");
  std::map<std::string, std::vector<std::string>> intents;
  for (const auto& pair : data.at("train"))
    intents[pair.at(1).get<std::string>()].push_back(pair.at(0).get<std::string>());
  std::vector<std::pair<std::string, std::string>> queries;  // text, intent
  for (const auto& pair : data.at("test"))
    queries.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());

  KnowledgeOptions options;
  options.embedder = std::make_shared<HashingEmbedder>();  // its default options
  auto kb = KnowledgeBase::open(":memory:", options);
  std::vector<Document> documents;
  for (const auto& [intent, utterances] : intents) {
    Document d;
    d.id = intent;
    for (const auto& u : utterances)
      d.text += u + ".\n";
    documents.push_back(std::move(d));
  }
  kb.upsert(documents);
  std::printf(
      "quality: CLINC150, %zu intent documents, %zu test queries, hashing embedder %zu dims\n",
      documents.size(), queries.size(), options.embedder->dimension());

  auto evaluate = [&](const char* name, bool keyword, bool vector) {
    Quality q;
    std::vector<double> us;
    for (const auto& [text, intent] : queries) {
      SearchQuery query;
      query.text = text;
      query.k = 10;
      query.use_keyword = keyword;
      query.use_vector = vector;
      auto start = Clock::now();
      auto result = kb.search(query);
      us.push_back(micros(Clock::now() - start));
      for (std::size_t r = 0; r < result.hits.size(); ++r) {
        if (result.hits[r].id == intent) {
          q.recall += 1;
          q.ndcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
          break;
        }
      }
    }
    q.recall /= static_cast<double>(queries.size());
    q.ndcg /= static_cast<double>(queries.size());
    std::printf("  %-8s recall@10 %.4f   nDCG@10 %.4f   (query p50 %.0f us)\n", name, q.recall,
                q.ndcg, percentile(us, 50));
    return q;
  };
  auto keyword = evaluate("keyword", true, false);
  auto vector = evaluate("vector", false, true);
  auto hybrid = evaluate("hybrid", true, true);
  std::printf("  hybrid beats both: recall %s, nDCG %s\n\n",
              hybrid.recall > std::max(keyword.recall, vector.recall) ? "yes" : "NO",
              hybrid.ndcg > std::max(keyword.ndcg, vector.ndcg) ? "yes" : "NO");
}

// ---- speed -------------------------------------------------------------------------------

constexpr std::size_t dimension = 384;

struct Corpus {
  std::vector<std::string> texts;
  std::vector<float> vectors;                   // N x dimension, unit length
  std::vector<std::vector<std::string>> words;  // a few words of each text, for queries
};

std::vector<std::string> make_vocabulary(std::size_t size, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> length(3, 9), letter(0, 25);
  std::vector<std::string> words;
  words.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    std::string w;
    int n = length(rng);
    for (int j = 0; j < n; ++j)
      w.push_back(static_cast<char>('a' + letter(rng)));
    words.push_back(std::move(w));
  }
  return words;
}

// Clustered vectors: real embeddings gather in topics; uniformly random 384-dim vectors are
// an unrealistically hard case for any graph index.
void make_vector(std::mt19937_64& rng, const std::vector<float>& centroids, std::size_t clusters,
                 float* out) {
  std::uniform_int_distribution<std::size_t> pick(0, clusters - 1);
  // Noise of length about 0.6 around a unit centroid: members of a topic have cosine about
  // 0.7 with each other and about 0 with other topics.
  std::normal_distribution<float> noise(0.0f, 0.6f / std::sqrt(static_cast<float>(dimension)));
  const float* c = centroids.data() + pick(rng) * dimension;
  for (std::size_t j = 0; j < dimension; ++j)
    out[j] = c[j] + noise(rng);
  vector::normalize(out, dimension);
}

Corpus make_corpus(std::size_t n, std::vector<float>& centroids, std::size_t clusters,
                   std::mt19937_64& rng) {
  auto vocabulary = make_vocabulary(20000, rng);
  std::uniform_int_distribution<std::size_t> word(0, vocabulary.size() - 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  centroids.resize(clusters * dimension);
  for (auto& x : centroids)
    x = normal(rng);
  for (std::size_t c = 0; c < clusters; ++c)
    vector::normalize(centroids.data() + c * dimension, dimension);
  Corpus corpus;
  corpus.texts.resize(n);
  corpus.words.resize(n);
  corpus.vectors.resize(n * dimension);
  for (std::size_t i = 0; i < n; ++i) {
    std::string& text = corpus.texts[i];
    for (int w = 0; w < 100; ++w) {
      const auto& chosen = vocabulary[word(rng)];
      if (w) text.push_back(' ');
      text += chosen;
      if (w < 3) corpus.words[i].push_back(chosen);
    }
    make_vector(rng, centroids, clusters, corpus.vectors.data() + i * dimension);
  }
  return corpus;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

void measure_ingest(const Corpus& corpus, const KnowledgeOptions& options, const std::string& dir,
                    const std::string& path) {
  const std::size_t n = corpus.texts.size();
  const std::size_t batch = 1000;
  const unsigned threads = options.index_threads;
  // Raw cost 1: the HNSW adds alone, with the same parameters and threads.
  double hnsw_seconds = 0;
  {
    std::unique_ptr<Executor> executor;
    if (threads > 1) executor = std::make_unique<Executor>(Executor::Options{threads});
    vector::HnswIndex index(dimension, n + 64, options.hnsw.m, options.hnsw.ef_construction,
                            options.hnsw.seed,
                            knowledge::index_quantization(options.hnsw.quantization));
    std::vector<vector::HnswIndex::Label> labels(batch);
    auto start = Clock::now();
    for (std::size_t at = 0; at < n; at += batch) {
      std::size_t count = std::min(batch, n - at);
      for (std::size_t i = 0; i < count; ++i)
        labels[i] = at + i + 1;
      index.add_batch(count, labels.data(), corpus.vectors.data() + at * dimension, executor.get());
    }
    hnsw_seconds = micros(Clock::now() - start) / 1e6;
  }
  // Raw cost 2: FTS5 inserts alone, same tokenizer, WAL, one transaction per batch.
  double fts_seconds = 0;
  {
    const std::string fts_path = dir + "/fts-only.db";
    knowledge::Connection db(fts_path, false);
    knowledge::configure_connection(db, true, "normal");
    db.exec(
        "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')");
    auto start = Clock::now();
    for (std::size_t at = 0; at < n; at += batch) {
      knowledge::Transaction transaction(db);
      for (std::size_t i = at; i < std::min(n, at + batch); ++i) {
        auto insert = db.prepare("INSERT INTO t(text) VALUES (?1)");
        insert.bind_text(1, corpus.texts[i]).run();
      }
      transaction.commit();
    }
    fts_seconds = micros(Clock::now() - start) / 1e6;
  }

  double ingest_seconds = 0;
  {
    auto kb = KnowledgeBase::open(path, options);
    auto start = Clock::now();
    for (std::size_t at = 0; at < n; at += batch) {
      std::vector<Document> documents;
      for (std::size_t i = at; i < std::min(n, at + batch); ++i) {
        Document d;
        d.id = "doc-" + std::to_string(i);
        d.text = corpus.texts[i];
        d.metadata = {{"group", static_cast<int>(i % 10)}};
        d.vector.assign(corpus.vectors.begin() + static_cast<std::ptrdiff_t>(i * dimension),
                        corpus.vectors.begin() + static_cast<std::ptrdiff_t>((i + 1) * dimension));
        documents.push_back(std::move(d));
      }
      kb.upsert(std::move(documents));
    }
    ingest_seconds = micros(Clock::now() - start) / 1e6;
    auto close_start = Clock::now();
    kb.close();
    std::printf("  close (index file saved, WAL checkpointed): %.0f ms\n",
                micros(Clock::now() - close_start) / 1000);
  }
  double raw_seconds = hnsw_seconds + fts_seconds;
  std::printf(
      "  ingest: %.0f docs/s (%.1f s)   raw: %.0f docs/s (HNSW adds %.1f s + FTS5 inserts %.1f s)  "
      " ratio %.0f%%\n",
      static_cast<double>(n) / ingest_seconds, ingest_seconds, static_cast<double>(n) / raw_seconds,
      hnsw_seconds, fts_seconds, 100.0 * raw_seconds / ingest_seconds);
  std::printf("  size on disk: database %.1f MiB, index file %.1f MiB\n",
              static_cast<double>(file_size(path) + file_size(path + "-wal")) / 1048576.0,
              static_cast<double>(file_size(path + ".hnsw")) / 1048576.0);
}

// The vector index alone on the same vectors, float32 against int8: memory (the index file's
// size), build time, query time and recall@10 against exact search.
void compare_quantization(const Corpus& corpus, std::size_t n,
                          const std::vector<std::vector<float>>& query_vectors) {
  n = std::min<std::size_t>(n, 20000);
  const std::size_t queries = std::min<std::size_t>(query_vectors.size(), 200);
  std::vector<std::vector<std::size_t>> truth(queries);
  for (std::size_t q = 0; q < queries; ++q) {
    std::vector<std::pair<float, std::size_t>> exact(n);
    for (std::size_t i = 0; i < n; ++i)
      exact[i] = {
          -vector::dot(query_vectors[q].data(), corpus.vectors.data() + i * dimension, dimension),
          i};
    std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
    for (std::size_t r = 0; r < 10; ++r)
      truth[q].push_back(exact[r].second);
  }
  std::printf("  vector index alone, %zu vectors, %zu queries, ef 64 (float32 is the baseline):\n",
              n, queries);
  for (auto quantization : {vector::Quantization::none, vector::Quantization::int8}) {
    vector::HnswIndex index(dimension, n, 16, 200, 100, quantization);
    std::vector<vector::HnswIndex::Label> labels(n);
    for (std::size_t i = 0; i < n; ++i)
      labels[i] = i;
    auto start = Clock::now();
    index.add_batch(n, labels.data(), corpus.vectors.data());
    const double build_s = micros(Clock::now() - start) / 1e6;
    const auto file =
        (std::filesystem::temp_directory_path() / "keel-bench-quantization.hnsw").string();
    index.save(file, {1, 1});
    const double megabytes = static_cast<double>(std::filesystem::file_size(file)) / 1048576.0;
    std::filesystem::remove(file);
    std::vector<double> us;
    double found = 0;
    for (std::size_t q = 0; q < queries; ++q) {
      auto t = Clock::now();
      auto hits = index.search(query_vectors[q].data(), 10, 64);
      us.push_back(micros(Clock::now() - t));
      for (auto& [label, similarity] : hits)
        found += std::count(truth[q].begin(), truth[q].end(), label);
    }
    std::printf("    %-7s %6.1f MiB  built in %5.1f s  query p50 %4.0f us  recall@10 %.4f\n",
                quantization == vector::Quantization::int8 ? "int8" : "float32", megabytes, build_s,
                percentile(us, 50), found / static_cast<double>(queries * 10));
  }
}

void run_speed(std::size_t n, std::size_t query_count, unsigned threads, const std::string& keep,
               bool compare) {
  std::mt19937_64 rng(42);
  std::vector<float> centroids;
  constexpr std::size_t clusters = 1000;
  std::printf(
      "speed: %zu documents of 100 words, %zu-dim vectors given, index threads %u, dot %s\n", n,
      dimension, threads, std::string(vector::dot_implementation()).c_str());
  auto corpus = make_corpus(n, centroids, clusters, rng);
  const std::string dir =
      keep.empty() ? (std::filesystem::temp_directory_path() / "keel-bench-knowledge").string()
                   : keep;
  const std::string path = dir + "/kb.db";
  const bool reuse = !keep.empty() && std::filesystem::exists(path);

  KnowledgeOptions options;
  options.dimension = dimension;
  options.index_threads = threads;
  if (reuse) {
    std::printf("  reusing %s: ingest not measured\n", path.c_str());
  } else {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    measure_ingest(corpus, options, dir, path);
  }

  std::vector<double> load_ms;
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    knowledge::Connection db(path, false);
    auto owner = db.prepare("SELECT value FROM kb_meta WHERE key = 'owner'");
    owner.step();
    auto loaded = vector::HnswIndex::load(path + ".hnsw", dimension,
                                          knowledge::index_quantization(options.hnsw.quantization),
                                          static_cast<std::uint64_t>(owner.int64(0)));
    load_ms.push_back(micros(Clock::now() - start) / 1000);
    if (!loaded) std::printf("  (index file rejected)\n");
  }
  std::printf("  index file load alone (HnswIndex::load): median %.1f ms\n",
              percentile(load_ms, 50));
  // open() returns once SQLite is open; the index loads on a thread of its own, and stats()
  // (like a vector search) waits for it.
  std::vector<double> open_ms, loaded_ms;
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    auto kb = KnowledgeBase::open(path, options);
    open_ms.push_back(micros(Clock::now() - start) / 1000);
    auto state = kb.stats()["index"].get<std::string>();
    loaded_ms.push_back(micros(Clock::now() - start) / 1000);
    if (i == 0) std::printf("  open: index %s\n", state.c_str());
  }
  std::printf(
      "  open with a current index file: returns in median %.1f ms, index loaded at %.1f ms\n",
      percentile(open_ms, 50), percentile(loaded_ms, 50));

  auto kb = KnowledgeBase::open(path, options);
  if (kb.count() != n) {
    throw Error(Errc::invalid_argument, path + " holds " + std::to_string(kb.count()) +
                                            " documents, not " + std::to_string(n));
  }
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  std::vector<std::vector<float>> query_vectors(query_count, std::vector<float>(dimension));
  std::vector<std::string> query_texts(query_count);
  for (std::size_t q = 0; q < query_count; ++q) {
    make_vector(rng, centroids, clusters, query_vectors[q].data());
    const auto& words = corpus.words[pick(rng)];
    query_texts[q] = words[0] + " " + words[1] + " " + words[2];
  }
  {
    // The keyword ranking alone, keel_bm25 against FTS5's bm25() (the same scores) on one
    // connection: they take turns query by query and only the first of each pair is timed.
    knowledge::Connection db(path, true);
    knowledge::configure_connection(db, false, "normal");
    auto counts = std::make_shared<knowledge::TokenCounts>();
    counts->load(db);
    knowledge::register_ranking(db, counts);
    std::vector<double> ours, theirs;
    for (std::size_t q = 0; q < query_count; ++q) {
      const auto match = knowledge::build_match_expression(knowledge::keyword_terms(query_texts[q]),
                                                           SearchQuery::KeywordMode::any, false);
      auto run = [&](const char* function) {
        auto start = Clock::now();
        auto rows = db.prepare(std::string("SELECT rowid, ") + function +
                               "(documents_fts) AS score FROM documents_fts WHERE documents_fts "
                               "MATCH ?1 ORDER BY score LIMIT 50");
        rows.bind_text(1, match);
        while (rows.step()) {
        }
        return micros(Clock::now() - start);
      };
      const bool keel_first = q % 2 == 0;
      (keel_first ? ours : theirs).push_back(run(keel_first ? "keel_bm25" : "bm25"));
      (void)run(keel_first ? "bm25" : "keel_bm25");
    }
    std::printf(
        "  keyword ranking alone (top 50): keel_bm25 p50 %.0f us, FTS5 bm25() p50 %.0f us "
        "(%.1fx); document lengths in memory: %.1f KiB\n",
        percentile(ours, 50), percentile(theirs, 50), percentile(theirs, 50) / percentile(ours, 50),
        static_cast<double>(counts->memory_bytes()) / 1024.0);

    // With a filter passing 10%: the planned search among the documents it lets through,
    // against what keel ran before (filtered_by_order), taking turns as above.
    const GroupFilter group(3);
    std::vector<double> planned, ordered;
    std::size_t differ = 0;
    for (std::size_t q = 0; q < query_count; ++q) {
      const auto terms = knowledge::keyword_terms(query_texts[q]);
      const auto match =
          knowledge::build_match_expression(terms, SearchQuery::KeywordMode::any, false);
      knowledge::ReadTransaction snapshot(db);
      std::vector<std::pair<std::int64_t, double>> ours_best, theirs_best;
      auto plan = [&] {
        auto start = Clock::now();
        ours_best = knowledge::best_documents_of_any(db, knowledge::term_phrases(terms, false), 10,
                                                     nullptr, &group.filter);
        return micros(Clock::now() - start);
      };
      auto order = [&] {
        auto start = Clock::now();
        theirs_best = filtered_by_order(db, match, group, 10);
        return micros(Clock::now() - start);
      };
      const bool plan_first = q % 2 == 0;
      (plan_first ? planned : ordered).push_back(plan_first ? plan() : order());
      (void)(plan_first ? order() : plan());
      differ += score_differences(ours_best, theirs_best);
    }
    std::printf(
        "  keyword, filter passing 10%% (top 10): planned p50 %.0f us, ORDER BY keel_bm25 LIMIT "
        "p50 %.0f us (%.1fx); places whose scores differ: %zu\n",
        percentile(planned, 50), percentile(ordered, 50),
        percentile(ordered, 50) / percentile(planned, 50), differ);
  }
  auto time_queries = [&](const char* name, bool keyword, bool vector, Json filter = nullptr) {
    std::vector<double> us;
    std::map<std::string, std::vector<double>> stages;
    for (std::size_t q = 0; q < query_count; ++q) {
      SearchQuery query;
      query.k = 10;
      query.use_keyword = keyword;
      query.use_vector = vector;
      if (keyword) query.text = query_texts[q];
      if (vector) query.vector = query_vectors[q];
      query.filter = filter;
      auto start = Clock::now();
      auto result = kb.search(query);
      us.push_back(micros(Clock::now() - start));
      double total = result.timings_us["total"].get<double>(), rest = total;
      for (const char* stage : {"keyword", "vector"}) {
        double t = result.timings_us.value(stage, 0.0);
        stages[stage].push_back(t);
        rest -= t;
      }
      stages["fusion, hits, snippets"].push_back(rest);
    }
    report(name, us);
    std::printf("    p50 by stage:");
    for (const char* stage : {"keyword", "vector", "fusion, hits, snippets"})
      std::printf("  %s %.0f us", stage, percentile(stages[stage], 50));
    std::printf("\n");
  };
  time_queries("  hybrid query (k=10)", true, true);
  time_queries("  vector query (k=10)", false, true);
  time_queries("  keyword query (k=10, 3 words OR)", true, false);
  time_queries("  hybrid, filter passing 10%", true, true, {{"group", {{"eq", 3}}}});

  // Recall of the vector signal against exact search.
  const std::size_t recall_queries = std::min<std::size_t>(query_count, 200);
  double found = 0;
  for (std::size_t q = 0; q < recall_queries; ++q) {
    std::vector<std::pair<float, std::size_t>> exact(n);
    for (std::size_t i = 0; i < n; ++i) {
      exact[i] = {
          -vector::dot(query_vectors[q].data(), corpus.vectors.data() + i * dimension, dimension),
          i};
    }
    std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
    SearchQuery query;
    query.vector = query_vectors[q];
    query.use_keyword = false;
    query.k = 10;
    auto result = kb.search(query);
    for (std::size_t r = 0; r < 10; ++r) {
      std::string id = "doc-" + std::to_string(exact[r].second);
      for (const auto& hit : result.hits) {
        if (hit.id == id) {
          found += 1;
          break;
        }
      }
    }
  }
  std::printf("  vector recall@10 vs exact: %.4f (%zu queries, ef_search %zu, quantization %s)\n",
              found / static_cast<double>(recall_queries * 10), recall_queries,
              options.hnsw.ef_search,
              vector::quantization_name(knowledge::index_quantization(options.hnsw.quantization)));
  kb.close();
  if (compare) compare_quantization(corpus, n, query_vectors);
  if (keep.empty()) std::filesystem::remove_all(dir);
}

}  // namespace

// ---- questions -----------------------------------------------------------------------------

void run_questions(const std::string& keep) {
  const std::string dir =
      keep.empty() ? (std::filesystem::temp_directory_path() / "keel-bench-questions").string()
                   : keep;
  const std::string path = dir + "/questions.db";  // (beside --keep's speed base)
  constexpr int documents = 10000;
  if (keep.empty() || !std::filesystem::exists(path)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(dir);
    auto kb = KnowledgeBase::open(path);
    auto all = support_documents(documents);
    for (std::size_t i = 0; i < all.size(); ++i)
      all[i].metadata = {{"group", static_cast<int>(i % 10)}};  // for the filtered timings
    for (std::size_t at = 0; at < all.size(); at += 1000) {
      kb.upsert(std::vector<Document>(
          std::make_move_iterator(all.begin() + at),
          std::make_move_iterator(all.begin() + std::min(all.size(), at + 1000))));
    }
    kb.close();
  }
  // Every fourth test request of each set (2,145 of 8,580).
  std::vector<std::string> questions;
  const auto banking = load_banking77().test, clinc = load_clinc150().test;
  for (const auto* set : {&banking, &clinc})
    for (std::size_t i = 0; i < set->size(); i += 4)
      questions.push_back((*set)[i].text);
  std::printf("questions: %d documents of support text, %zu test requests as keyword queries\n",
              documents, questions.size());

  // As written (in batches of 1,000: FTS5 holds several segments), then after compact().
  auto measure = [&](const char* state) {
    knowledge::Connection db(path, true);
    knowledge::configure_connection(db, false, "normal");
    auto counts = std::make_shared<knowledge::TokenCounts>();
    counts->load(db);
    knowledge::register_ranking(db, counts);
    constexpr std::size_t k = 50;  // what a search takes from the keyword signal by default
    std::vector<double> planned, whole, planned_filtered, ordered_filtered;
    std::size_t held = 0, again = 0, unsplit = 0, different = 0, filtered_differ = 0;
    const GroupFilter group(3);
    for (std::size_t q = 0; q < questions.size(); ++q) {
      const auto terms = knowledge::keyword_terms(questions[q]);
      if (terms.empty()) continue;
      const auto phrases = knowledge::term_phrases(terms, false);
      const auto match =
          knowledge::build_match_expression(terms, SearchQuery::KeywordMode::any, false);
      knowledge::ReadTransaction snapshot(db);
      knowledge::AnyPlan plan;
      std::vector<std::pair<std::int64_t, double>> ours, theirs;
      auto run_ours = [&] {
        auto start = Clock::now();
        ours = knowledge::best_documents_of_any(db, phrases, k, &plan);
        planned.push_back(micros(Clock::now() - start));
      };
      auto run_theirs = [&] {
        auto start = Clock::now();
        theirs = knowledge::best_documents(db, match, k);
        whole.push_back(micros(Clock::now() - start));
      };
      // Taking turns: which runs first alternates from question to question.
      auto in_turns = [&](const auto& a, const auto& b) {
        if (q % 2 == 0) {
          a();
          b();
        } else {
          b();
          a();
        }
      };
      in_turns(run_ours, run_theirs);
      if (ours != theirs) ++different;
      // With a filter passing a tenth: planned against the way keel went before.
      std::vector<std::pair<std::int64_t, double>> ours_filtered, theirs_filtered;
      auto run_planned_filtered = [&] {
        auto start = Clock::now();
        ours_filtered = knowledge::best_documents_of_any(db, phrases, k, nullptr, &group.filter);
        planned_filtered.push_back(micros(Clock::now() - start));
      };
      auto run_ordered_filtered = [&] {
        auto start = Clock::now();
        theirs_filtered = filtered_by_order(db, match, group, k);
        ordered_filtered.push_back(micros(Clock::now() - start));
      };
      in_turns(run_planned_filtered, run_ordered_filtered);
      filtered_differ += score_differences(ours_filtered, theirs_filtered);
      if (!plan.skipped.empty())
        (plan.visits == 1 ? held : again) += 1;
      else
        ++unsplit;
    }
    std::printf(
        "  %s, keyword top %zu: planned p50 %.0f us, p90 %.0f us; whole query visited p50 %.0f us, "
        "p90 "
        "%.0f us (%.1fx at p50)\n"
        "  common words left out: %zu queries on the first plan, %zu on a second; %zu whole; "
        "answers differing: %zu\n",
        state, k, percentile(planned, 50), percentile(planned, 90), percentile(whole, 50),
        percentile(whole, 90), percentile(whole, 50) / percentile(planned, 50), held, again,
        unsplit, different);
    std::printf(
        "  %s, filter passing a tenth, keyword top %zu: planned p50 %.0f us, p90 %.0f us; ORDER BY "
        "keel_bm25 LIMIT p50 %.0f us, p90 %.0f us (%.1fx at p50); places whose scores differ: "
        "%zu\n\n",
        state, k, percentile(planned_filtered, 50), percentile(planned_filtered, 90),
        percentile(ordered_filtered, 50), percentile(ordered_filtered, 90),
        percentile(ordered_filtered, 50) / percentile(planned_filtered, 50), filtered_differ);
  };
  measure("as written");
  {
    auto kb = KnowledgeBase::open(path);
    kb.compact();
  }
  measure("after compact()");
  if (keep.empty()) std::filesystem::remove_all(dir);
}

int main(int argc, char** argv) {
  std::size_t docs = 100000, queries = 500;
  unsigned threads = 1;  // the library's default index_threads
  bool quality = true, speed = true, questions = true, compare = true;
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--docs" && i + 1 < argc) {
      docs = std::stoul(argv[++i]);
    } else if (arg == "--queries" && i + 1 < argc) {
      queries = std::stoul(argv[++i]);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::stoul(argv[++i]));
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else if (arg == "--no-quality") {
      quality = false;
    } else if (arg == "--no-speed") {
      speed = false;
    } else if (arg == "--no-questions") {
      questions = false;
    } else if (arg == "--no-quantization") {
      compare = false;
    } else {
      std::fprintf(stderr,
                   "usage: bench_knowledge [--docs N] [--queries N] [--threads N] [--no-quality] "
                   "[--no-speed] [--no-questions] [--no-quantization] [--keep DIR]\n");
      return 2;
    }
  }
  try {
    if (quality) run_quality();
    if (questions) run_questions(keep);
    if (speed) run_speed(docs, queries, threads, keep, compare);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_knowledge: %s\n", e.what());
    return 1;
  }
  return 0;
}
