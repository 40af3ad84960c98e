// Router quality and speed.
// - Quality (../shared/data/router): CLINC150 "full" — one route per intent with its train
//   utterances, fit() on val + oos_val, measured on test + oos_test (in-scope accuracy and
//   out-of-scope recall; the targets are 88% and 50%). Banking77 — routes from 90% of
//   train, fit() on the other 10%, accuracy on test.
// - Speed: building the CLINC150 router (IDF, 15,000 embeddings, HNSW index); route() decided
//   by the condition tier (150 routes with keyword, pattern and metadata rules); route()
//   decided by the semantic tier over the 15,000 utterances, embedding included.
// - Baseline in the same run: the same method in pure Python (tests/bench/router_baseline.py).
//   build/bin/bench_router [--no-baseline] [--no-banking] [--fit '{"out_of_scope_weight": 0.5}']
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench.hpp"
#include "datasets.hpp"
#include "keel/router.hpp"

using namespace keel;
using namespace keel::bench;

namespace {

Json routes_of(const Dataset& d, const std::vector<Example>& train) {
  std::vector<Json> utterances(static_cast<std::size_t>(d.classes), Json::array());
  for (const auto& e : train) utterances[static_cast<std::size_t>(e.label)].push_back(e.text);
  Json routes = Json::array();
  for (int c = 0; c < d.classes; ++c) {
    routes.push_back({{"name", d.names[static_cast<std::size_t>(c)]},
                      {"utterances", utterances[static_cast<std::size_t>(c)]}});
  }
  return routes;
}

std::vector<RouteExample> examples_of(const Dataset& d, const std::vector<Example>& set) {
  std::vector<RouteExample> out;
  out.reserve(set.size());
  for (const auto& e : set) {
    RouteExample x;
    x.text = e.text;
    if (e.label >= 0) x.route = d.names[static_cast<std::size_t>(e.label)];
    out.push_back(std::move(x));
  }
  return out;
}

void print_evaluation(const char* what, const RouterEvaluation& e) {
  std::printf("  %-40s in-scope accuracy %5.1f%%   out-of-scope recall %5.1f%%   (%zu + %zu)\n", what,
              100 * e.in_scope_accuracy, 100 * e.out_of_scope_recall, e.in_scope, e.out_of_scope);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The condition-tier speed set: the 150 CLINC150 intents, each with a keyword rule (the
// intent's name as a phrase), every third with an RE2 pattern too, every tenth with a metadata
// rule — a large rule set, so the measured cost is not that of a toy file.
Json condition_routes(const Dataset& d) {
  Json routes = Json::array();
  for (int c = 0; c < d.classes; ++c) {
    std::string name = d.names[static_cast<std::size_t>(c)];
    std::string phrase = name;
    for (char& ch : phrase) {
      if (ch == '_') ch = ' ';
    }
    Json conditions = Json::array({{{"keywords", Json::array({phrase})}, {"confidence", 0.9}}});
    if (c % 3 == 0) conditions.push_back({{"regex", "(?i)\\b" + phrase + "s? (please|now)\\b"}, {"confidence", 0.95}});
    if (c % 10 == 0) conditions.push_back({{"metadata", {{"intent", {{"eq", name}}}}}, {"confidence", 1.0}});
    routes.push_back({{"name", name}, {"description", "the " + phrase + " intent"}, {"conditions", conditions}});
  }
  return {{"routes", routes}};
}

struct PythonFigures {
  double build_s = 0, condition_us = 0, semantic_us = 0;
};

PythonFigures run_baseline() {
  PythonFigures f;
  std::string command = "python3 " KEEL_SOURCE_DIR "/tests/bench/router_baseline.py " + data_dir;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return f;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    std::fputs(line, stdout);
    double value;
    if (std::sscanf(line, "python, build: %lf s", &value) == 1) f.build_s = value;
    if (std::sscanf(line, "python, condition tier: p50 %lf us", &value) == 1) f.condition_us = value;
    if (std::sscanf(line, "python, semantic tier: p50 %lf us", &value) == 1) f.semantic_us = value;
  }
  ::pclose(pipe);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  bool baseline = true, banking = true;
  FitOptions fit_options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-baseline") == 0) baseline = false;
    else if (std::strcmp(argv[i], "--no-banking") == 0) banking = false;
    else if (std::strcmp(argv[i], "--fit") == 0 && i + 1 < argc) fit_options = FitOptions::from_json(parse_json(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_router [--no-baseline] [--no-banking] [--fit FIT-OPTIONS-JSON]\n");
      return 2;
    }
  }

  std::printf("CLINC150 full: one route per intent with its train utterances\n");
  Dataset clinc = load_clinc150();
  Json config = {{"routes", routes_of(clinc, clinc.train)}};
  auto start = Clock::now();
  Router router(config);
  const double build_s = seconds_since(start);
  std::printf("  build (IDF, %zu embeddings, centroids)     %.3f s\n", clinc.train.size(), build_s);

  auto test = examples_of(clinc, clinc.test);
  auto val = examples_of(clinc, clinc.val);
  print_evaluation("before fit (exit_threshold 0.8):", router.evaluate(test));
  start = Clock::now();
  FitReport fit_report = router.fit(val, fit_options);
  std::printf("  fit on val + oos_val: %.1f s, %s\n", seconds_since(start), fit_report.to_json().dump().c_str());
  RouterEvaluation fitted = router.evaluate(test);
  print_evaluation("after fit, on test + oos_test:", fitted);
  std::printf("  target: in-scope >= 88%%, out-of-scope recall >= 50%%: %s\n",
              fitted.in_scope_accuracy >= 0.88 && fitted.out_of_scope_recall >= 0.50 ? "met" : "NOT MET");
  {
    Router similarity(config);
    FitOptions options = fit_options;
    options.layer = "never";
    similarity.fit(val, options);
    print_evaluation("similarity only (fit, layer never):", similarity.evaluate(test));
  }

  if (banking) {
    std::printf("\nBanking77: routes from 90%% of train, fit on the other 10%%\n");
    Dataset bank = load_banking77();
    std::vector<Example> routes_part, fit_part;
    std::mt19937 rng(7);
    for (const auto& e : bank.train) (rng() % 10 == 0 ? fit_part : routes_part).push_back(e);
    Router b(Json{{"routes", routes_of(bank, routes_part)}, {"exit_threshold", 0.0}});
    auto bank_test = examples_of(bank, bank.test);
    std::printf("  similarity, no threshold: accuracy %.1f%%\n", 100 * b.evaluate(bank_test).accuracy);
    FitReport r = b.fit(examples_of(bank, fit_part));
    std::printf("  after fit (layer %s): test accuracy %.1f%%\n", r.layer ? "yes" : "no",
                100 * b.evaluate(bank_test).accuracy);
  }

  std::printf("\nspeed (one thread)\n");
  Router conditions(condition_routes(clinc));
  std::vector<std::string> condition_queries;
  for (std::size_t c = 0; c < clinc.names.size(); ++c) {
    std::string phrase = clinc.names[c];
    for (char& ch : phrase) {
      if (ch == '_') ch = ' ';
    }
    condition_queries.push_back("could you help me with " + phrase + " please");
  }
  std::size_t decided = 0;
  for (const auto& q : condition_queries) decided += conditions.route(q).tier == "condition";
  std::size_t qi = 0;
  RouteRequest request;
  request.use_llm = false;
  auto condition_us = sample(20000, [&] {
    request.text = condition_queries[qi++ % condition_queries.size()];
    auto result = conditions.route(request);
    if (!result.route) std::abort();
  });
  report("route(), condition tier (150 routes)", condition_us);
  std::printf("    decided by the condition tier: %zu of %zu queries; target p50 <= 2 us\n", decided,
              condition_queries.size());

  std::vector<std::string> queries;
  for (const auto& e : clinc.test) {
    if (e.label >= 0) queries.push_back(e.text);
  }
  qi = 0;
  auto semantic_us = sample(5000, [&] {
    request.text = queries[qi++ % queries.size()];
    router.route(request);
  });
  report("route(), semantic tier (15,000 utterances)", semantic_us);
  std::printf("    target p50 <= 100 us; build target <= 2 s (%.3f s)\n", build_s);
  qi = 0;
  auto top_us = sample(2000, [&] { router.top_k(queries[qi++ % queries.size()], 5); });
  report("top_k(5)", top_us);

  if (baseline) {
    std::printf("\nbaseline: the same method in pure Python (tests/bench/router_baseline.py)\n");
    std::fflush(stdout);
    PythonFigures py = run_baseline();
    if (py.condition_us > 0 && py.semantic_us > 0) {
      std::printf("speed-up: condition tier %.0fx, semantic tier %.0fx, build %.1fx\n",
                  py.condition_us / percentile(condition_us, 50), py.semantic_us / percentile(semantic_us, 50),
                  py.build_s / build_s);
    } else {
      std::printf("  (the Python baseline did not report)\n");
    }
  }
  std::printf("peak RSS %ld KiB\n", peak_rss_kib());
  return 0;
}
