#include "knowledge/fusion.hpp"

#include <algorithm>
#include <unordered_map>

namespace keel::knowledge {

std::vector<FusedCandidate> fuse(const std::array<RankedList, signal_count>& lists,
                                 FusionMethod method, double rrf_k) {
  std::vector<FusedCandidate> out;
  std::unordered_map<std::int64_t, std::size_t> position;
  for (std::size_t s = 0; s < signal_count; ++s) {
    const auto& list = lists[s];
    if (list.candidates.empty() || list.weight <= 0) continue;
    double lowest = list.candidates.front().score, highest = lowest;
    for (const auto& c : list.candidates) {
      lowest = std::min(lowest, c.score);
      highest = std::max(highest, c.score);
    }
    for (std::size_t r = 0; r < list.candidates.size(); ++r) {
      const auto& c = list.candidates[r];
      auto [it, added] = position.emplace(c.label, out.size());
      if (added) out.push_back(FusedCandidate{c.label, 0, {}});
      auto& fused = out[it->second];
      if (fused.signals[s]) continue;  // a list names a document once; keep its best rank
      fused.signals[s] = SignalScore{r + 1, c.score, c.hops};
      if (method == FusionMethod::rrf) {
        fused.score += list.weight / (rrf_k + static_cast<double>(r + 1));
      } else {
        double scaled = highest > lowest ? (c.score - lowest) / (highest - lowest) : 1.0;
        fused.score += list.weight * scaled;
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const FusedCandidate& a, const FusedCandidate& b) {
    return a.score != b.score ? a.score > b.score : a.label < b.label;
  });
  return out;
}

}  // namespace keel::knowledge
