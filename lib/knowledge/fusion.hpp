// Internal: fusing the ranked lists of the search signals (keyword, vector, graph) into one.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "keel/knowledge.hpp"

namespace keel::knowledge {

enum Signal : std::size_t { keyword_signal = 0, vector_signal = 1, graph_signal = 2 };
inline constexpr std::size_t signal_count = 3;

/// One candidate of one signal: a document label and its raw score (larger is better).
struct Candidate {
  std::int64_t label = 0;
  double score = 0;
  std::size_t hops = 0;  // graph only
};

/// A signal's candidates, best first, and its weight in the fusion.
struct RankedList {
  std::vector<Candidate> candidates;
  double weight = 1.0;
};

struct FusedCandidate {
  std::int64_t label = 0;
  double score = 0;
  std::array<std::optional<SignalScore>, signal_count> signals;
};

/// Reciprocal Rank Fusion: score = sum of weight / (rrf_k + rank) over the signals that found
/// the document (rank from 1). Weighted: score = sum of weight * the signal's score scaled to
/// [0, 1] by the minimum and maximum of its list (1 when the list has one score). Best first;
/// ties broken by label so results are deterministic.
std::vector<FusedCandidate> fuse(const std::array<RankedList, signal_count>& lists,
                                 FusionMethod method, double rrf_k);

}  // namespace keel::knowledge
