// keel — the command line. Everything printed on stdout is JSON unless a flag asks for text;
// errors go to stderr as one line; exit 0 on success, 2 on bad usage or input, 1 otherwise.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli.hpp"

namespace keel::cli {

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Json read_json_file(const std::string& path, std::string_view what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Errc::io, std::string(what) + ": cannot open " + path);
  return parse_json(read_all(file), std::string(what) + " " + path);
}

void print_json(const Json& value) {
  std::string text = dump_json(value);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

namespace {

int exit_status_for(const Error& error) {
  switch (error.code()) {
    case Errc::invalid_argument:
    case Errc::invalid_config:
    case Errc::parse:
    case Errc::limit_exceeded:
      return exit_usage;
    default:
      return exit_error;
  }
}

}  // namespace
}  // namespace keel::cli

int main(int argc, char** argv) {
  using namespace keel::cli;
  CLI::App app{"keel — firewall, router, planner, agent and knowledge layer for AI-agent systems"};
  app.name("keel");
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return std::string(e.what()); });

  int status = exit_ok;

  auto* version = app.add_subcommand("version", "Print the library version as JSON");
  version->callback([&] {
    print_json({{"version", std::string(keel::runtime_version())}, {"abi", keel::abi_version}});
  });
  add_demo(app, status);
  add_scan(app, status);
  add_chat(app, status);
  add_agent(app, status);
  add_plan(app, status);
  add_route(app, status);
  add_kb(app, status);

  // A word that is not a subcommand gets a plainer message than CLI11's "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const auto* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "keel: unknown subcommand '" << argv[1] << "' (known: " << names << ")\n";
      return exit_usage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "keel: " << e.what() << " (run 'keel --help')\n";
    return exit_usage;
  } catch (const UsageError& e) {
    std::cerr << "keel: " << e.what() << "\n";
    return exit_usage;
  } catch (...) {
    keel::Error error = keel::error_from_current_exception();
    std::cerr << "keel: " << error.what() << "\n";
    return exit_status_for(error);
  }
  return status;
}
