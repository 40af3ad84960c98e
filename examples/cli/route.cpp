// `keel route`: the router from the command line.
//   keel route --routes FILE [TEXT] [--jsonl] [--model FILE] [--no-llm]
//   keel route fit --routes FILE --examples FILE --out FILE [--layer auto|always|never]
//                  [--save-vectors FILE]
//   keel route eval --routes FILE --examples FILE [--model FILE] [--llm]
// FILE for --routes is a routes JSON file or a file `Router::save` wrote (told apart by its
// magic bytes). Routing prints RouteResult JSON; with --jsonl each stdin line is a request and a
// bad line gets {"error": ...} on its line (outputs stay aligned with inputs), a message on
// stderr, and exit status 2 at the end — as `keel scan --jsonl` does.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli.hpp"
#include "keel/llm.hpp"
#include "keel/router.hpp"

namespace keel::cli {

namespace {

struct RouteOptions {
  std::string routes_path;
  std::string model_path;
  std::string text;
  std::string metadata;  // JSON object text; empty: none
  bool jsonl = false;
  bool no_llm = false;
};

struct FitCommandOptions {
  std::string routes_path;
  std::string examples_path;
  std::string out_path;
  std::string layer = "auto";
  std::string vectors_path;
};

struct EvalOptions {
  std::string routes_path;
  std::string examples_path;
  std::string model_path;
  bool llm = false;
};

// A routes JSON file or a saved router; the model file, when given, is the LLM tier.
Router load_router(const std::string& routes_path, const std::string& model_path) {
  RouterOptions options;
  if (!model_path.empty())
    options.model = make_chat_model(read_json_file(model_path, "model file"));
  if (Router::is_saved_router(routes_path)) return Router::load(routes_path, std::move(options));
  return Router(RouterConfig::from_json(read_json_file(routes_path, "routes file")),
                std::move(options));
}

// Input lines are requests, not configuration: report their shape errors as invalid_argument.
[[noreturn]] void rethrow_for_line(const Error& e, const std::string& where) {
  Errc code = e.code() == Errc::invalid_config ? Errc::invalid_argument : e.code();
  throw Error(code, where + ": " + e.what());
}

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t") == std::string::npos;
}

RouteRequest request_from_line(const std::string& line, std::size_t number) {
  const std::string where = "line " + std::to_string(number);
  Json input = parse_json(line, where);
  if (!input.is_string() && !input.is_object())
    throw Error(Errc::invalid_argument,
                where + ": expected {\"text\": ..., \"metadata\": {...}} or a JSON string");
  try {
    return RouteRequest::from_json(input, "");
  } catch (const Error& e) {
    rethrow_for_line(e, where);
  }
}

int run_route(const RouteOptions& options, bool text_given) {
  if (options.routes_path.empty())
    throw UsageError("--routes is required (run 'keel route --help')");
  if (options.jsonl && text_given) throw UsageError("--jsonl reads stdin; do not also give TEXT");
  if (options.jsonl && !options.metadata.empty())
    throw UsageError("--jsonl lines carry their own metadata; do not also give --metadata");
  Router router = load_router(options.routes_path, options.model_path);

  if (!options.jsonl) {
    RouteRequest request;
    request.text = text_given ? options.text : read_all(std::cin);
    request.use_llm = !options.no_llm;
    if (!options.metadata.empty()) {
      request.metadata = parse_json(options.metadata, "--metadata");
      if (!request.metadata.is_object())
        throw Error(Errc::invalid_argument, "--metadata: expected a JSON object");
    }
    print_json(router.route(request).to_json());
    return exit_ok;
  }
  int status = exit_ok;
  std::string line;
  std::size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    try {
      RouteRequest request = request_from_line(line, number);
      request.use_llm = !options.no_llm;
      print_json(router.route(request).to_json());
    } catch (const Error& e) {
      std::cerr << "keel: " << e.what() << "\n";
      print_json({{"error", {{"code", to_string(e.code())}, {"message", e.what()}}}});
      status = exit_usage;
    }
  }
  return status;
}

// Labelled examples, one JSON object a line; blank lines are skipped. Every route an example
// names must be one of `routes`, checked here so the error can name the line.
std::vector<RouteExample> read_examples(const std::string& path,
                                        const std::vector<std::string>& routes) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Errc::io, "examples file: cannot open " + path);
  const std::set<std::string, std::less<>> known(routes.begin(), routes.end());
  std::vector<RouteExample> examples;
  std::string line;
  std::size_t number = 0;
  while (std::getline(file, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    const std::string where = "examples file " + path + " line " + std::to_string(number);
    Json json = parse_json(line, where);
    if (!json.is_object())
      throw Error(
          Errc::invalid_argument,
          where + ": expected {\"text\": ..., \"metadata\"?: {...}, \"route\": \"name\" | null}");
    try {
      examples.push_back(RouteExample::from_json(json, ""));
    } catch (const Error& e) {
      rethrow_for_line(e, where);
    }
    const auto& route = examples.back().route;
    if (route && !known.count(*route)) {
      std::string names;
      for (const auto& name : routes)
        names += (names.empty() ? "" : ", ") + name;
      throw Error(
          Errc::invalid_argument,
          where + ": route \"" + *route + "\" is not in the routes file (routes: " + names + ")");
    }
  }
  if (file.bad()) throw Error(Errc::io, "examples file: cannot read " + path);
  if (examples.empty())
    throw Error(Errc::invalid_argument, "examples file " + path + ": no examples");
  return examples;
}

std::string errno_text() {
  return std::strerror(errno);
}

// Writes through a temporary file in the same directory and renames it over `path`, so a reader
// (or a crash) never sees half a routes file.
void write_file_atomically(const std::string& path, const std::string& data) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(Errc::io, "cannot create " + temporary + ": " + errno_text());
  std::size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = errno_text();
      ::close(fd);
      ::unlink(temporary.c_str());
      throw Error(Errc::io, "cannot write " + temporary + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string why = errno_text();
    ::close(fd);
    ::unlink(temporary.c_str());
    throw Error(Errc::io, "cannot sync " + temporary + ": " + why);
  }
  if (::close(fd) != 0) {
    std::string why = errno_text();
    ::unlink(temporary.c_str());
    throw Error(Errc::io, "cannot close " + temporary + ": " + why);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(temporary.c_str());
    throw Error(Errc::io, "cannot rename " + temporary + " to " + path + ": " + why);
  }
}

int run_fit(const FitCommandOptions& options) {
  Router router = load_router(options.routes_path, "");
  std::vector<RouteExample> examples = read_examples(options.examples_path, router.route_names());
  FitOptions fit;
  fit.layer = options.layer;
  FitReport report = router.fit(examples, fit);
  write_file_atomically(options.out_path, dump_json(router.config().to_json(), 2) + "\n");
  if (!options.vectors_path.empty()) router.save(options.vectors_path);
  print_json(report.to_json());
  return exit_ok;
}

int run_eval(const EvalOptions& options) {
  if (options.llm && options.model_path.empty())
    throw UsageError("route eval: --llm needs --model FILE");
  Router router = load_router(options.routes_path, options.model_path);
  std::vector<RouteExample> examples = read_examples(options.examples_path, router.route_names());
  print_json(router.evaluate(examples, options.llm).to_json());
  return exit_ok;
}

constexpr const char* kRouteFooter = R"(
FILE for --routes: a routes JSON file ({"exit_threshold", "fallback", "routes": [{"name",
  "description", "conditions", "utterances", "threshold"}], ...}) or a file written by
  'keel route fit --save-vectors', which loads without embedding the utterances again.
Without TEXT, stdin is one text. With --jsonl, each stdin line is {"text": ..., "metadata":
  {...}} or a JSON string and each stdout line is that line's result, flushed as it is
  written; a bad line prints {"error": {"code", "message"}} on its line, a message naming the
  line on stderr, and makes the exit status 2. Blank lines are skipped.
A result: {"route": "billing" | null, "confidence": 0.93,
  "tier": "condition|semantic|llm|fallback|none", "candidates": [{"route", "score"}],
  "timings_us": {"condition", "semantic", "llm", "total"}, "reason"?: "..."}
The LLM tier runs only with --model (a model file as for 'keel chat'), and not with --no-llm.
Exit status: 0 ok, 2 bad usage or bad input (routes, model or input), 1 other errors.
See 'keel route fit --help' and 'keel route eval --help'.)";

constexpr const char* kExamplesFooter = R"(
Examples file: JSON lines {"text": ..., "metadata"?: {...}, "route": "name" | null}
  (null: out of scope, no route should take it). Blank lines are skipped; a bad line, or a
  route the routes file does not have, is exit status 2 with a message naming the line.)";

constexpr const char* kFitFooter = R"(
Writes the tuned routes JSON (thresholds and the learnt state under "fitted") to --out through
a temporary file and a rename, and prints the fit report: {"layer", "threshold", "objective",
"in_scope_accuracy", "out_of_scope_recall", "routes_tuned", "seconds"}. The LLM tier is not
consulted. Exit status: 0 ok, 2 bad usage or bad input, 1 other errors (e.g. cannot write).)";

constexpr const char* kEvalFooter = R"(
Prints {"examples", "accuracy", "in_scope": {"examples", "accuracy"}, "out_of_scope":
{"examples", "recall", "precision"}, "tiers": {"condition": n, ...}, "routes": {"<name>":
{"precision", "recall", "support"}}, "confused": [{"expected", "predicted", "count"}]}.
Fallback answers count as out of scope. Exit status: 0 ok, 2 bad usage or bad input, 1 other
errors.)";

}  // namespace

void add_route(CLI::App& app, int& status) {
  static RouteOptions options;
  static FitCommandOptions fit_options;
  static EvalOptions eval_options;

  auto* route = app.add_subcommand(
      "route",
      "Route text with the three-tier router (condition, semantic, LLM); prints the result JSON");
  route->require_subcommand(0, 1);
  route
      ->add_option("--routes", options.routes_path,
                   "Routes JSON file, or a saved router (required)")
      ->type_name("FILE");
  auto* text =
      route->add_option("TEXT", options.text, "Text to route (default: stdin)")->type_name("TEXT");
  route->add_flag(
      "--jsonl", options.jsonl,
      "Read JSON lines ({\"text\": ..., \"metadata\": {...}}) from stdin, one result per line");
  route
      ->add_option("--model", options.model_path,
                   "Model configuration JSON file: enables the LLM tier")
      ->type_name("FILE");
  route->add_flag("--no-llm", options.no_llm, "Stop after the semantic tier even with --model");
  route->add_option("--metadata", options.metadata,
                    "The request's metadata, a JSON object (for the condition tier's predicates)")
      ->type_name("JSON");

  auto* fit = route->add_subcommand(
      "fit",
      "Tune thresholds (and a semantic layer) from labelled examples; writes the tuned routes "
      "file and prints the fit report JSON");
  fit->add_option("--routes", fit_options.routes_path, "Routes JSON file, or a saved router")
      ->type_name("FILE")
      ->required();
  fit->add_option("--examples", fit_options.examples_path,
                  "Labelled JSON lines {\"text\", \"metadata\"?, \"route\": name | null}")
      ->type_name("FILE")
      ->required();
  fit->add_option("--out", fit_options.out_path, "Where to write the tuned routes JSON file")
      ->type_name("FILE")
      ->required();
  fit->add_option(
         "--layer", fit_options.layer,
         "Linear layer over the embeddings: auto (kept when it scores better), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  fit->add_option(
         "--save-vectors", fit_options.vectors_path,
         "Also save the tuned router with its utterance vectors (loads without re-embedding)")
      ->type_name("FILE");
  fit->footer(std::string(kExamplesFooter) + kFitFooter);
  fit->callback([&status] { status = run_fit(fit_options); });

  auto* eval = route->add_subcommand(
      "eval",
      "Measure the router on labelled examples: accuracy, out-of-scope recall, per-route "
      "precision and recall, confused pairs");
  eval->add_option("--routes", eval_options.routes_path, "Routes JSON file, or a saved router")
      ->type_name("FILE")
      ->required();
  eval->add_option("--examples", eval_options.examples_path,
                   "Labelled JSON lines {\"text\", \"metadata\"?, \"route\": name | null}")
      ->type_name("FILE")
      ->required();
  eval->add_option("--model", eval_options.model_path,
                   "Model configuration JSON file for the LLM tier")
      ->type_name("FILE");
  eval->add_flag("--llm", eval_options.llm, "Consult the LLM tier too (needs --model)");
  eval->footer(std::string(kExamplesFooter) + kEvalFooter);
  eval->callback([&status] { status = run_eval(eval_options); });

  // Set after the subcommands are added, which would otherwise inherit it.
  route->footer(kRouteFooter);
  route->callback([&status, text, fit, eval] {
    if (fit->parsed() || eval->parsed()) return;
    status = run_route(options, text->count() > 0);
  });
}

}  // namespace keel::cli
