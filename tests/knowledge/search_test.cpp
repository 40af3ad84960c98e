// Search: keyword, vector, fusion, filters, snippets and consistency after changes.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>

#include "core/metadata_filter.hpp"
#include "kb_test_support.hpp"
#include "keel/llm.hpp"
#include "knowledge/filter_sql.hpp"
#include "knowledge/fts_query.hpp"
#include "knowledge/fusion.hpp"
#include "knowledge/sqlite.hpp"
#include "vector/dot.hpp"

using namespace keel;
using namespace keel::testing;

namespace {

SearchQuery keyword_only(std::string text, std::size_t k = 10) {
  SearchQuery q;
  q.text = std::move(text);
  q.k = k;
  q.use_vector = false;
  return q;
}

SearchQuery vector_only(std::vector<float> vector, std::size_t k = 10) {
  SearchQuery q;
  q.vector = std::move(vector);
  q.k = k;
  q.use_keyword = false;
  return q;
}

KnowledgeBase animals(KnowledgeOptions options = small_options()) {
  auto kb = KnowledgeBase::open(":memory:", options);
  kb.upsert({make_document("fox", "The quick brown fox jumps over the lazy dog", {{"kind", "wild"}},
                           random_vector(16, 1)),
             make_document("dog", "A lazy dog sleeps all day; the dog dreams in the sun",
                           {{"kind", "pet"}}, random_vector(16, 2)),
             make_document("cat", "Cats chase mice; a café cat naps", {{"kind", "pet"}},
                           random_vector(16, 3)),
             make_document("owl", "Owls hunt at night and sleep by day", {{"kind", "wild"}},
                           random_vector(16, 4))});
  return kb;
}

}  // namespace

TEST_CASE("keyword terms are quoted with inner quotes doubled and joined with OR") {
  using knowledge::build_match_expression;
  using knowledge::keyword_terms;
  CHECK(knowledge::quote_fts_term("say \"hi\"") == "\"say \"\"hi\"\"\"");
  auto terms = keyword_terms("Foo, bar! foo \"NEAR\"(x) col:y*");
  CHECK(terms == std::vector<std::string>{"Foo", "bar", "NEAR", "x", "col", "y"});
  CHECK(build_match_expression({"a", "b"}, SearchQuery::KeywordMode::any, false) ==
        "\"a\" OR \"b\"");
  CHECK(build_match_expression({"a", "b"}, SearchQuery::KeywordMode::all, false) ==
        "\"a\" AND \"b\"");
  CHECK(build_match_expression({"a", "b"}, SearchQuery::KeywordMode::phrase, true) == "\"a b\" *");
  CHECK(build_match_expression({"a"}, SearchQuery::KeywordMode::any, true) == "\"a\" *");
  CHECK(build_match_expression({}, SearchQuery::KeywordMode::any, false).empty());
  CHECK(keyword_terms("  ;;; ").empty());
}

TEST_CASE("keyword search ranks by BM25 with porter stemming and highlights the snippet") {
  auto kb = animals();
  auto result = kb.search(keyword_only("sleeping dogs"));
  REQUIRE(result.hits.size() >= 2);
  CHECK(result.hits[0].id == "dog");  // "sleeps" and "dog" both stem to the query's words
  REQUIRE(result.hits[0].keyword);
  CHECK(result.hits[0].keyword->rank == 1);
  CHECK(result.hits[0].keyword->score > 0);
  CHECK(result.hits[0].snippet.find("[dog]") != std::string::npos);
  CHECK_FALSE(result.hits[0].vector);
}

TEST_CASE("keyword search removes diacritics: cafe finds café") {
  auto kb = animals();
  auto result = kb.search(keyword_only("cafe"));
  REQUIRE(result.hits.size() == 1);
  CHECK(result.hits[0].id == "cat");
}

TEST_CASE("FTS5 syntax in the user's text is searched as words, never an error") {
  auto kb = animals();
  for (const char* text : {"\"", "\"unbalanced", "fox\" OR \"dog", "NEAR(fox dog)", "text:fox",
                           "fox*", "^fox", "fox AND", "OR", "(", ")", "-", "+", "*", "a\"\"b",
                           "\xe2\x80\x94", "\xff\xfe", "fox NOT dog"}) {
    CAPTURE(text);
    SearchResult result;
    CHECK_NOTHROW(result = kb.search(keyword_only(text)));
  }
  // "NOT" is a word to find, not an operator: the fox document is still found.
  auto ids = hit_ids(kb.search(keyword_only("fox NOT dog")));
  CHECK(std::find(ids.begin(), ids.end(), "fox") != ids.end());
  CHECK(std::find(ids.begin(), ids.end(), "dog") != ids.end());
}

TEST_CASE("phrase, all-words and prefix keyword modes") {
  auto kb = animals();
  auto phrase = keyword_only("lazy dog");
  phrase.keyword_mode = SearchQuery::KeywordMode::phrase;
  auto phrase_ids = hit_ids(kb.search(phrase));
  std::sort(phrase_ids.begin(), phrase_ids.end());
  CHECK(phrase_ids == std::vector<std::string>{"dog", "fox"});
  phrase.text = "dog lazy";
  CHECK(kb.search(phrase).hits.empty());

  auto all = keyword_only("sleep day");
  all.keyword_mode = SearchQuery::KeywordMode::all;
  auto ids = hit_ids(kb.search(all));
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::string>{"dog", "owl"});

  auto prefix = keyword_only("hun");
  CHECK(kb.search(prefix).hits.empty());
  prefix.prefix = true;
  CHECK(hit_ids(kb.search(prefix)) == std::vector<std::string>{"owl"});
}

TEST_CASE("vector search returns the nearest documents with their cosine similarity") {
  auto options = small_options();
  SUBCASE("int8 index (the default): its best hits scored again exactly") {
    CHECK(options.hnsw.quantization == VectorQuantization::int8);
  }
  SUBCASE("float32 index") {
    options.hnsw.quantization = VectorQuantization::none;
  }
  const double tolerance = 1e-5;
  auto kb = animals(options);
  auto result = kb.search(vector_only(random_vector(16, 3), 2));
  REQUIRE(result.hits.size() == 2);
  CHECK(result.hits[0].id == "cat");
  REQUIRE(result.hits[0].vector);
  CHECK(std::abs(result.hits[0].vector->score - 1.0) <= tolerance);
  const std::map<std::string, std::uint64_t> seeds{{"fox", 1}, {"dog", 2}, {"cat", 3}, {"owl", 4}};
  auto cat = random_vector(16, 3), second = random_vector(16, seeds.at(result.hits[1].id));
  vector::normalize(cat.data(), 16);
  vector::normalize(second.data(), 16);
  REQUIRE(result.hits[1].vector);
  CHECK(std::abs(result.hits[1].vector->score - vector::dot(cat.data(), second.data(), 16)) <=
        tolerance);
  CHECK(result.hits[0].vector->rank == 1);
  // No keyword match: the snippet is the start of the text.
  CHECK(result.hits[0].snippet.rfind("Cats chase", 0) == 0);
}

TEST_CASE("a query vector of the wrong dimension or with NaN is invalid_argument") {
  auto kb = animals();
  CHECK_THROWS_WITH_AS(kb.search(vector_only({1.0f, 2.0f})), doctest::Contains("expected 16"),
                       Error);
  auto nan = random_vector(16, 1);
  nan[2] = std::nanf("");
  CHECK_THROWS_WITH_AS(kb.search(vector_only(nan)), doctest::Contains("vector[2]"), Error);
  SearchQuery zero_k;
  zero_k.text = "fox";
  zero_k.k = 0;
  CHECK_THROWS_AS(kb.search(zero_k), Error);
}

TEST_CASE("hybrid hits carry each signal's rank and score, and to_json follows the SPEC") {
  auto kb = animals();
  SearchQuery q;
  q.text = "lazy dog";
  q.vector = random_vector(16, 2);
  auto result = kb.search(q);
  REQUIRE_FALSE(result.hits.empty());
  const auto& top = result.hits[0];
  CHECK(top.id == "dog");
  REQUIRE(top.keyword);
  REQUIRE(top.vector);
  CHECK(top.score == doctest::Approx(1.0 / 61 + 1.0 / 61));
  auto json = result.to_json();
  REQUIRE(json["hits"].is_array());
  auto hit = json["hits"][0];
  for (const char* key : {"id", "score", "snippet", "metadata", "signals"})
    CHECK_MESSAGE(hit.contains(key), key);
  CHECK(hit["signals"]["keyword"]["rank"] == 1);
  CHECK(hit["signals"]["keyword"].contains("score"));
  CHECK(hit["signals"]["vector"]["rank"] == 1);
  CHECK_FALSE(hit["signals"].contains("graph"));
  CHECK(hit["metadata"]["kind"] == "pet");
}

TEST_CASE("SearchQuery::from_json reads every option and names bad paths") {
  auto q =
      SearchQuery::from_json(Json::parse(R"({"text": "x", "k": 3, "filter": {"lang": {"eq": "fr"}},
      "signals": {"vector": false}, "keyword": {"mode": "phrase", "prefix": true},
      "graph": {"seeds": ["a"], "hops": 2, "decay": 0.25},
      "fusion": {"method": "weighted", "rrf_k": 10, "weights": {"graph": 2}}})"));
  CHECK(q.k == 3);
  CHECK_FALSE(q.use_vector);
  CHECK(q.use_graph);  // seeds given
  CHECK(q.keyword_mode == SearchQuery::KeywordMode::phrase);
  CHECK(q.fusion == FusionMethod::weighted);
  CHECK(q.graph_weight == 2);
  CHECK(SearchQuery::from_json(q.to_json()).to_json() == q.to_json());
  CHECK_THROWS_WITH_AS(SearchQuery::from_json(Json::parse(R"({"fusion": {"method": "max"}})")),
                       doctest::Contains("query.fusion.method"), Error);
  CHECK_THROWS_WITH_AS(SearchQuery::from_json(Json::parse(R"({"k": "ten"})")),
                       doctest::Contains("query.k"), Error);
}

TEST_CASE(
    "reciprocal rank fusion adds weight / (k + rank) per signal; weighted fusion scales scores") {
  std::array<knowledge::RankedList, knowledge::signal_count> lists;
  lists[0].candidates = {{1, 10.0, 0}, {2, 5.0, 0}};
  lists[1].candidates = {{2, 0.9, 0}, {3, 0.8, 0}};
  auto rrf = knowledge::fuse(lists, FusionMethod::rrf, 60);
  REQUIRE(rrf.size() == 3);
  CHECK(rrf[0].label == 2);
  CHECK(rrf[0].score == doctest::Approx(1.0 / 62 + 1.0 / 61));
  CHECK(rrf[0].signals[0]->rank == 2);
  CHECK(rrf[0].signals[1]->rank == 1);
  CHECK(rrf[1].label == 1);  // first in one list beats second in one list
  CHECK(rrf[2].label == 3);
  lists[1].weight = 0;
  auto keyword_alone = knowledge::fuse(lists, FusionMethod::rrf, 60);
  CHECK(keyword_alone.size() == 2);
  lists[1].weight = 1;
  auto weighted = knowledge::fuse(lists, FusionMethod::weighted, 60);
  // Label 1: best keyword (1) + nothing; label 2: worst keyword (0) + best vector (1).
  CHECK(weighted[0].label == 1);
  CHECK(weighted[0].score == doctest::Approx(1.0));
  CHECK(weighted[1].label == 2);
  CHECK(weighted[1].score == doctest::Approx(1.0));
  CHECK(weighted[2].label == 3);
  CHECK(weighted[2].score == doctest::Approx(0.0));
}

TEST_CASE("metadata filters become SQL whose parameters are bound, never pasted") {
  auto filter = MetadataFilter::parse(
      Json::parse(R"({"lang": {"eq": "x' OR 1=1 --"}, "year": {"gte": 2020}})"), "filter");
  auto sql = knowledge::filter_to_sql(filter, "m", 1);
  CHECK(sql.condition.find("OR 1=1") == std::string::npos);
  CHECK(sql.parameters.size() == 4);  // two paths, the value, the bound
}

TEST_CASE("a selective filter still returns k hits, all of which pass it") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  std::vector<Document> batch;
  for (int i = 0; i < 2000; ++i) {
    Json metadata = {
        {"lang", i % 100 == 0 ? "fr" : "en"}, {"year", 2000 + i % 30}, {"user", {{"tier", i % 3}}}};
    batch.push_back(make_document("d" + std::to_string(i),
                                  "common words shared by all the documents here", metadata,
                                  random_vector(16, i)));
  }
  kb.upsert(batch);

  SearchQuery q = vector_only(random_vector(16, 5000), 10);
  q.filter = {{"lang", {{"eq", "fr"}}}};
  auto result = kb.search(q);
  CHECK(result.hits.size() == 10);
  CHECK(result.vector_strategy == "exact");
  for (const auto& hit : result.hits)
    CHECK(hit.metadata["lang"] == "fr");

  // A broad filter is served from the index by over-fetching.
  q.filter = {{"user.tier", {{"in", {0, 1}}}}};
  result = kb.search(q);
  CHECK(result.hits.size() == 10);
  CHECK(result.vector_strategy == "index");
  for (const auto& hit : result.hits)
    CHECK(hit.metadata["user"]["tier"] != 2);

  // Keyword search: the filter is part of the SQL query.
  auto keyword = keyword_only("common words", 10);
  keyword.filter = {{"lang", {{"eq", "fr"}}},
                    {"year", {{"gte", 2000}, {"lt", 2020}}}};  // 14 of 2000
  result = kb.search(keyword);
  CHECK(result.hits.size() == 10);
  for (const auto& hit : result.hits) {
    CHECK(hit.metadata["lang"] == "fr");
    CHECK(hit.metadata["year"].get<int>() < 2020);
  }
  // The exact answer of the filtered vector search is the true nearest among matches.
  q.filter = {{"year", {{"eq", 2003}}}, {"lang", {{"exists", true}}}};
  q.k = 5;
  result = kb.search(q);
  REQUIRE(result.hits.size() == 5);
  auto query_vector = random_vector(16, 5000);
  std::vector<std::pair<float, std::string>> truth;
  for (int i = 3; i < 2000; i += 30) {
    auto v = random_vector(16, i);
    float dot = 0;
    for (int j = 0; j < 16; ++j)
      dot += v[j] * query_vector[j];
    truth.emplace_back(-dot, "d" + std::to_string(i));
  }
  std::sort(truth.begin(), truth.end());
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(result.hits[i].id == truth[i].second);
}

TEST_CASE("a filter that nothing passes gives no hits; a bad filter names its path") {
  auto kb = animals();
  SearchQuery q;
  q.text = "dog";
  q.filter = {{"kind", {{"eq", "robot"}}}};
  CHECK(kb.search(q).hits.empty());
  q.filter = {{"kind", {{"equals", "pet"}}}};
  CHECK_THROWS_WITH_AS(kb.search(q), doctest::Contains("filter.kind"), Error);
  q.filter = Json::array();
  CHECK_THROWS_AS(kb.search(q), Error);
}

TEST_CASE("filters match booleans, nulls and numbers exactly as MetadataFilter does") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.upsert({make_document("t", "item", {{"flag", true}, {"n", 1}}, random_vector(16, 1)),
             make_document("one", "item", {{"flag", 1}, {"n", "1"}}, random_vector(16, 2)),
             make_document("null", "item", {{"flag", nullptr}}, random_vector(16, 3))});
  auto ids_for = [&](Json filter) {
    auto q = keyword_only("item");
    q.filter = std::move(filter);
    auto ids = hit_ids(kb.search(q));
    std::sort(ids.begin(), ids.end());
    auto v = vector_only(random_vector(16, 9));
    v.filter = q.filter;
    auto vector_ids = hit_ids(kb.search(v));
    std::sort(vector_ids.begin(), vector_ids.end());
    CHECK(ids == vector_ids);
    return ids;
  };
  CHECK(ids_for({{"flag", {{"eq", true}}}}) == std::vector<std::string>{"t"});
  CHECK(ids_for({{"flag", {{"eq", 1}}}}) == std::vector<std::string>{"one"});
  CHECK(ids_for({{"flag", {{"exists", false}}}}) == std::vector<std::string>{"null"});
  CHECK(ids_for({{"n", {{"gte", 0}}}}) == std::vector<std::string>{"t"});
}

TEST_CASE("a deleted document never comes back in keyword, vector or graph search") {
  auto kb = animals();
  kb.add_edge({"fox", "dog", "chases", 1.0, Json::object()});
  kb.remove("dog");
  SearchQuery q;
  q.text = "lazy dog sleeps";
  q.vector = random_vector(16, 2);
  q.use_graph = true;
  q.k = 10;
  for (auto ids : {hit_ids(kb.search(q)), hit_ids(kb.search(keyword_only("dog"))),
                   hit_ids(kb.search(vector_only(random_vector(16, 2))))}) {
    CHECK(std::find(ids.begin(), ids.end(), "dog") == ids.end());
  }
  SearchQuery graph;
  graph.seeds = {"fox"};
  graph.use_keyword = graph.use_vector = false;
  CHECK(kb.search(graph).hits.empty());
}

TEST_CASE("an updated document is found by its new text and vector only") {
  auto kb = animals();
  kb.upsert(make_document("owl", "Penguins swim in cold water", {{"kind", "wild"}},
                          random_vector(16, 40)));
  CHECK(hit_ids(kb.search(keyword_only("owls hunt"))).empty());
  CHECK(hit_ids(kb.search(keyword_only("penguins"))) == std::vector<std::string>{"owl"});
  auto near = kb.search(vector_only(random_vector(16, 40), 1));
  REQUIRE(near.hits.size() == 1);
  CHECK(near.hits[0].id == "owl");
  auto old = kb.search(vector_only(random_vector(16, 4), 4));
  for (const auto& hit : old.hits) {
    if (hit.id == "owl") CHECK(hit.vector->score < 0.9);
  }
}

TEST_CASE("every document of a base takes new vectors again and again") {
  // Re-adding labels walks hnswlib's update path, which copies each level's link list of the
  // node — empty for a node alone on the top levels (a memcpy of nothing from a null pointer,
  // which stopped the sanitizer builds). M = 2 makes many levels with few nodes on each.
  auto options = small_options();
  options.hnsw.m = 2;
  auto kb = KnowledgeBase::open(":memory:", options);
  for (std::uint64_t round = 0; round < 3; ++round) {
    std::vector<Document> documents;
    for (std::uint64_t i = 0; i < 60; ++i) {
      documents.push_back(make_document("d" + std::to_string(i), "words " + std::to_string(i), {},
                                        random_vector(16, round * 1000 + i)));
    }
    kb.upsert(documents);
    auto near = kb.search(vector_only(random_vector(16, round * 1000 + 7), 1));
    REQUIRE(near.hits.size() == 1);
    CHECK(near.hits[0].id == "d7");
    CHECK(near.hits[0].vector->score == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK(kb.count() == 60);
}

TEST_CASE("heavy deletion compacts the vector index and recall stays whole") {
  auto options = small_options();
  options.compaction_min_deleted = 50;
  options.compaction_deleted_fraction = 0.3;
  auto kb = KnowledgeBase::open(":memory:", options);
  std::vector<Document> batch;
  for (int i = 0; i < 400; ++i)
    batch.push_back(make_document("d" + std::to_string(i), "w", {}, random_vector(16, i)));
  kb.upsert(batch);
  std::vector<std::string> doomed;
  for (int i = 0; i < 400; i += 2)
    doomed.push_back("d" + std::to_string(i));
  kb.remove(doomed);
  auto stats = kb.stats();
  CHECK(stats["compactions"].get<int>() >= 1);
  CHECK(stats["deleted_in_index"].get<std::size_t>() < 50);
  CHECK(stats["index_elements"].get<std::size_t>() < 260);
  // Every remaining document is its own nearest neighbour.
  for (int i = 1; i < 400; i += 2) {
    auto result = kb.search(vector_only(random_vector(16, i), 1));
    REQUIRE(result.hits.size() == 1);
    CHECK(result.hits[0].id == "d" + std::to_string(i));
  }
}

TEST_CASE("compact() merges the keyword index into one segment, the answers unchanged") {
  TempDir dir;
  auto kb = KnowledgeBase::open(dir.file("kb.db"), small_options());
  // Written in ten batches: FTS5 holds them in several segments.
  for (int b = 0; b < 10; ++b) {
    std::vector<Document> batch;
    for (int i = 0; i < 30; ++i) {
      const int n = b * 30 + i;
      batch.push_back(make_document("d" + std::to_string(n),
                                    "parcel " + std::string(n % 3 ? "late " : "lost ") +
                                        std::string(n % 7 ? "refund" : "invoice refund refund"),
                                    {}, random_vector(16, n)));
    }
    kb.upsert(batch);
  }
  auto segments = [&] {
    knowledge::Connection db(dir.file("kb.db"), true);
    auto rows = db.prepare("SELECT count(DISTINCT segid) FROM documents_fts_idx");
    REQUIRE(rows.step());
    return rows.int64(0);
  };
  SearchQuery query;
  query.text = "a late parcel refund invoice";
  query.use_vector = false;
  query.k = 50;
  const auto before = kb.search(query);
  REQUIRE(segments() > 1);
  kb.compact();
  CHECK(segments() == 1);
  const auto after = kb.search(query);
  REQUIRE(after.hits.size() == before.hits.size());
  for (std::size_t i = 0; i < after.hits.size(); ++i) {
    CHECK(after.hits[i].id == before.hits[i].id);
    CHECK(after.hits[i].keyword->score == before.hits[i].keyword->score);
  }
}

TEST_CASE("weighted fusion and custom snippet markers") {
  auto kb = animals();
  SearchQuery q;
  q.text = "fox";
  q.vector = random_vector(16, 1);
  q.fusion = FusionMethod::weighted;
  q.snippet_open = "<b>";
  q.snippet_close = "</b>";
  auto result = kb.search(q);
  REQUIRE_FALSE(result.hits.empty());
  CHECK(result.hits[0].id == "fox");
  CHECK(result.hits[0].score == doctest::Approx(2.0));
  CHECK(result.hits[0].snippet.find("<b>fox</b>") != std::string::npos);
}

TEST_CASE("an int8 index's best hits are scored again exactly: exact ranks and similarities") {
  // Clustered vectors: many near-ties, closer than int8 rounding, which alone orders them
  // wrongly (this test fails without the exact second look).
  constexpr std::size_t dim = 32, count = 1500;
  auto kb = KnowledgeBase::open(":memory:", small_options(dim));
  std::vector<std::vector<float>> vectors;
  std::vector<Document> batch;
  for (std::size_t i = 0; i < count; ++i) {
    auto v = random_vector(dim, i % 15);  // 15 centres
    auto noise = random_vector(dim, 100000 + i);
    for (std::size_t d = 0; d < dim; ++d)
      v[d] += 0.2f * noise[d];
    vector::normalize(v.data(), dim);
    vectors.push_back(v);
    batch.push_back(make_document("d" + std::to_string(i), "text", {}, v));
  }
  kb.upsert(batch);
  for (std::uint64_t q = 0; q < 20; ++q) {
    auto query = random_vector(dim, q % 15);
    auto noise = random_vector(dim, 200000 + q);
    for (std::size_t d = 0; d < dim; ++d)
      query[d] += 0.2f * noise[d];
    vector::normalize(query.data(), dim);
    std::vector<std::pair<float, std::size_t>> exact;
    for (std::size_t i = 0; i < count; ++i)
      exact.push_back({vector::dot(query.data(), vectors[i].data(), dim), i});
    std::sort(exact.begin(), exact.end(), std::greater<>());
    auto search = vector_only(query, 5);
    search.ef_search = 2000;  // every document a candidate: only the ordering is left to test
    auto hits = kb.search(search).hits;
    REQUIRE(hits.size() == 5);
    for (std::size_t r = 0; r < 5; ++r) {
      INFO("query " << q << ", rank " << r);
      CHECK(hits[r].id == "d" + std::to_string(exact[r].second));
      CHECK(hits[r].vector->score == doctest::Approx(exact[r].first).epsilon(1e-6));
    }
  }
}

TEST_CASE("a vector signal weighted 0 is not computed: the query is not even embedded") {
  // A test double counting the texts it embeds (the hashing embedder does the work).
  struct CountingEmbedder : Embedder {
    HashingEmbedder inner{[] {
      HashingEmbedder::Options o;
      o.dimension = 16;
      return o;
    }()};
    mutable std::atomic<int> texts{0};
    std::size_t dimension() const noexcept override { return 16; }
    std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& batch,
                                                const CallOptions& options) const override {
      texts += static_cast<int>(batch.size());
      return inner.embed_batch(batch, options);
    }
    std::string_view provider() const noexcept override { return "counting"; }
  };
  auto embedder = std::make_shared<CountingEmbedder>();
  auto options = small_options();
  options.embedder = embedder;
  auto kb = KnowledgeBase::open(":memory:", options);
  kb.upsert({make_document("fox", "The quick brown fox"), make_document("owl", "Owls hunt")});
  const int after_upsert = embedder->texts.load();
  SearchQuery query;
  query.text = "fox";
  auto both = kb.search(query);
  CHECK(embedder->texts.load() == after_upsert + 1);
  CHECK(both.timings_us.contains("vector"));
  query.vector_weight = 0;
  auto keyword_only = kb.search(query);
  CHECK(embedder->texts.load() == after_upsert + 1);
  CHECK_FALSE(keyword_only.timings_us.contains("vector"));
  REQUIRE_FALSE(keyword_only.hits.empty());
  CHECK(keyword_only.hits[0].id == "fox");
  CHECK_FALSE(keyword_only.hits[0].vector.has_value());
}
