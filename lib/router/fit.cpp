// Router::fit and Router::evaluate: learning from labelled examples and measuring.
#include <algorithm>
#include <chrono>
#include <map>

#include "router/router_impl.hpp"

namespace keel {

using router::Learnt;
using router::RouteData;
using router::SemanticScores;
using router::State;

namespace {

// How an example fared in the semantic tier of one candidate configuration.
struct Scored {
  std::ptrdiff_t best = -1;  // route position
  std::vector<double> features;
  double confidence = 0;
};

// Weights of the objective per example: (1 - w) shared by the in-scope examples, w by the
// out-of-scope ones, so a few hundred out-of-scope examples are not drowned by thousands of
// in-scope ones. Without out-of-scope examples it is plain accuracy.
struct Objective {
  double in_weight = 0, out_weight = 0;
  Objective(std::size_t in_scope, std::size_t out_of_scope, double w) {
    if (in_scope && out_of_scope) {
      in_weight = (1.0 - w) / static_cast<double>(in_scope);
      out_weight = w / static_cast<double>(out_of_scope);
    } else {
      in_weight = out_weight = 1.0 / static_cast<double>(in_scope + out_of_scope);
    }
  }
};

// One item of a threshold sweep: its confidence and what accepting it changes.
struct SweepItem {
  double confidence;
  double gain;  // + in_weight (right route), - out_weight (out of scope), 0 (wrong route)
};

// The threshold that maximises the objective over `items`, relative to rejecting them all;
// returns {threshold, gain}. Among equally good thresholds, the middle one.
std::pair<double, double> best_threshold(std::vector<SweepItem> items) {
  if (items.empty()) return {1.0, 0.0};
  std::sort(items.begin(), items.end(),
            [](const SweepItem& a, const SweepItem& b) { return a.confidence > b.confidence; });
  // Accepting the first i items (confidence >= threshold), for every i where the confidence
  // changes.
  std::vector<std::pair<std::size_t, double>> cut;  // (i, gain)
  double sum = 0;
  cut.emplace_back(0, 0.0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    sum += items[i].gain;
    if (i + 1 == items.size() || items[i + 1].confidence < items[i].confidence) cut.emplace_back(i + 1, sum);
  }
  double top = -1e300;
  for (const auto& c : cut) top = std::max(top, c.second);
  std::vector<std::size_t> best;
  for (std::size_t j = 0; j < cut.size(); ++j) {
    if (cut[j].second >= top - 1e-12) best.push_back(j);
  }
  const std::size_t i = cut[best[best.size() / 2]].first;
  double threshold;
  if (i == 0) threshold = std::min(1.0, items.front().confidence + 1e-6);
  else if (i == items.size()) threshold = items.back().confidence * 0.999;
  else threshold = 0.5 * (items[i - 1].confidence + items[i].confidence);
  return {std::clamp(threshold, 0.0, 1.0), top};
}

}  // namespace

FitReport Router::fit(const std::vector<RouteExample>& examples, const FitOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (examples.empty()) throw Error(Errc::invalid_argument, "fit: no examples");
  std::lock_guard lock(impl_->writer);
  auto state = impl_->snapshot();
  const std::size_t R = state->routes.size();
  std::size_t in_scope = 0, out_of_scope = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    if (!examples[i].route) {
      ++out_of_scope;
      continue;
    }
    ++in_scope;
    if (!state->by_name.count(*examples[i].route))
      throw Error(Errc::invalid_argument, "fit: examples[" + std::to_string(i) + "] names no route: \"" +
                                              *examples[i].route + "\"");
  }
  const Objective objective(in_scope, out_of_scope, options.out_of_scope_weight);

  // Candidate 1: similarity scoring. Candidate 2: a softmax layer over the embeddings, trained
  // on the utterances (the examples are kept for calibration and thresholds, so they stay
  // unseen by the layer).
  Learnt similarity_learnt = state->learnt;
  similarity_learnt.layer.reset();
  similarity_learnt.layer_routes.clear();
  std::vector<std::pair<Learnt, std::shared_ptr<const State>>> candidates;
  candidates.emplace_back(similarity_learnt, impl_->assemble(state->settings, state->routes, similarity_learnt, state->index));

  std::vector<std::size_t> columns;  // route positions with utterances
  for (std::size_t r = 0; r < R; ++r) {
    if (!state->routes[r]->vectors.empty()) columns.push_back(r);
  }
  if (options.layer != "never" && columns.size() >= 2) {
    std::vector<const router::SparseVector*> samples;
    std::vector<std::uint32_t> labels;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      for (const auto& v : state->routes[columns[c]]->vectors) {
        samples.push_back(&v);
        labels.push_back(static_cast<std::uint32_t>(c));
      }
    }
    router::LayerTraining training;
    training.epochs = options.epochs;
    training.l2 = options.l2;
    training.seed = options.seed;
    Learnt layered = similarity_learnt;
    layered.layer = std::make_shared<router::SoftmaxLayer>(
        router::train_softmax(samples, labels, columns.size(), state->dimension, training));
    for (std::size_t r : columns) layered.layer_routes.push_back(state->routes[r]->spec.name);
    candidates.emplace_back(layered, impl_->assemble(state->settings, state->routes, layered, state->index));
  }

  // Examples the condition tier decides do not depend on the semantic thresholds.
  std::vector<std::ptrdiff_t> decided_by_condition(examples.size(), -1);
  {
    std::vector<router::ConditionHit> hits;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      state->conditions->evaluate(examples[i].text, examples[i].metadata, hits);
      if (!hits.empty() && hits[0].confidence >= state->settings.exit_threshold)
        decided_by_condition[i] = static_cast<std::ptrdiff_t>(hits[0].route);
    }
  }

  struct Outcome {
    Learnt learnt;
    std::shared_ptr<const State> state;
    std::vector<double> thresholds;  // per route position
    double threshold = 0;
    double objective = -1;
    double in_scope_accuracy = 0, out_of_scope_recall = 0;
    std::size_t routes_tuned = 0;
  };
  std::vector<Outcome> outcomes;
  SemanticScores scores;
  for (auto& [learnt, candidate] : candidates) {
    Outcome outcome{learnt, candidate, {}, 0, -1, 0, 0, 0};
    std::vector<Scored> scored(examples.size());
    std::vector<std::vector<double>> features;
    std::vector<int> correct;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      if (decided_by_condition[i] >= 0) continue;
      impl_->score(*candidate, examples[i].text, scores);
      scored[i].best = scores.best;
      if (scores.best < 0) continue;
      scored[i].features = scores.features;
      features.push_back(scores.features);
      const auto& expected = examples[i].route;
      correct.push_back(expected && *expected == candidate->routes[static_cast<std::size_t>(scores.best)]->spec.name);
    }
    router::Calibration calibration = router::fit_calibration(features, correct);
    if (outcome.state->layer_column.empty()) outcome.learnt.similarity_calibration = calibration;
    else outcome.learnt.layer_calibration = calibration;

    // Thresholds on the calibrated confidence.
    std::vector<SweepItem> all;
    std::vector<std::vector<SweepItem>> per_route(R);
    for (std::size_t i = 0; i < examples.size(); ++i) {
      if (decided_by_condition[i] >= 0 || scored[i].best < 0) continue;
      scored[i].confidence = calibration(scored[i].features.data(), scored[i].features.size());
      const auto& name = candidate->routes[static_cast<std::size_t>(scored[i].best)]->spec.name;
      double gain = !examples[i].route ? -objective.out_weight
                    : *examples[i].route == name ? objective.in_weight
                                                 : 0.0;
      all.push_back({scored[i].confidence, gain});
      per_route[static_cast<std::size_t>(scored[i].best)].push_back({scored[i].confidence, gain});
    }
    auto [threshold, gain] = best_threshold(all);
    (void)gain;
    outcome.threshold = threshold;
    outcome.thresholds.assign(R, threshold);
    if (options.per_route_thresholds && out_of_scope > 0) {
      // A route keeps its own threshold only when that wins more than one out-of-scope
      // example's worth on its own examples: a few examples per route overfit easily.
      const double margin = std::max(objective.out_weight, objective.in_weight);
      for (std::size_t r = 0; r < R; ++r) {
        if (per_route[r].empty()) continue;
        auto [own, own_gain] = best_threshold(per_route[r]);
        double shared_gain = 0;
        for (const auto& item : per_route[r]) {
          if (item.confidence >= threshold) shared_gain += item.gain;
        }
        own = std::clamp(own, threshold - 0.25, threshold + 0.25);
        double clamped_gain = 0;
        for (const auto& item : per_route[r]) {
          if (item.confidence >= own) clamped_gain += item.gain;
        }
        if (clamped_gain > shared_gain + margin) {
          outcome.thresholds[r] = own;
          ++outcome.routes_tuned;
        }
      }
    }

    // The whole cascade (without the LLM) on the examples, with these thresholds.
    std::size_t in_right = 0, out_right = 0;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      std::optional<std::string> predicted;
      if (decided_by_condition[i] >= 0) {
        predicted = candidate->routes[static_cast<std::size_t>(decided_by_condition[i])]->spec.name;
      } else if (scored[i].best >= 0 &&
                 scored[i].confidence >= outcome.thresholds[static_cast<std::size_t>(scored[i].best)]) {
        predicted = candidate->routes[static_cast<std::size_t>(scored[i].best)]->spec.name;
      }
      if (examples[i].route) in_right += predicted == examples[i].route;
      else out_right += !predicted;
    }
    outcome.in_scope_accuracy = in_scope ? static_cast<double>(in_right) / static_cast<double>(in_scope) : 0;
    outcome.out_of_scope_recall = out_of_scope ? static_cast<double>(out_right) / static_cast<double>(out_of_scope) : 0;
    outcome.objective = objective.in_weight * static_cast<double>(in_right) +
                        objective.out_weight * static_cast<double>(out_right);
    outcome.learnt.threshold = threshold;
    outcomes.push_back(std::move(outcome));
  }

  std::size_t chosen = 0;
  if (outcomes.size() > 1) {
    if (options.layer == "always" || outcomes[1].objective > outcomes[0].objective) chosen = 1;
  }
  Outcome& best = outcomes[chosen];
  // Keep the other mode's calibration too, so the router can fall back to similarity scoring
  // (after add_route) with a fitted calibration.
  if (chosen == 1) best.learnt.similarity_calibration = outcomes[0].learnt.similarity_calibration;

  std::vector<std::shared_ptr<const RouteData>> routes;
  routes.reserve(R);
  for (std::size_t r = 0; r < R; ++r) {
    auto copy = std::make_shared<RouteData>(*state->routes[r]);
    copy->spec.threshold = best.thresholds[r];
    routes.push_back(std::move(copy));
  }
  impl_->publish(impl_->assemble(state->settings, std::move(routes), best.learnt, state->index));

  FitReport report;
  report.layer = chosen == 1;
  report.threshold = best.threshold;
  report.objective = best.objective;
  report.in_scope_accuracy = best.in_scope_accuracy;
  report.out_of_scope_recall = best.out_of_scope_recall;
  report.routes_tuned = best.routes_tuned;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

RouterEvaluation Router::evaluate(const std::vector<RouteExample>& examples, bool use_llm) const {
  RouterEvaluation out;
  out.examples = examples.size();
  std::map<std::string, std::size_t> tiers;
  struct Counts {
    std::size_t predicted = 0, expected = 0, right = 0;
  };
  std::map<std::string, Counts> per_route;
  std::map<std::pair<std::string, std::string>, std::size_t> confused;
  std::size_t right = 0, in_right = 0, out_right = 0, rejected = 0;
  const std::string none = "(out of scope)";
  for (const auto& example : examples) {
    RouteRequest request;
    request.text = example.text;
    request.metadata = example.metadata;
    request.use_llm = use_llm;
    RouteResult result = route(request);
    ++tiers[result.tier];
    std::optional<std::string> predicted = result.tier == "fallback" ? std::nullopt : result.route;
    if (predicted) ++per_route[*predicted].predicted;
    else ++rejected;
    if (example.route) {
      ++out.in_scope;
      ++per_route[*example.route].expected;
    } else {
      ++out.out_of_scope;
    }
    if (predicted == example.route) {
      ++right;
      if (example.route) {
        ++in_right;
        ++per_route[*example.route].right;
      } else {
        ++out_right;
      }
    } else {
      ++confused[{example.route.value_or(none), predicted.value_or(none)}];
    }
  }
  auto ratio = [](std::size_t a, std::size_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  out.accuracy = ratio(right, out.examples);
  out.in_scope_accuracy = ratio(in_right, out.in_scope);
  out.out_of_scope_recall = ratio(out_right, out.out_of_scope);
  out.out_of_scope_precision = ratio(out_right, rejected);
  for (const auto& [tier, count] : tiers) out.tiers[tier] = count;
  for (const auto& [name, counts] : per_route) {
    out.routes[name] = {{"precision", ratio(counts.right, counts.predicted)},
                        {"recall", ratio(counts.right, counts.expected)},
                        {"support", counts.expected}};
  }
  std::vector<std::pair<std::size_t, std::pair<std::string, std::string>>> pairs;
  for (const auto& [key, count] : confused) pairs.emplace_back(count, key);
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < pairs.size() && i < 20; ++i) {
    out.confused.push_back({{"expected", pairs[i].second.first},
                            {"predicted", pairs[i].second.second},
                            {"count", pairs[i].first}});
  }
  return out;
}

}  // namespace keel
