// Shared pieces of the keel command line. Every subcommand lives in its own file and registers
// itself from main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <istream>
#include <string>

#include "keel/core.hpp"

namespace keel::cli {

/// Exit statuses of the command line.
inline constexpr int exit_ok = 0;
inline constexpr int exit_error = 1;  // the operation failed
inline constexpr int exit_usage = 2;  // bad usage or bad input

/// Thrown by subcommands for bad usage that CLI11 cannot see (exit 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Registers `keel demo`; its handler sets `status`.
void add_demo(CLI::App& app, int& status);

/// Registers `keel scan`.
void add_scan(CLI::App& app, int& status);

/// Registers `keel chat`.
void add_chat(CLI::App& app, int& status);

/// Registers `keel agent`.
void add_agent(CLI::App& app, int& status);

/// Registers `keel plan`.
void add_plan(CLI::App& app, int& status);

/// Registers `keel route` with its `fit` and `eval` subcommands.
void add_route(CLI::App& app, int& status);

/// Registers `keel kb` with its add, get, delete, link, search, neighbours and stats commands.
void add_kb(CLI::App& app, int& status);

/// Prints one JSON document (or JSON line) on stdout.
void print_json(const Json& value);

/// Reads a whole stream (binary-safe).
std::string read_all(std::istream& in);

/// Reads and parses a JSON file; errors name the file (io: cannot open; parse: bad JSON).
Json read_json_file(const std::string& path, std::string_view what);

}  // namespace keel::cli
