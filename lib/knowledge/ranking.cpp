#include "knowledge/ranking.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "keel/error.hpp"
#include "knowledge/schema.hpp"
#include "vector/checksum.hpp"

namespace keel::knowledge {

namespace {

using Blocks = std::vector<std::shared_ptr<TokenCounts::Block>>;

// FTS5's docsize blob: one SQLite varint per column (big-endian groups of 7 bits, the high
// bit set on all but the last; a ninth byte carries 8). nullopt when malformed.
std::optional<std::uint32_t> first_varint(std::string_view blob) {
  auto fits = [](std::uint64_t value) -> std::optional<std::uint32_t> {
    if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return static_cast<std::uint32_t>(value);
  };
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < blob.size(); ++i) {
    auto byte = static_cast<unsigned char>(blob[i]);
    if (i == 8) return fits((value << 8) | byte);
    value = (value << 7) | (byte & 0x7f);
    if (!(byte & 0x80)) return fits(value);
  }
  return std::nullopt;
}

constexpr double k1 = 1.2;  // bm25()'s (b is in row_score)

// Counts the documents holding a phrase, up to half of them: from there on its idf is bm25()'s
// floor, however many more there are, and the rest of a common word's documents need no visit.
struct PhraseCount {
  std::int64_t hits = 0;
  std::int64_t enough = 0;
};

int count_row(const Fts5ExtensionApi*, Fts5Context*, void* data) {
  auto& count = *static_cast<PhraseCount*>(data);
  return ++count.hits >= count.enough ? SQLITE_DONE : SQLITE_OK;  // (DONE ends the walk, no error)
}

// bm25() of fts5_aux.c, step for step, but for where the document's length comes from.
int compute_statistics(const Fts5ExtensionApi* api, Fts5Context* fts, KeywordStatistics& stats) {
  sqlite3_int64 rows = 0, tokens = 0;
  int rc = SQLITE_OK;
  if ((rc = api->xRowCount(fts, &rows)) != SQLITE_OK) return rc;
  if ((rc = api->xColumnTotalSize(fts, -1, &tokens)) != SQLITE_OK) return rc;
  stats.average_length = rows > 0 ? static_cast<double>(tokens) / static_cast<double>(rows) : 1;
  const int phrases = api->xPhraseCount(fts);
  for (int i = 0; i < phrases; ++i) {
    PhraseCount count;
    count.enough = std::max<std::int64_t>(1, (rows + 1) / 2);  // hits >= rows / 2: idf <= 0
    if ((rc = api->xQueryPhrase(fts, i, &count, count_row)) != SQLITE_OK) return rc;
    const auto hits = static_cast<double>(count.hits);
    double idf = std::log((static_cast<double>(rows) - hits + 0.5) / (hits + 0.5));
    stats.idf.push_back(idf <= 0.0 ? 1e-6 : idf);
    stats.documents.push_back(count.hits);
    if (count.hits > 0) stats.present.push_back(i);
  }
  auto* counts = static_cast<const std::shared_ptr<const TokenCounts>*>(api->xUserData(fts));
  stats.lengths = (*counts)->view();
  return SQLITE_OK;
}

// The query's statistics, worked out on its first row and kept as its auxiliary data.
const KeywordStatistics* statistics(const Fts5ExtensionApi* api, Fts5Context* fts, int& rc) {
  if (auto* known = static_cast<KeywordStatistics*>(api->xGetAuxdata(fts, 0))) return known;
  auto stats = std::make_unique<KeywordStatistics>();
  if ((rc = compute_statistics(api, fts, *stats)) != SQLITE_OK) return nullptr;
  auto* raw = stats.release();
  rc = api->xSetAuxdata(fts, raw, [](void* p) { delete static_cast<KeywordStatistics*>(p); });
  return rc == SQLITE_OK ? raw : nullptr;  // (FTS5 deletes it when setting fails)
}

int phrase_frequency(const Fts5ExtensionApi* api, Fts5Context* fts, Fts5PhraseIter& it, int column,
                     int offset) {
  int frequency = 0;
  for (; column >= 0; api->xPhraseNext(fts, &it, &column, &offset))
    ++frequency;
  return frequency;
}

// The row's score (larger = better) from `stats`, whose phrase i is the query's phrase
// `first_phrase + i`; false with `rc` set when FTS5 fails. A row that cannot score above `bar`
// — the phrases it holds could not add up to it however often they were there — is not
// scored: `score` is left at minus infinity and its instances are not counted (most of the rows
// of a query with a common word hold only that word).
bool row_score(const Fts5ExtensionApi* api, Fts5Context* fts, const KeywordStatistics& stats,
               int first_phrase, double bar, double& score, int& rc) {
  constexpr double b = 0.75;
  // The phrases the row holds, each with its instances started (when there is a bar to beat:
  // with one phrase every row holds it, and none's ceiling is below a score kept).
  struct Held {
    int phrase;
    Fts5PhraseIter it;
    int column, offset;
  };
  constexpr std::size_t held_max = 16;
  Held held[held_max];
  std::size_t count = 0;
  const bool pruning = bar > -std::numeric_limits<double>::infinity() && stats.present.size() > 1 &&
                       stats.present.size() <= held_max;
  if (pruning) {
    double ceiling = 0;
    for (int i : stats.present) {
      Held& h = held[count];
      h.phrase = i;
      if ((rc = api->xPhraseFirst(fts, first_phrase + i, &h.it, &h.column, &h.offset)) != SQLITE_OK)
        return false;
      if (h.column < 0) continue;
      // The most the phrase can add, however often it is there.
      ceiling += stats.idf[static_cast<std::size_t>(i)] * (k1 + 1);
      ++count;
    }
    // (A margin for rounding: a score computed from a huge frequency may round past its term's
    // ceiling by an ulp.)
    if (ceiling * (1 + 1e-9) < bar) {
      score = -std::numeric_limits<double>::infinity();
      return true;
    }
  }
  double length = stats.lengths.get(api->xRowid(fts));
  if (length == 0) {  // not known: ask FTS5, as bm25() always does
    int tokens = 0;
    if ((rc = api->xColumnSize(fts, -1, &tokens)) != SQLITE_OK) return false;
    length = tokens;
  }
  const double norm = k1 * (1 - b + b * length / stats.average_length);
  // In the phrases' order, as bm25() adds them (a phrase the row lacks adds 0).
  score = 0;
  auto add = [&](int phrase, int frequency) {
    score +=
        stats.idf[static_cast<std::size_t>(phrase)] * (frequency * (k1 + 1) / (frequency + norm));
  };
  if (pruning) {
    for (std::size_t h = 0; h < count; ++h)
      add(held[h].phrase, phrase_frequency(api, fts, held[h].it, held[h].column, held[h].offset));
    return true;
  }
  for (int i : stats.present) {
    Fts5PhraseIter it;
    int column = 0, offset = 0;
    if ((rc = api->xPhraseFirst(fts, first_phrase + i, &it, &column, &offset)) != SQLITE_OK)
      return false;
    add(i, phrase_frequency(api, fts, it, column, offset));
  }
  return true;
}

void keel_bm25(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result, int,
               sqlite3_value**) {
  int rc = SQLITE_OK;
  double score = 0;
  const KeywordStatistics* stats = statistics(api, fts, rc);
  if (!stats ||
      !row_score(api, fts, *stats, 0, -std::numeric_limits<double>::infinity(), score, rc))
    return sqlite3_result_error_code(result, rc == SQLITE_OK ? SQLITE_ERROR : rc);
  sqlite3_result_double(result, -score);
}

void keel_bm25_top(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result, int argc,
                   sqlite3_value** argv) {
  auto* top =
      argc == 1 || argc == 2
          ? static_cast<TopDocuments*>(sqlite3_value_pointer(argv[0], TopDocuments::pointer_type))
          : nullptr;
  if (!top) return sqlite3_result_error(result, "keel_bm25_top: no TopDocuments given", -1);
  int rc = SQLITE_OK;
  double score = 0;
  const KeywordStatistics* stats = top->statistics() ? top->statistics() : statistics(api, fts, rc);
  // Statistics worked out for another query cannot be used: their phrases must be this one's
  // last (FTS5 would not range-check the phrase numbers).
  if (top->statistics() &&
      api->xPhraseCount(fts) != top->first_phrase() + static_cast<int>(stats->idf.size())) {
    return sqlite3_result_error(result, "keel_bm25_top: statistics of another query", -1);
  }
  if (!stats || !row_score(api, fts, *stats, top->first_phrase(), top->bar(), score, rc))
    return sqlite3_result_error_code(result, rc == SQLITE_OK ? SQLITE_ERROR : rc);
  const std::int64_t label = api->xRowid(fts);
  // With a filter, only a row that would be kept has its metadata tested (parsing JSON costs
  // more than scoring): about k of them, not every row the SQL condition lets through.
  if (argc == 2 && top->filter() && top->would_keep(label, score)) {
    const auto* text = sqlite3_value_text(argv[1]);
    const std::string_view metadata(
        text ? reinterpret_cast<const char*>(text) : "",
        text ? static_cast<std::size_t>(sqlite3_value_bytes(argv[1])) : 0);
    bool passes = false;
    try {
      passes = (*top->filter())(metadata);
    } catch (...) {  // (no exception crosses SQLite; only memory can run out here)
      return sqlite3_result_error_nomem(result);
    }
    if (!passes) return sqlite3_result_int(result, 0);
  }
  top->offer(label, score);
  sqlite3_result_int(result, 0);
}

void keel_bm25_statistics(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result,
                          int argc, sqlite3_value** argv) {
  auto* stats = argc == 1 ? static_cast<KeywordStatistics*>(
                                sqlite3_value_pointer(argv[0], KeywordStatistics::pointer_type))
                          : nullptr;
  if (!stats)
    return sqlite3_result_error(result, "keel_bm25_statistics: no KeywordStatistics given", -1);
  if (stats->idf.empty()) {
    if (int rc = compute_statistics(api, fts, *stats); rc != SQLITE_OK)
      return sqlite3_result_error_code(result, rc);
  }
  sqlite3_result_int(result, 0);
}

bool better(const std::pair<std::int64_t, double>& a, const std::pair<std::int64_t, double>& b) {
  return a.second != b.second ? a.second > b.second : a.first < b.first;
}

}  // namespace

void TopDocuments::offer(std::int64_t label, double score) {
  if (k_ == 0) return;
  const std::pair<std::int64_t, double> entry{label, score};
  if (heap_.size() < k_) {
    heap_.push_back(entry);
    std::push_heap(heap_.begin(), heap_.end(), better);
  } else if (better(entry, heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), better);
    heap_.back() = entry;
    std::push_heap(heap_.begin(), heap_.end(), better);
  }
}

bool TopDocuments::would_keep(std::int64_t label, double score) const noexcept {
  return k_ > 0 && (heap_.size() < k_ || better({label, score}, heap_.front()));
}

std::vector<std::pair<std::int64_t, double>> TopDocuments::best_first() const {
  auto out = heap_;
  std::sort(out.begin(), out.end(), better);
  return out;
}

TokenCounts::View TokenCounts::view() const {
  View view;
  std::lock_guard lock(mutex_);
  view.blocks_ = blocks_;
  return view;
}

void TokenCounts::set(std::int64_t label, std::uint32_t tokens) {
  if (label < 0 || label >= max_label) return;
  const auto block = static_cast<std::size_t>(label) / block_size;
  std::shared_ptr<const Blocks> current;
  {
    std::lock_guard lock(mutex_);
    current = blocks_;
  }
  if (!current || block >= current->size() || !(*current)[block]) {
    if (tokens == 0) return;  // forgetting what was never known
    auto grown = current ? std::make_shared<Blocks>(*current) : std::make_shared<Blocks>();
    if (grown->size() <= block) grown->resize(block + 1);
    (*grown)[block] = std::make_shared<Block>();
    std::lock_guard lock(mutex_);
    blocks_ = grown;
    current = std::move(grown);
  }
  (*(*current)[block])[static_cast<std::size_t>(label) % block_size].store(
      tokens, std::memory_order_relaxed);
}

namespace {

void put_length(Blocks& blocks, std::int64_t label, std::uint32_t tokens) {
  if (label < 0 || label >= TokenCounts::max_label) return;
  const auto block = static_cast<std::size_t>(label) / TokenCounts::block_size;
  if (tokens == 0 && (block >= blocks.size() || !blocks[block])) return;  // never known
  if (blocks.size() <= block) blocks.resize(block + 1);
  if (!blocks[block]) blocks[block] = std::make_shared<TokenCounts::Block>();
  (*blocks[block])[static_cast<std::size_t>(label) % TokenCounts::block_size].store(
      tokens, std::memory_order_relaxed);
}

// The saved lengths: a format number, how many, then (label - previous label, tokens) for each,
// all as LEB128 varints, labels ascending; then a checksum of all that (8 bytes, little-endian):
// a damaged byte that still decodes would otherwise be a wrong length kept until the document
// is written again.
constexpr std::uint64_t saved_format = 1;

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

bool get_varint(std::string_view& in, std::uint64_t& value) {
  value = 0;
  for (unsigned shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

}  // namespace

void TokenCounts::load(Connection& connection) {
  auto blocks = std::make_shared<Blocks>();
  auto rows = connection.prepare("SELECT id, sz FROM documents_fts_docsize");
  while (rows.step()) {
    const std::int64_t label = rows.int64(0);
    auto tokens = first_varint(rows.blob(1));
    if (!tokens) continue;  // left to FTS5 to answer
    put_length(*blocks, label, *tokens);
  }
  std::lock_guard lock(mutex_);
  blocks_ = std::move(blocks);
}

void TokenCounts::save(Connection& connection, std::uint64_t generation) const {
  const auto current = view();
  std::string body;
  std::uint64_t count = 0;
  std::int64_t previous = 0;
  if (current.blocks_) {
    for (std::size_t b = 0; b < current.blocks_->size(); ++b) {
      if (!(*current.blocks_)[b]) continue;
      for (std::size_t i = 0; i < block_size; ++i) {
        const std::uint32_t tokens = (*(*current.blocks_)[b])[i].load(std::memory_order_relaxed);
        if (tokens == 0) continue;
        const auto label = static_cast<std::int64_t>(b * block_size + i);
        put_varint(body, static_cast<std::uint64_t>(label - previous));
        put_varint(body, tokens);
        previous = label;
        ++count;
      }
    }
  }
  std::string saved;
  put_varint(saved, saved_format);
  put_varint(saved, count);
  saved += body;
  const std::uint64_t sum = vector::checksum(saved.data(), saved.size());
  for (int byte = 0; byte < 8; ++byte)
    saved.push_back(static_cast<char>((sum >> (8 * byte)) & 0xff));
  connection.exec(token_counts_table_sql);
  auto put = connection.prepare(
      "INSERT OR REPLACE INTO token_counts(id, generation, counts) VALUES (1, ?1, ?2)");
  put.bind(1, static_cast<std::int64_t>(generation)).bind_blob(2, saved.data(), saved.size()).run();
}

std::optional<std::uint64_t> TokenCounts::load_saved(Connection& connection,
                                                     std::uint64_t pruned_through,
                                                     std::uint64_t generation) {
  {
    auto table = connection.prepare(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'token_counts'");
    if (!table.step()) return std::nullopt;  // (a base last written before they were saved)
  }
  auto row = connection.prepare("SELECT generation, counts FROM token_counts WHERE id = 1");
  if (!row.step()) return std::nullopt;
  const auto saved_at = row.int64(0);
  // Deletions older than the tombstones kept cannot be caught up.
  if (saved_at < 0 || static_cast<std::uint64_t>(saved_at) < pruned_through ||
      static_cast<std::uint64_t>(saved_at) > generation) {
    return std::nullopt;
  }
  // No label above the largest ever given (AUTOINCREMENT keeps it).
  std::int64_t largest = 0;
  {
    auto sequence = connection.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'documents'");
    if (sequence.step()) largest = std::clamp<std::int64_t>(sequence.int64(0), 0, max_label);
  }
  std::string_view in = row.blob(1);
  if (in.size() < 8) return std::nullopt;
  std::uint64_t stored_sum = 0;
  for (int byte = 0; byte < 8; ++byte)
    stored_sum |= std::uint64_t{static_cast<unsigned char>(in[in.size() - 8 + byte])} << (8 * byte);
  in.remove_suffix(8);
  if (vector::checksum(in.data(), in.size()) != stored_sum) return std::nullopt;
  std::uint64_t format = 0, count = 0;
  if (!get_varint(in, format) || format != saved_format || !get_varint(in, count) ||
      count > in.size() / 2) {
    return std::nullopt;
  }
  auto blocks = std::make_shared<Blocks>();
  std::int64_t label = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t step = 0, tokens = 0;
    if (!get_varint(in, step) || !get_varint(in, tokens) || step == 0 ||
        step > static_cast<std::uint64_t>(largest - label) || tokens == 0 ||
        tokens > std::numeric_limits<std::uint32_t>::max()) {
      return std::nullopt;
    }
    label += static_cast<std::int64_t>(step);
    put_length(*blocks, label, static_cast<std::uint32_t>(tokens));
  }
  if (!in.empty()) return std::nullopt;
  // Caught up: documents deleted since (their labels are never given again), then those
  // written since, whose lengths FTS5 has.
  auto deleted = connection.prepare("SELECT label FROM tombstones WHERE generation > ?1");
  deleted.bind(1, saved_at);
  while (deleted.step())
    put_length(*blocks, deleted.int64(0), 0);
  auto written = connection.prepare(
      "SELECT d.label, s.sz FROM documents d LEFT JOIN documents_fts_docsize s ON s.id = d.label "
      "WHERE d.generation > ?1");
  written.bind(1, saved_at);
  while (written.step())
    put_length(*blocks, written.int64(0), first_varint(written.blob(1)).value_or(0));
  std::lock_guard lock(mutex_);
  blocks_ = std::move(blocks);
  return static_cast<std::uint64_t>(saved_at);
}

std::size_t TokenCounts::memory_bytes() const {
  std::lock_guard lock(mutex_);
  if (!blocks_) return 0;
  std::size_t bytes = blocks_->capacity() * sizeof(Blocks::value_type);
  for (const auto& block : *blocks_)
    bytes += block ? sizeof(Block) : 0;
  return bytes;
}

std::optional<std::uint32_t> stored_token_count(Connection& connection, std::int64_t label) {
  auto row = connection.prepare("SELECT sz FROM documents_fts_docsize WHERE id = ?1");
  if (!row.bind(1, label).step()) return std::nullopt;
  return first_varint(row.blob(0));
}

void register_ranking(Connection& connection, std::shared_ptr<const TokenCounts> counts) {
  fts5_api* api = connection.fts5();
  if (!api) throw Error(Errc::internal, "knowledge base: SQLite has no FTS5");
  auto* user_data = new std::shared_ptr<const TokenCounts>(std::move(counts));
  int rc = api->xCreateFunction(api, "keel_bm25", user_data, keel_bm25, [](void* p) {
    delete static_cast<std::shared_ptr<const TokenCounts>*>(p);
  });
  if (rc != SQLITE_OK) {
    delete user_data;
    connection.fail(rc, "registering keel_bm25");
  }
  // The same lengths (FTS5 owns user_data now and frees it with the connection, after both).
  rc = api->xCreateFunction(api, "keel_bm25_top", user_data, keel_bm25_top, nullptr);
  if (rc != SQLITE_OK) connection.fail(rc, "registering keel_bm25_top");
  rc = api->xCreateFunction(api, "keel_bm25_statistics", user_data, keel_bm25_statistics, nullptr);
  if (rc != SQLITE_OK) connection.fail(rc, "registering keel_bm25_statistics");
}

// ---- the best documents of a query -------------------------------------------------------------
//
// A query of alternatives ("how" OR "do" OR "i" OR "reset" OR "my" OR "password") makes FTS5
// visit every document holding any of them — with common words, most of the base — though
// those holding only "how", "do" or "my" cannot score among the best: a phrase adds at most
// idf * (k1 + 1) to a document's score, however often it is there (its ceiling). So, as
// MaxScore does in search engines:
//   1. The statistics of the whole query are worked out once (each phrase's documents counted,
//      as bm25() does on its first row).
//   2. The phrases are split: the common ones, whose ceilings add up to less than the score
//      the k-th best document is expected to have, and the rest. Only the documents holding
//      one of the rest are visited — `(rest) AND (whole query)`, so that FTS5 still reports
//      the common phrases' instances in them — and scored as the whole query would score them.
//   3. The result is the whole query's when k documents were found and the k-th scores above
//      the common phrases' ceilings together: a document holding only common phrases scores
//      below that, so it could not have been among them. Otherwise the k-th score found is a
//      floor for the true k-th score, and the split is made again with it: it then holds.
// The scores and order are those of the whole query, bit for bit.

namespace {

constexpr const char* best_documents_sql =
    "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?1 "
    "AND keel_bm25_top(documents_fts, ?2)";
constexpr const char* statistics_sql =
    "SELECT keel_bm25_statistics(documents_fts, ?2) FROM documents_fts "
    "WHERE documents_fts MATCH ?1 LIMIT 1";

std::string any_of(const std::vector<std::string>& phrases, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += " OR ";
    out += phrases[i];
  }
  return out;
}

void gather(Connection& connection, const std::string& match, TopDocuments& top,
            const DocumentFilter* filter) {
  if (!filter) {
    connection.prepare(best_documents_sql)
        .bind_text(1, match)
        .bind_pointer(2, &top, TopDocuments::pointer_type)
        .run();
    return;
  }
  // The SQL condition (a superset) lets SQLite reject rows without parsing their JSON; the exact
  // test is keel_bm25_top's, so the answer does not depend on the order SQLite evaluates them in.
  top.set_filter(&filter->passes);
  Connection::OneShot query(
      connection,
      "SELECT count(*) FROM documents_fts JOIN documents d ON d.label = documents_fts.rowid "
      "WHERE documents_fts MATCH ?1 AND (" +
          (filter->sql ? filter->sql->condition : std::string("1")) +
          ") AND keel_bm25_top(documents_fts, ?2, d.metadata)");
  auto& statement = query.statement();
  statement.bind_text(1, match).bind_pointer(2, &top, TopDocuments::pointer_type);
  if (filter->sql) filter->sql->bind(statement, 3);
  statement.run();
}

// The most a document holding only the phrases `common` can score (with a margin for rounding:
// a score computed from a huge frequency may round past its phrase's ceiling by an ulp).
double ceiling_of(const KeywordStatistics& stats, const std::vector<int>& common) {
  double sum = 0;
  for (int i : common)
    sum += stats.idf[static_cast<std::size_t>(i)] * (k1 + 1);
  return sum * (1 + 1e-9);
}

// The phrases that may be left out of the visit when the k-th best document scores `expected`:
// the most common ones (by ceiling) whose ceilings add up to less than it, all but one at most.
std::vector<int> common_phrases(const KeywordStatistics& stats, const std::vector<int>& by_ceiling,
                                double expected) {
  std::vector<int> common;
  for (std::size_t i = 0; i + 1 < by_ceiling.size(); ++i) {
    common.push_back(by_ceiling[i]);
    if (!(ceiling_of(stats, common) < expected)) {
      common.pop_back();
      break;
    }
  }
  return common;
}

}  // namespace

void prepare_ranking_statements(Connection& connection) {
  (void)connection.prepare(best_documents_sql);
  (void)connection.prepare(statistics_sql);
}

std::vector<std::pair<std::int64_t, double>> best_documents(Connection& connection,
                                                            const std::string& match, std::size_t k,
                                                            const DocumentFilter* filter) {
  TopDocuments top(k);
  gather(connection, match, top, filter);
  return top.best_first();
}

std::vector<std::pair<std::int64_t, double>> best_documents_of_any(
    Connection& connection, const std::vector<std::string>& phrases, std::size_t k, AnyPlan* plan,
    const DocumentFilter* filter) {
  // The statistics are worked out by one statement and used by the next: one snapshot.
  if (sqlite3_get_autocommit(connection.handle())) {
    throw Error(Errc::internal, "best_documents_of_any: not inside a read transaction");
  }
  AnyPlan unused;
  if (!plan) plan = &unused;
  *plan = {};
  const std::string whole = any_of(phrases, 0, phrases.size());
  plan->visits = 1;
  if (phrases.size() < 2 || k == 0) return best_documents(connection, whole, k, filter);
  auto stats = std::make_shared<KeywordStatistics>();
  if (!connection.prepare(statistics_sql)
           .bind_text(1, whole)
           .bind_pointer(2, stats.get(), KeywordStatistics::pointer_type)
           .step()) {
    plan->visits = 0;
    return {};  // no document holds any
  }
  if (stats->idf.size() != phrases.size()) return best_documents(connection, whole, k, filter);

  // The present phrases, the most common (lowest ceiling) first.
  std::vector<int> by_ceiling = stats->present;
  std::stable_sort(by_ceiling.begin(), by_ceiling.end(), [&](int a, int b) {
    return stats->idf[static_cast<std::size_t>(a)] < stats->idf[static_cast<std::size_t>(b)];
  });
  // The k-th best document is expected to hold, once, the phrase by which the rarest ones are
  // held by k documents: it then scores about that phrase's idf (at an average length).
  double expected = -std::numeric_limits<double>::infinity();
  std::int64_t holding = 0;
  for (auto it = by_ceiling.rbegin(); it != by_ceiling.rend(); ++it) {
    holding += stats->documents[static_cast<std::size_t>(*it)];
    if (holding >= static_cast<std::int64_t>(k)) {
      expected = stats->idf[static_cast<std::size_t>(*it)];
      break;
    }
  }
  auto common = common_phrases(*stats, by_ceiling, expected);
  plan->visits = 0;
  for (int attempt = 0; attempt < 2 && !common.empty(); ++attempt) {
    ++plan->visits;
    std::vector<std::string> rest;
    for (int i : stats->present) {
      if (std::find(common.begin(), common.end(), i) == common.end())
        rest.push_back(phrases[static_cast<std::size_t>(i)]);
    }
    // The whole query's phrases follow the rest's in the expression: they are the ones scored.
    TopDocuments top(k, stats, static_cast<int>(rest.size()));
    gather(connection, "(" + any_of(rest, 0, rest.size()) + ") AND (" + whole + ")", top, filter);
    const double floor = top.size() >= k ? top.bar() : -std::numeric_limits<double>::infinity();
    if (floor > ceiling_of(*stats, common)) {
      plan->skipped = std::move(common);
      return top.best_first();
    }
    common = common_phrases(*stats, by_ceiling, floor);
  }
  ++plan->visits;
  TopDocuments top(k, stats, 0);
  gather(connection, whole, top, filter);
  return top.best_first();
}

}  // namespace keel::knowledge
