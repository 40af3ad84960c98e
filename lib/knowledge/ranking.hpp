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
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

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

/// The best `k` documents of a keyword query, gathered by keel_bm25_top as FTS5 finds them: no
/// row leaves the statement and SQLite sorts nothing (a quarter of a query matching thousands
/// of documents went to ORDER BY ... LIMIT's sorter and to returning rows).
class TopDocuments {
 public:
  /// The type sqlite3_bind_pointer() passes it under.
  static constexpr const char* pointer_type = "keel_top_documents";

  explicit TopDocuments(std::size_t k) : k_(k) {}
  /// A document and its score (larger = better).
  void offer(std::int64_t label, double score);
  /// Once k are kept, the score a document must beat to be kept (ties go to the smaller label,
  /// so one scoring below it never is); until then, minus infinity.
  double bar() const noexcept {
    return k_ > 0 && heap_.size() >= k_ ? heap_.front().second
                                        : -std::numeric_limits<double>::infinity();
  }
  /// The documents kept, best first: higher score, then the smaller label.
  std::vector<std::pair<std::int64_t, double>> best_first() const;

 private:
  std::size_t k_;
  std::vector<std::pair<std::int64_t, double>> heap_;  // the worst kept on top
};

/// Registers on `connection`, with lengths from `counts`:
/// - keel_bm25(documents_fts): bm25()'s score (negated like bm25(): lower is better);
/// - keel_bm25_top(documents_fts, ?): offers each row with its (larger = better) score to the
///   TopDocuments bound as the pointer argument, and returns 0 so that no row is output.
void register_ranking(Connection& connection, std::shared_ptr<const TokenCounts> counts);

}  // namespace keel::knowledge
