// keel_bm25: FTS5's bm25() scores, with document lengths kept in memory.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>

#include "kb_test_support.hpp"
#include "knowledge/fts_query.hpp"
#include "knowledge/ranking.hpp"
#include "knowledge/schema.hpp"
#include "knowledge/sqlite.hpp"
#include "vector/checksum.hpp"

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

// `phrases` joined by OR: the whole query best_documents_of_any answers.
std::string any_of(const std::vector<std::string>& phrases) {
  std::string whole;
  for (const auto& p : phrases)
    whole += (whole.empty() ? "" : " OR ") + p;
  return whole;
}

// `got` holds what `expected` (a label and bm25()'s score per row, best first) returns.
void check_same_answer(knowledge::Statement& expected,
                       const std::vector<std::pair<std::int64_t, double>>& got) {
  std::size_t at = 0;
  while (expected.step()) {
    REQUIRE(at < got.size());
    CHECK(got[at].first == expected.int64(0));
    CHECK(-got[at].second == doctest::Approx(expected.real(1)).epsilon(1e-12));
    ++at;
  }
  CHECK(at == got.size());
}

// Writes documents "d0", "d1", ... with the texts `text(i)` (and the metadata `metadata(i)`) to
// a new base at `path`.
void write_base(const std::string& path, int count, const std::function<std::string(int)>& text,
                const std::function<Json(int)>& metadata = nullptr) {
  auto kb = KnowledgeBase::open(path, small_options());
  std::vector<Document> documents;
  for (int i = 0; i < count; ++i)
    documents.push_back(
        make_document("d" + std::to_string(i), text(i), metadata ? metadata(i) : Json::object()));
  kb.upsert(documents);
}

// A read connection to the base at `path` with keel_bm25 registered: the documents' lengths
// loaded from the docsize table, or none known (each asked of FTS5).
std::unique_ptr<Connection> ranking_connection(const std::string& path, bool lengths) {
  auto db = std::make_unique<Connection>(path, true);
  knowledge::configure_connection(*db, false, "normal");
  auto counts = std::make_shared<TokenCounts>();
  if (lengths) counts->load(*db);
  knowledge::register_ranking(*db, counts);
  return db;
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

TEST_CASE("keel_bm25_top with a word in every document: rows holding only it are left unscored") {
  // "the" in every document (idf clamped), "harbour" in one in ten, "lantern" in a few: once
  // k are kept, a row holding only "the" cannot reach them and is skipped; what is kept, and
  // its order, is still bm25()'s, ties included (identical documents).
  TempDir dir;
  const auto path = dir.file("kb.db");
  write_base(path, 300, [](int i) {
    std::string text = "the " + text_of(i % 7);
    if (i % 10 == 3) text += " harbour the";
    if (i % 37 == 5) text += " lantern lantern";
    return text;
  });
  auto db = ranking_connection(path, false);
  check_scores_match(*db, "\"the\" OR \"harbour\"");
  check_scores_match(*db, "\"harbour\" OR \"the\" OR \"lantern\"");
  check_scores_match(*ranking_connection(path, true), "\"the\" OR \"lantern\" OR \"harbour\"");
}

TEST_CASE("keel_bm25 counts a word's documents only up to half of the base, with bm25()'s idf") {
  // In 10 documents, 5 is half (from there bm25()'s idf is its floor) and 4 is not; in 11, 6 is
  // past half and 5 is not: counting stops at half, and every score is still bm25()'s.
  for (int documents : {10, 11}) {
    TempDir dir;
    const auto path = dir.file("kb.db");
    write_base(path, documents, [&](int i) {
      std::string text = text_of(i);
      if (i < (documents - 1) / 2) text += " below";  // 4 of 10, 5 of 11
      if (i < (documents + 1) / 2) text += " half";   // 5 of 10, 6 of 11
      if (i < (documents + 3) / 2) text += " over";   // 6 of 10, 7 of 11
      return text;
    });
    auto db = ranking_connection(path, false);
    INFO(documents << " documents");
    check_scores_match(*db, "\"below\" OR \"half\" OR \"over\" OR \"river\"");
    check_scores_match(*db, "\"half\"");
    check_scores_match(*db, "\"below\"");
  }
}

TEST_CASE("best_documents_of_any visits the rows of rare words only, with bm25()'s answer") {
  // "the" in every document, "ferry" in four of ten, "wharf" in one of ten — in documents
  // twenty times longer than the rest, so that they score below "ferry" alone — and "beacon"
  // in three (none of them among text_of()'s words).
  TempDir dir;
  const auto path = dir.file("kb.db");
  write_base(path, 300, [](int i) {
    std::string text = "the " + text_of(i % 7);
    if (i % 10 < 4) text += " ferry";
    if (i % 10 == 7) {
      text += " wharf";
      for (int pad = 0; pad < 30; ++pad)
        text += " " + text_of(pad);
    }
    if (i % 100 == 42) text += " beacon";
    return text;
  });
  auto connection = ranking_connection(path, true);
  Connection& db = *connection;
  knowledge::ReadTransaction snapshot(db);

  // What the whole query answers (keel_bm25 scores every row), and what ORDER BY bm25() does.
  auto check = [&](const std::vector<std::string>& phrases, std::size_t k, int visits,
                   std::size_t skipped) {
    const std::string whole = any_of(phrases);
    INFO("query " << whole << ", k " << k);
    knowledge::AnyPlan plan;
    auto got = knowledge::best_documents_of_any(db, phrases, k, &plan);
    if (visits >= 0) {  // (-1: the answer is checked, not how it was found)
      CHECK(plan.visits == visits);
      CHECK(plan.skipped.size() == skipped);
    }
    CHECK(got == knowledge::best_documents(db, whole, k));  // bit for bit
    auto expected = db.prepare(
        "SELECT rowid, bm25(documents_fts) AS s FROM documents_fts WHERE documents_fts MATCH ?1 "
        "ORDER BY s, rowid LIMIT ?2");
    expected.bind_text(1, whole).bind(2, static_cast<std::int64_t>(k));
    check_same_answer(expected, got);
  };
  // "the" cannot lift a document: only the rows holding "beacon" or "wharf" are visited.
  check({"\"the\"", "\"beacon\"", "\"wharf\""}, 10, 1, 1);
  check({"\"beacon\"", "\"the\"", "\"wharf\" *"}, 3, 1, 1);
  // "ferry" was expected to be below the 10th best of the "wharf" and "beacon" rows, but the
  // long "wharf" rows score less than "ferry" alone can: a second visit leaves out "the" only.
  check({"\"the\"", "\"ferry\"", "\"wharf\"", "\"beacon\""}, 10, 2, 1);
  // Fewer rare rows than asked for: the whole query.
  check({"\"the\"", "\"beacon\""}, 10, 1, 0);
  // More than the base holds, and one word: the whole query.
  check({"\"the\"", "\"ferry\""}, 400, 1, 0);
  check({"\"wharf\""}, 5, 1, 0);
  // Words no document has are in neither part; with only those, nothing is visited.
  check({"\"for\"", "\"the\"", "\"absent\"", "\"beacon\""}, 2, 1, 1);
  check({"\"nowhere\"", "\"absent\""}, 5, 0, 0);
  // Words that stem alike ("ferries", "ferry"), a phrase of two words, a phrase of none.
  check({"\"the\"", "\"ferries\"", "\"beacon\"", "\"ferry\""}, 10, -1, 0);
  check({"\"the ferry\"", "\"the\"", "\"wharf\"", "\"-\"", "\"beacon\""}, 10, -1, 0);
  check({"\"the\"", "\"ferry\"", "\"wharf\"", "\"beacon\""}, 150, -1, 0);

  SUBCASE("statistics of another query are refused, not read past") {
    auto stats = std::make_shared<knowledge::KeywordStatistics>();
    REQUIRE(db.prepare("SELECT keel_bm25_statistics(documents_fts, ?2) FROM documents_fts "
                       "WHERE documents_fts MATCH ?1 LIMIT 1")
                .bind_text(1, "\"the\" OR \"beacon\"")
                .bind_pointer(2, stats.get(), knowledge::KeywordStatistics::pointer_type)
                .step());
    REQUIRE(stats->idf.size() == 2);
    knowledge::TopDocuments top(5, stats, 0);
    auto three = db.prepare(
        "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?1 AND "
        "keel_bm25_top(documents_fts, ?2)");
    three.bind_text(1, "\"the\" OR \"beacon\" OR \"wharf\"")
        .bind_pointer(2, &top, knowledge::TopDocuments::pointer_type);
    CHECK_THROWS_WITH_AS(three.step(), doctest::Contains("statistics of another query"), Error);
  }
}

TEST_CASE("best_documents_of_any with a filter: the best documents it lets through") {
  // The texts of the test above, in three tenants; a fifth of the documents are not to be kept,
  // which only the exact test (not the SQL condition) knows.
  TempDir dir;
  const auto path = dir.file("kb.db");
  write_base(
      path, 300,
      [](int i) {
        std::string text = "the " + text_of(i % 7);
        if (i % 10 < 4) text += " ferry";
        if (i % 10 == 7) text += " wharf";
        if (i % 100 == 42 || i % 100 == 43) text += " beacon";
        return text;
      },
      [](int i) {
        return Json{{"tenant", i % 3}, {"keep", i % 4 != 1}};
      });
  auto connection = ranking_connection(path, true);
  Connection& db = *connection;
  knowledge::ReadTransaction snapshot(db);

  for (int tenant : {0, 1, 2}) {
    knowledge::FilterSql sql;
    sql.condition = "json_extract(d.metadata, '$.tenant') = ?3";
    sql.parameters = {Json(tenant)};
    int tested = 0;
    knowledge::DocumentFilter filter{&sql, [&](std::string_view metadata) {
                                       ++tested;
                                       return Json::parse(metadata).value("keep", false);
                                     }};
    // `tested`: at most how many documents may have their metadata tested (the tenant has 100).
    auto check = [&](const std::vector<std::string>& phrases, std::size_t k, bool skips,
                     int most_tested) {
      const std::string whole = any_of(phrases);
      INFO("tenant " << tenant << ", query " << whole << ", k " << k);
      knowledge::AnyPlan plan;
      tested = 0;
      auto got = knowledge::best_documents_of_any(db, phrases, k, &plan, &filter);
      if (skips) CHECK(!plan.skipped.empty());
      // Only documents that could be kept had their metadata tested, not every one of the
      // tenant's that holds a word.
      CHECK(tested <= most_tested);
      CHECK(got == knowledge::best_documents(db, whole, k, &filter));  // bit for bit
      auto expected = db.prepare(
          "SELECT documents_fts.rowid, bm25(documents_fts) AS s FROM documents_fts "
          "JOIN documents d ON d.label = documents_fts.rowid WHERE documents_fts MATCH ?1 "
          "AND json_extract(d.metadata, '$.tenant') = ?3 AND json_extract(d.metadata, '$.keep') "
          "ORDER BY s, documents_fts.rowid LIMIT ?2");
      expected.bind_text(1, whole)
          .bind(2, static_cast<std::int64_t>(k))
          .bind(3, static_cast<std::int64_t>(tenant));
      check_same_answer(expected, got);
    };
    // "the" is in every document: it is skipped, inside the filter too.
    check({"\"the\"", "\"ferry\"", "\"wharf\""}, 5, true, 15);
    check({"\"the\"", "\"wharf\"", "\"beacon\""}, 3, true, 15);
    // Fewer documents than asked for, and more than the tenant has: the whole query.
    check({"\"the\"", "\"beacon\""}, 10, false, 50);
    check({"\"the\"", "\"ferry\""}, 200, false, 100);
  }
}

TEST_CASE("best_documents_of_any needs a read transaction") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  write_base(path, 3, [](int i) { return text_of(i); });
  auto db = ranking_connection(path, true);
  CHECK_THROWS_WITH_AS(knowledge::best_documents_of_any(*db, {"\"river\"", "\"stone\""}, 5),
                       doctest::Contains("read transaction"), Error);
  knowledge::ReadTransaction snapshot(*db);
  CHECK_NOTHROW(knowledge::best_documents_of_any(*db, {"\"river\"", "\"stone\""}, 5));
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
  write_base(path, 1, [](int) { return std::string("river stone"); });
  auto db = ranking_connection(path, false);
  auto wrong = db->prepare(
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

namespace {

// The "token_counts" field of each kb.index event: where the loader got the lengths.
struct LengthSources {
  std::vector<std::string> seen;
  KnowledgeOptions options() {
    auto o = small_options();
    o.events = [this](const Json& event) {
      if (event["type"] == "kb.index") seen.push_back(event.value("token_counts", ""));
    };
    return o;
  }
  std::string open_and_close(const std::string& path) {
    seen.clear();
    {
      auto kb = KnowledgeBase::open(path, options());
      (void)kb.stats();  // waits for the loader
    }
    return seen.size() == 1 ? seen[0] : "events: " + std::to_string(seen.size());
  }
};

// Every document's length as FTS5's docsize table has it, by label.
std::map<std::int64_t, std::uint32_t> docsize_lengths(Connection& db) {
  TokenCounts counted;
  counted.load(db);
  std::map<std::int64_t, std::uint32_t> out;
  auto labels = db.prepare("SELECT label FROM documents");
  while (labels.step())
    out[labels.int64(0)] = counted.view().get(labels.int64(0));
  return out;
}

}  // namespace

TEST_CASE("document lengths are saved with the base and read back as one row, caught up") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  LengthSources sources;
  {
    auto kb = KnowledgeBase::open(path, sources.options());
    std::vector<Document> documents;
    for (int i = 0; i < 80; ++i)
      documents.push_back(make_document("d" + std::to_string(i), text_of(i)));
    kb.upsert(documents);
  }
  REQUIRE(sources.seen == std::vector<std::string>{"counted"});  // a new base: nothing saved yet
  CHECK(sources.open_and_close(path) == "saved");

  // Written and deleted after the lengths were saved, the base still open (as after a crash):
  // the saved lengths, caught up, are FTS5's.
  auto kb = KnowledgeBase::open(path, small_options());
  kb.upsert(make_document("d5", text_of(5) + " " + text_of(30) + " " + text_of(31)));
  kb.upsert(make_document("new", "river river stone"));
  kb.remove(std::vector<std::string>{"d6", "d7"});
  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  const auto meta = knowledge::read_meta(db);
  TokenCounts counts;
  auto saved_at = counts.load_saved(db, meta.pruned_through, meta.generation);
  REQUIRE(saved_at);
  CHECK(*saved_at < meta.generation);
  const auto expected = docsize_lengths(db);
  CHECK(expected.size() == 79);
  for (auto [label, tokens] : expected) {
    INFO("label " << label);
    CHECK(tokens > 0);
    CHECK(counts.view().get(label) == tokens);
  }
  for (std::int64_t label = 0; label < 200; ++label)  // the deleted ones are forgotten
    if (!expected.count(label)) CHECK(counts.view().get(label) == 0);
  // Lengths saved after the tombstones they would need were pruned, or ahead of the database,
  // are not used.
  CHECK_FALSE(counts.load_saved(db, *saved_at + 1, meta.generation));
  CHECK_FALSE(counts.load_saved(db, 0, *saved_at - 1));
}

TEST_CASE("saved document lengths that are damaged or missing are counted again") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  LengthSources sources;
  {
    auto kb = KnowledgeBase::open(path, small_options());
    std::vector<Document> documents;
    for (int i = 0; i < 40; ++i)
      documents.push_back(make_document("d" + std::to_string(i), text_of(i)));
    kb.upsert(documents);
  }
  auto damage = [&](const std::string& sql) {
    Connection db(path, false);
    db.exec(sql);
  };
  // A blob of these bytes (hex), its checksum appended as TokenCounts::save() does: what
  // decodes badly is caught by the decoding, not by the checksum.
  auto blob = [](const std::string& hex) {
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
      bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    const std::uint64_t sum = vector::checksum(bytes.data(), bytes.size());
    std::string out = "x'" + hex;
    char byte[3];
    for (int b = 0; b < 8; ++b) {
      std::snprintf(byte, sizeof byte, "%02x", static_cast<unsigned>((sum >> (8 * b)) & 0xff));
      out += byte;
    }
    return out + "'";
  };
  SUBCASE("damaged") {
    for (const std::string& counts :
         {std::string("x''"), std::string("x'0101'"), blob(""), blob("01"), blob("0102ff"),
          blob("0101ffffffffffffffffff7f05"), blob("02010105"), blob("0101000a"), blob("01010100"),
          blob("0101010a01"), blob("010101ffffffff7f")}) {
      INFO(counts);
      damage("UPDATE token_counts SET counts = " + counts);
      CHECK(sources.open_and_close(path) == "counted");
      CHECK(sources.open_and_close(path) == "saved");  // saved again, whole
    }
  }
  SUBCASE("a length changed, the checksum not") {
    // The first document's length, one more: it still decodes, and only the checksum tells.
    {
      Connection db(path, false);
      std::string counts;
      {
        auto row = db.prepare("SELECT counts FROM token_counts");
        REQUIRE(row.step());
        counts = std::string(row.blob(0));
      }
      // format 1, 40 documents, label step 1, then the length (under 128: one byte)
      REQUIRE(counts.substr(0, 3) == std::string("\x01\x28\x01", 3));
      REQUIRE(static_cast<unsigned char>(counts[3]) < 0x7f);
      ++counts[3];
      db.prepare("UPDATE token_counts SET counts = ?1")
          .bind_blob(1, counts.data(), counts.size())
          .run();
    }
    CHECK(sources.open_and_close(path) == "counted");
  }
  SUBCASE("a label beyond any the base gave") {
    damage("UPDATE token_counts SET counts = " + blob("0101ffffffff0f05"));
    CHECK(sources.open_and_close(path) == "counted");
  }
  SUBCASE("a damaged sequence of labels") {
    damage("UPDATE sqlite_sequence SET seq = -5 WHERE name = 'documents'");
    damage("UPDATE token_counts SET counts = " + blob("0101ffffffff0f05"));
    CHECK(sources.open_and_close(path) == "counted");
  }
  SUBCASE("saved alone, they leave the tombstones to the index file") {
    // Lengths saved by a base whose index did not change: the tombstones an older index file
    // would need to catch up stay, and so does pruned_through.
    damage("DROP TABLE token_counts");
    damage(
        "INSERT INTO tombstones(label, generation) SELECT 9999, CAST(value AS INTEGER) "
        "FROM kb_meta WHERE key = 'generation'");
    CHECK(sources.open_and_close(path) == "counted");
    Connection db(path, true);
    auto kept = db.prepare("SELECT count(*) FROM tombstones WHERE label = 9999");
    REQUIRE(kept.step());
    CHECK(kept.int64(0) == 1);
  }
  SUBCASE("missing, as in a base last written by an older keel") {
    damage("DROP TABLE token_counts");
    CHECK(sources.open_and_close(path) == "counted");
    CHECK(sources.open_and_close(path) == "saved");
  }
  // Whatever the loader found, keyword scores are FTS5's.
  auto kb = KnowledgeBase::open(path, small_options());
  SearchQuery query;
  query.text = "river stone";
  query.use_vector = false;
  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  auto result = kb.search(query);
  REQUIRE(!result.hits.empty());
  for (const auto& hit : result.hits) {
    auto expected = db.prepare(
        "SELECT bm25(documents_fts) FROM documents_fts JOIN documents d "
        "ON d.label = documents_fts.rowid WHERE documents_fts MATCH 'river OR stone' AND d.id = "
        "?1");
    REQUIRE(expected.bind_text(1, hit.id).step());
    CHECK(hit.keyword->score == doctest::Approx(-expected.real(0)).epsilon(1e-12));
  }
}
