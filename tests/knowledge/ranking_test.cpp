// keel_bm25: FTS5's bm25() scores, with document lengths kept in memory.
#include <doctest/doctest.h>

#include <cmath>

#include "kb_test_support.hpp"
#include "knowledge/fts_query.hpp"
#include "knowledge/ranking.hpp"
#include "knowledge/schema.hpp"
#include "knowledge/sqlite.hpp"

using namespace keel;
using namespace keel::testing;
using keel::knowledge::Connection;
using keel::knowledge::TokenCounts;

namespace {

// Texts of different lengths over a small vocabulary, so that length normalisation matters.
std::string text_of(int i) {
  static const char* words[] = {"river",  "stone",  "bridge", "lantern", "harbour", "meadow",
                                "signal", "copper", "falcon", "orchard", "ember",   "tide"};
  std::string text;
  for (int w = 0; w < 3 + (i * 7) % 40; ++w) {
    if (w) text += ' ';
    text += words[(i * 5 + w * w + w * 3) % 12];
  }
  return text;
}

// Every matching row's bm25() and keel_bm25() on `db`.
void check_scores_match(Connection& db, const std::string& match) {
  auto rows = db.prepare(
      "SELECT rowid, bm25(documents_fts), keel_bm25(documents_fts) FROM documents_fts "
      "WHERE documents_fts MATCH ?1");
  rows.bind_text(1, match);
  int matched = 0;
  while (rows.step()) {
    ++matched;
    INFO("query " << match << ", label " << rows.int64(0));
    CHECK(rows.real(2) == doctest::Approx(rows.real(1)).epsilon(1e-12));
  }
  CHECK(matched > 0);

  // keel_bm25_top keeps what ORDER BY bm25() LIMIT k returns, in that order (ties: the smaller
  // label first), for k below, at and above the number of rows.
  for (std::size_t k : {1, 3, 10, 1000}) {
    knowledge::TopDocuments top(k);
    auto gather = db.prepare(
        "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?1 AND "
        "keel_bm25_top(documents_fts, ?2)");
    gather.bind_text(1, match).bind_pointer(2, &top, knowledge::TopDocuments::pointer_type);
    REQUIRE(gather.step());
    CHECK(gather.int64(0) == 0);  // no row leaves the statement
    auto expected = db.prepare(
        "SELECT rowid, bm25(documents_fts) AS s FROM documents_fts WHERE documents_fts MATCH ?1 "
        "ORDER BY s, rowid LIMIT ?2");
    expected.bind_text(1, match).bind(2, static_cast<std::int64_t>(k));
    auto kept = top.best_first();
    std::size_t at = 0;
    while (expected.step()) {
      INFO("query " << match << ", k " << k << ", place " << at);
      REQUIRE(at < kept.size());
      CHECK(kept[at].first == expected.int64(0));
      CHECK(-kept[at].second == doctest::Approx(expected.real(1)).epsilon(1e-12));
      ++at;
    }
    CHECK(at == kept.size());
  }
}

std::vector<std::string> queries() {
  auto words = text_of(20);
  auto second_space = words.find(' ', words.find(' ') + 1);
  return {"\"river\"",
          "\"stone\" OR \"falcon\" OR \"tide\"",
          "\"" + words.substr(0, second_space) + "\"",  // a phrase of two words
          "\"orch\" *",
          "\"ember\" AND \"copper\"",
          "\"for\" OR \"stone\" OR \"a\" OR \"tide\""};  // with words no row has
}

}  // namespace

TEST_CASE("keel_bm25 scores every row as FTS5's bm25() does, lengths known or not") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    std::vector<Document> documents;
    for (int i = 0; i < 80; ++i)
      documents.push_back(make_document("d" + std::to_string(i), text_of(i)));
    kb.upsert(documents);
    // Lengths change and documents go: the averages and counts move with them.
    kb.upsert(make_document("d3", text_of(3) + " " + text_of(50) + " " + text_of(51)));
    kb.remove(std::vector<std::string>{"d10", "d11", "d12"});
  }
  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  SUBCASE("lengths loaded from the docsize table") {
    auto counts = std::make_shared<TokenCounts>();
    counts->load(db);
    CHECK(counts->view().get(1) > 0);
    knowledge::register_ranking(db, counts);
    for (const auto& match : queries())
      check_scores_match(db, match);
  }
  SUBCASE("no lengths known: each is asked of FTS5") {
    knowledge::register_ranking(db, std::make_shared<TokenCounts>());
    for (const auto& match : queries())
      check_scores_match(db, match);
  }
}

TEST_CASE("the knowledge base's keyword scores follow documents as they are updated and deleted") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    std::vector<Document> documents;
    for (int i = 0; i < 40; ++i) {
      documents.push_back(
          make_document("d" + std::to_string(i), text_of(i), {}, random_vector(16, i)));
    }
    kb.upsert(documents);
  }
  auto kb = KnowledgeBase::open(path, small_options());  // lengths loaded as the base opens
  // d5 grows fourfold: a stale length would score it as the short document it was.
  kb.upsert(make_document("d5",
                          text_of(5) + " " + text_of(30) + " " + text_of(31) + " " + text_of(32),
                          {}, random_vector(16, 5)));
  kb.remove("d6");
  kb.upsert(make_document("new", "river river stone", {}, random_vector(16, 99)));

  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  for (const std::string text : {"river", "stone falcon tide", "copper"}) {
    SearchQuery query;
    query.text = text;
    query.use_vector = false;
    query.k = 100;
    auto result = kb.search(query);
    REQUIRE(!result.hits.empty());
    for (const auto& hit : result.hits) {
      auto expected = db.prepare(
          "SELECT bm25(documents_fts) FROM documents_fts JOIN documents d "
          "ON d.label = documents_fts.rowid WHERE documents_fts MATCH ?1 AND d.id = ?2");
      const auto match = knowledge::build_match_expression(knowledge::keyword_terms(text),
                                                           SearchQuery::KeywordMode::any, false);
      REQUIRE(expected.bind_text(1, match).bind_text(2, hit.id).step());
      INFO("query " << text << ", hit " << hit.id);
      REQUIRE(hit.keyword);
      CHECK(hit.keyword->score == doctest::Approx(-expected.real(0)).epsilon(1e-12));
      CHECK(hit.id != "d6");
    }
  }
}

TEST_CASE("TopDocuments keeps the k best, the smaller label first on ties") {
  knowledge::TopDocuments top(3);
  for (auto [label, score] : std::vector<std::pair<std::int64_t, double>>{
           {9, 1.0}, {4, 2.0}, {7, 2.0}, {1, 0.5}, {5, 3.0}, {2, 2.0}})
    top.offer(label, score);
  using Kept = std::vector<std::pair<std::int64_t, double>>;
  CHECK(top.best_first() == Kept{{5, 3.0}, {2, 2.0}, {4, 2.0}});
  knowledge::TopDocuments none(0);
  none.offer(1, 1.0);
  CHECK(none.best_first().empty());
}

TEST_CASE("keel_bm25_top without a TopDocuments is an error, not a crash") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    kb.upsert(make_document("d1", "river stone"));
  }
  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  knowledge::register_ranking(db, std::make_shared<TokenCounts>());
  auto wrong = db.prepare(
      "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH 'river' AND "
      "keel_bm25_top(documents_fts, ?1)");
  int not_a_collector = 0;
  wrong.bind_pointer(1, &not_a_collector, "something else");
  CHECK_THROWS_WITH_AS(wrong.step(), doctest::Contains("keel_bm25_top"), Error);
}

TEST_CASE("TokenCounts: blocks made on demand, views stay valid, 0 forgets") {
  TokenCounts counts;
  CHECK(counts.view().get(1) == 0);
  CHECK(counts.memory_bytes() == 0);
  counts.set(1, 12);
  auto early = counts.view();
  counts.set(3 * TokenCounts::block_size + 5, 40);  // a new block: a new directory
  counts.set(1, 13);                                // seen through the old view too
  CHECK(early.get(1) == 13);
  CHECK(early.get(3 * TokenCounts::block_size + 5) == 0);
  auto now = counts.view();
  CHECK(now.get(3 * TokenCounts::block_size + 5) == 40);
  CHECK(now.get(2 * TokenCounts::block_size) == 0);  // a block never made
  CHECK(now.get(-1) == 0);
  CHECK(now.get(1000 * TokenCounts::block_size) == 0);
  counts.set(1, 0);
  CHECK(now.get(1) == 0);
  counts.set(900 * TokenCounts::block_size, 0);  // forgetting the unknown makes nothing
  CHECK(counts.view().get(900 * TokenCounts::block_size) == 0);
  CHECK(counts.memory_bytes() < 3 * sizeof(TokenCounts::Block));
}
