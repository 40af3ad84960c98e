// `keel scan [TEXT] [--config FILE] [--direction input|output] [--jsonl]`: firewall verdicts.
// Without TEXT, stdin is one text. With --jsonl, each stdin line is {"text": ...} or a JSON
// string and each stdout line is that input's verdict; a bad line gets {"error": ...} on its
// line (so outputs stay aligned with inputs), a message on stderr, and exit status 2 at the end.
#include <iostream>
#include <iterator>

#include "cli.hpp"
#include "keel/firewall.hpp"

namespace keel::cli {

namespace {

struct ScanOptions {
  std::string text;
  std::string config_path;
  std::string direction = "input";
  bool jsonl = false;
};

int run_scan(const ScanOptions& options, bool text_given) {
  Json config = Json::object();
  if (!options.config_path.empty()) config = read_json_file(options.config_path, "firewall config");
  Firewall firewall(config);
  Direction direction = direction_from_string(options.direction);

  if (!options.jsonl) {
    std::string text = text_given ? options.text : read_all(std::cin);
    print_json(firewall.scan(text, direction).to_json());
    return exit_ok;
  }
  if (text_given) throw UsageError("--jsonl reads stdin; do not also give TEXT");
  int status = exit_ok;
  std::string line;
  std::size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      Json input = parse_json(line, "line " + std::to_string(number));
      std::string text;
      if (input.is_string()) {
        text = input.get<std::string>();
      } else if (input.is_object() && input.contains("text") && input["text"].is_string()) {
        text = input["text"].get<std::string>();
      } else {
        throw Error(Errc::invalid_argument, "line " + std::to_string(number) +
                                                ": expected {\"text\": ...} or a JSON string");
      }
      print_json(firewall.scan(text, direction).to_json());
    } catch (const Error& e) {
      std::cerr << "keel: " << e.what() << "\n";
      print_json({{"error", {{"code", to_string(e.code())}, {"message", e.what()}}}});
      status = exit_usage;
    }
  }
  return status;
}

}  // namespace

void add_scan(CLI::App& app, int& status) {
  static ScanOptions options;
  auto* scan = app.add_subcommand("scan", "Screen text with the firewall; prints the verdict JSON");
  auto* text = scan->add_option("TEXT", options.text, "Text to scan (default: stdin)");
  scan->add_option("--config", options.config_path, "Firewall configuration JSON file");
  scan->add_option("--direction", options.direction, "input (to a model) or output (from one)")
      ->check(CLI::IsMember({"input", "output"}));
  scan->add_flag("--jsonl", options.jsonl,
                 "Read JSON lines ({\"text\": ...}) from stdin, one verdict per line");
  scan->callback([&status, text] { status = run_scan(options, text->count() > 0); });
}

}  // namespace keel::cli
