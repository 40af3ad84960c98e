// Internal: keel_bm25, the keyword ranking — FTS5's own bm25() (k1 = 1.2, b = 0.75, the same
// idf and average length), made cheap.
//
// bm25() asks FTS5 for each matching document's length, and FTS5 answers with a lookup in its
// docsize table per row: two thirds of a keyword query's time when a query matches thousands
// of documents. The knowledge base keeps every document's length (in tokens, as FTS5 counted
// them) in memory instead — TokenCounts, 4 bytes a document — filled when the base opens
// (from the copy saved with the base when it was last saved, else from the docsize table) and
// updated by the writer after each commit. A length it does not know
// (0) is asked of FTS5 as bm25() would, so a missing entry costs time, never a wrong score.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "knowledge/filter_sql.hpp"
#include "knowledge/sqlite.hpp"

namespace keel::knowledge {

/// Tokens in each document's text, by label. One writer sets, any number of threads read.
class TokenCounts {
 public:
  static constexpr std::size_t block_size = 4096;
  /// Labels from here on are not kept (their lengths are asked of FTS5): a damaged label in
  /// the file cannot make the directory of blocks grow past 8 MB.
  static constexpr std::int64_t max_label = std::int64_t{1} << 31;
  using Block = std::array<std::atomic<std::uint32_t>, block_size>;

  /// What readers hold for one query: lock-free lookups in the blocks present when it was
  /// taken (a block, once made, lives as long as any view of it).
  class View {
   public:
    /// 0 when unknown.
    std::uint32_t get(std::int64_t label) const {
      if (label < 0) return 0;
      auto block = static_cast<std::size_t>(label) / block_size;
      if (!blocks_ || block >= blocks_->size() || !(*blocks_)[block]) return 0;
      return (*(*blocks_)[block])[static_cast<std::size_t>(label) % block_size].load(
          std::memory_order_relaxed);
    }

   private:
    friend class TokenCounts;
    std::shared_ptr<const std::vector<std::shared_ptr<Block>>> blocks_;
  };

  View view() const;
  /// Writer only. 0 forgets the label.
  void set(std::int64_t label, std::uint32_t tokens);
  /// Loads every document's length from FTS5's docsize table, replacing what was known.
  void load(Connection& connection);

  /// Saves every known length in the token_counts table as of `generation`, inside the
  /// caller's transaction: the next open reads one row instead of docsize's row per document
  /// (2.3 ms of a 10,000-document base's cold start).
  void save(Connection& connection, std::uint64_t generation) const;
  /// Replaces what is known with the saved lengths, brought up to date with the documents
  /// written and deleted since (by generation, and by the tombstones kept after
  /// `pruned_through`). Returns the generation they were saved at; nullopt, leaving this as it
  /// was, when none are saved or they cannot be used (damaged, older than the tombstones kept,
  /// newer than the database at `generation`): load() then.
  std::optional<std::uint64_t> load_saved(Connection& connection, std::uint64_t pruned_through,
                                          std::uint64_t generation);
  std::size_t memory_bytes() const;

 private:
  mutable std::mutex mutex_;  // guards the pointer, not the counts
  std::shared_ptr<const std::vector<std::shared_ptr<Block>>> blocks_;
};

/// The token count of the document `label` from FTS5's docsize table (nullopt when it has no
/// row), inside the caller's transaction.
std::optional<std::uint32_t> stored_token_count(Connection& connection, std::int64_t label);

/// What bm25() works out about a query before its first row: the documents' average length,
/// and each phrase's idf and how many documents hold it. keel_bm25_statistics fills one.
struct KeywordStatistics {
  /// The type sqlite3_bind_pointer() passes it under.
  static constexpr const char* pointer_type = "keel_keyword_statistics";

  TokenCounts::View lengths;
  double average_length = 0;
  std::vector<double> idf;              // per phrase, as bm25()
  std::vector<std::int64_t> documents;  // per phrase: how many documents hold it (counted up to
                                        // half of them, where its idf stops changing)
  // The phrases found in some document: one found in none adds nothing to any row's score, and
  // asking FTS5 for its instances in each row costs a call per row (user queries often carry
  // words the corpus does not have).
  std::vector<int> present;
};

/// The documents a keyword search may return: those whose metadata satisfies `sql` (over
/// `d.metadata`, its parameters numbered from ?3; none: every row), a superset of the filter,
/// and then `passes`, the exact test of the metadata's JSON text.
struct DocumentFilter {
  const FilterSql* sql = nullptr;
  std::function<bool(std::string_view metadata)> passes;
};

/// The best `k` documents of a keyword query, gathered by keel_bm25_top as FTS5 finds them: no
/// row leaves the statement and SQLite sorts nothing (a quarter of a query matching thousands
/// of documents went to ORDER BY ... LIMIT's sorter and to returning rows).
class TopDocuments {
 public:
  /// The type sqlite3_bind_pointer() passes it under.
  static constexpr const char* pointer_type = "keel_top_documents";

  explicit TopDocuments(std::size_t k) : k_(k) {}
  /// Scores with `statistics`, worked out earlier in the same transaction for the query whose
  /// phrases are this one's from `first_phrase` on; the phrases before are not scored.
  TopDocuments(std::size_t k, std::shared_ptr<const KeywordStatistics> statistics, int first_phrase)
      : k_(k), statistics_(std::move(statistics)), first_phrase_(first_phrase) {}
  /// A document and its score (larger = better).
  void offer(std::int64_t label, double score);
  /// Whether offer() would keep it now.
  bool would_keep(std::int64_t label, double score) const noexcept;
  /// Documents offered with their metadata (keel_bm25_top's third argument) are kept only when
  /// `passes` says so; it must outlive the statement.
  void set_filter(const std::function<bool(std::string_view)>* passes) noexcept {
    passes_ = passes;
  }
  const std::function<bool(std::string_view)>* filter() const noexcept { return passes_; }
  /// Once k are kept, the score a document must beat to be kept (ties go to the smaller label,
  /// so one scoring below it never is); until then, minus infinity.
  double bar() const noexcept {
    return k_ > 0 && heap_.size() >= k_ ? heap_.front().second
                                        : -std::numeric_limits<double>::infinity();
  }
  /// The documents kept, best first: higher score, then the smaller label.
  std::vector<std::pair<std::int64_t, double>> best_first() const;
  std::size_t size() const noexcept { return heap_.size(); }
  const KeywordStatistics* statistics() const noexcept { return statistics_.get(); }
  int first_phrase() const noexcept { return first_phrase_; }

 private:
  std::size_t k_;
  std::vector<std::pair<std::int64_t, double>> heap_;  // the worst kept on top
  std::shared_ptr<const KeywordStatistics> statistics_;
  int first_phrase_ = 0;
  const std::function<bool(std::string_view)>* passes_ = nullptr;
};

/// Registers on `connection`, with lengths from `counts`:
/// - keel_bm25(documents_fts): bm25()'s score (negated like bm25(): lower is better);
/// - keel_bm25_top(documents_fts, ?[, metadata]): offers each row with its (larger = better)
///   score to the TopDocuments bound as the pointer argument, and returns 0 so that no row is
///   output; with the metadata, a row that would be kept is tested with its filter first;
/// - keel_bm25_statistics(documents_fts, ?): fills the KeywordStatistics bound as the pointer
///   argument (once), and returns 0.
void register_ranking(Connection& connection, std::shared_ptr<const TokenCounts> counts);

/// Prepares the statements below on `connection` (into its cache), so that a first search
/// does not.
void prepare_ranking_statements(Connection& connection);

/// The best `k` documents for the FTS5 MATCH expression `match`, best first, with their (larger
/// = better) keel_bm25 scores: ORDER BY bm25(), rowid LIMIT k, among those `filter` lets
/// through when given. Inside the caller's transaction.
std::vector<std::pair<std::int64_t, double>> best_documents(Connection& connection,
                                                            const std::string& match, std::size_t k,
                                                            const DocumentFilter* filter = nullptr);

/// The same for the documents holding any of `phrases` (FTS5 phrases, such as `"word"` or
/// `"wo" *`): the MATCH expression `phrases[0] OR phrases[1] OR ...`. Inside the caller's
/// transaction, which it requires (Error(internal) otherwise): it runs several statements. Phrases
/// so common that they cannot lift a document into the best k are only counted in documents that
/// hold a rarer one (see ranking.cpp): a question's "how", "do" and "my" no longer make FTS5 visit
/// most of the base; with a `filter`, among the documents it lets through (the phrases' statistics
/// stay the whole base's, as bm25()'s). `plan`, when given, says how it went (for tests and
/// benchmarks).
struct AnyPlan {
  int visits = 0;            // queries that visited documents: 1 when the first plan held
  std::vector<int> skipped;  // the phrases whose other documents the answer did not visit
};
std::vector<std::pair<std::int64_t, double>> best_documents_of_any(
    Connection& connection, const std::vector<std::string>& phrases, std::size_t k,
    AnyPlan* plan = nullptr, const DocumentFilter* filter = nullptr);

}  // namespace keel::knowledge
