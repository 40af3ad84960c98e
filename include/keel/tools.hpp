/// \file
/// Tools: what an agent may call. A Tool is a ToolSpec (name, description, JSON-Schema
/// parameters) and a handler; the arguments are validated against the schema before the handler
/// runs. Handlers are C++ callables (blocking ones run on an executor thread), asynchronous
/// callables (the C ABI, Python and Go wrap host functions as these), and subprocess skills: a
/// program started without a shell that reads one JSON request on stdin and writes one JSON
/// value on stdout.
///
/// A tools file (the CLI's --tools, ToolRegistry::load) lists skills:
///   {"tools": [{"name": "lookup_order", "description": "...", "parameters": {JSON Schema},
///               "command": ["python3", "skills/lookup_order.py"], "timeout_ms": 5000,
///               "idempotent": true, "working_directory": ".", "env_allow": ["PATH"],
///               "env": {"MODE": "test"}, "max_output_bytes": 1048576}]}
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/executor.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"
#include "keel/llm.hpp"
#include "keel/result.hpp"

namespace keel {

class Tool;
struct ToolContext;
namespace detail {
// For the library's own callers that check arguments first (internal; lib/tools/checked_call.hpp).
void call_checked(const Tool& tool, Json arguments, ToolContext context, Callback<Json> done, Executor& executor);
}  // namespace detail

/// What a handler receives besides its arguments.
struct KEEL_API ToolContext {
  /// The id of the model's tool call, passed on to skills; may be empty.
  std::string call_id;
  Deadline deadline;         ///< when the caller stops waiting (the agent run's deadline)
  CancellationToken cancel;  ///< cancelled when the caller gives up; a handler should stop
};

/// How a subprocess skill is run.
struct KEEL_API SkillOptions {
  std::vector<std::string> command;  ///< argv; command[0] is looked up on PATH without '/'
  std::string working_directory;     ///< "" = this process's
  /// Variables passed through from this process's environment (no others are).
  std::vector<std::string> environment_allow = {"PATH", "HOME", "LANG", "LC_ALL", "TZ"};
  std::map<std::string, std::string> environment;  ///< set for the skill
  std::chrono::milliseconds timeout{30000};        ///< then the skill's process group is killed
  std::size_t max_output_bytes = 1 << 20;          ///< stdout beyond this is a failure
};

/// A tool: a ToolSpec and a handler, which is blocking, asynchronous or a subprocess skill.
/// Cheap to copy: copies share the handler.
class KEEL_API Tool {
 public:
  /// A blocking handler; it runs on the executor's blocking pool (Executor::post_blocking),
  /// never on the caller's thread nor on the event loop.
  using Function = std::function<Json(const Json& arguments, const ToolContext& context)>;
  /// An asynchronous handler: calls `done` exactly once, from any thread.
  using AsyncFunction =
      std::function<void(Json arguments, ToolContext context, Callback<Json> done)>;

  /// Throws Error(invalid_argument) when the spec has no name or its parameters are not a
  /// usable JSON Schema.
  Tool(ToolSpec spec, Function handler);
  /// A tool with an asynchronous handler. Throws as the constructor does, and
  /// Error(invalid_argument) for an empty handler.
  static Tool asynchronous(ToolSpec spec, AsyncFunction handler);
  /// A subprocess skill. Throws as the constructor does, and Error(invalid_argument) for an
  /// empty command, a timeout that is not positive or a max_output_bytes of 0.
  static Tool skill(ToolSpec spec, SkillOptions options);
  /// One entry of a tools file (see above); errors are Error(invalid_config) naming `path`.
  static Tool from_json(const Json& json, const std::string& path = "tool");

  /// Its name, description and parameter schema.
  const ToolSpec& spec() const noexcept;
  /// spec().name.
  const std::string& name() const noexcept;
  /// Whether calling it twice with the same arguments is harmless (a retry may do so).
  bool idempotent() const noexcept;
  /// Sets idempotent() for this copy only (other copies keep their flag); returns *this.
  Tool& set_idempotent(bool idempotent);
  /// For a skill, its options; nullptr otherwise.
  const SkillOptions* skill_options() const noexcept;

  /// What is wrong with `arguments` for this tool's schema, one line per violation ("qty:
  /// Expected number less than or equal to 99"); empty when they conform.
  std::vector<std::string> check(const Json& arguments) const;

  /// Checks the arguments, then runs the handler. `done` gets the handler's JSON value, or an
  /// Error: invalid_argument listing the violations, tool for a handler's failure (a skill's
  /// non-zero exit with its stderr tail, output that is not JSON), timeout, cancelled. An
  /// in-process handler still busy at the context's deadline or cancellation is not waited
  /// for: `done` gets timeout or cancelled at once, the handler's token is cancelled, and what
  /// it returns later is dropped (a skill is killed instead).
  void call_async(Json arguments, ToolContext context, Callback<Json> done,
                  Executor& executor = Executor::shared()) const;
  /// The blocking form. Throws keel::Error; from one of `executor`'s threads (where it would
  /// wait on itself) Error(invalid_argument).
  Json call(const Json& arguments, ToolContext context = {},
            Executor& executor = Executor::shared()) const;

  struct Impl;

 private:
  friend void detail::call_checked(const Tool&, Json, ToolContext, Callback<Json>, Executor&);
  explicit Tool(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/// Tools by name. Not synchronised: fill it, then share it (copies are cheap, tools are shared).
class KEEL_API ToolRegistry {
 public:
  /// Throws Error(invalid_argument) when a tool of that name is already there.
  void add(Tool tool);
  /// False when there was no such tool.
  bool remove(std::string_view name);
  /// nullptr when absent.
  const Tool* find(std::string_view name) const;
  /// The specs, in the order the tools were added, for a ChatRequest.
  std::vector<ToolSpec> specs() const;
  /// The number of tools.
  std::size_t size() const noexcept { return tools_.size(); }
  /// True when there is no tool.
  bool empty() const noexcept { return tools_.empty(); }

  /// A tools file's JSON ({"tools": [...]}); errors are Error(invalid_config) naming the path.
  static ToolRegistry from_json(const Json& json);
  /// Reads a tools file. Relative skill commands and working directories stay relative to the
  /// process's working directory, as a shell would run them.
  static ToolRegistry load(const std::string& path);

 private:
  std::vector<Tool> tools_;
};

}  // namespace keel
