/// \file
/// The agent: a stateless loop that calls a model, runs the tools it asks for (concurrently when
/// it asks for several), feeds their results or errors back, and stops at a final answer or a
/// limit — always returning the whole transcript. Optional firewall screening of the user's
/// input, of tool results (indirect prompt injection) and of the output.
///
/// A run holds no thread while it waits: the model call and the tools complete on the executor,
/// and the loop continues from their callbacks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/export.hpp"
#include "keel/firewall.hpp"
#include "keel/json.hpp"
#include "keel/llm.hpp"
#include "keel/tools.hpp"

namespace keel {

/// What a screening hook does with the firewall's verdict. JSON: "off", "flag", "redact",
/// "block", or a list of them (["redact", "block"]).
///   flag:   the verdict is recorded (AgentResult::screenings, an "agent.screen" event);
///   redact: PII and secrets are replaced by placeholders ("<EMAIL_1>") kept in the run's vault;
///           the run restores them in tool arguments and in the output, so tools and the user
///           see real values while the model sees placeholders;
///   block:  when the decision is block — user input: the run stops with stop_reason blocked
///           before any model call; a tool result: withheld, the model is told it was blocked
///           (the run goes on); output: withheld (output ""), stop_reason blocked.
/// Any action other than off records the verdict.
struct KEEL_API ScreenPolicy {
  /// Scan the text and record a verdict with findings (false: off, the other two are ignored).
  bool scan = false;
  /// Replace PII and secrets by placeholders kept in the run's vault.
  bool redact = false;
  /// Withhold the text when the decision is block.
  bool block = false;

  /// No screening.
  static ScreenPolicy off() { return {}; }
  /// Scan and record only.
  static ScreenPolicy flag() { return {true, false, false}; }
  /// Scan, record, and block when the decision is block ("block"; the default of every stage).
  static ScreenPolicy blocking() { return {true, false, true}; }
  /// Throws Error(invalid_config) naming `path`.
  static ScreenPolicy from_json(const Json& json, const std::string& path);
  /// The JSON form: name() as a string, or ["redact", "block"].
  Json to_json() const;
  /// "off", "flag", "redact", "block" or "redact+block".
  std::string name() const;
};

/// An agent's configuration. JSON (every key optional):
/// {"system_prompt": "...", "max_turns": 10, "parallel_tool_calls": true,
///  "max_parallel_tools": 8, "token_budget": 0, "timeout_ms": 0, "tool_timeout_ms": 60000,
///  "temperature": 0.2, "max_tokens": 1024, "tool_choice": "auto" | "none" | "required" | name,
///  "max_tool_result_bytes": 65536, "firewall": {firewall configuration},
///  "screen": {"input": "block", "tool_results": "block", "output": "block"}}
struct KEEL_API AgentConfig {
  /// Sent first, unless the conversation starts with a system message of its own.
  std::string system_prompt;
  /// Model calls per run (1..1000). A model that still asks for tools on the last turn stops
  /// the run with max_turns; its calls are answered "not run" so the transcript stays valid.
  int max_turns = 10;
  /// Run the calls of one turn concurrently (else one after the other, in order).
  bool parallel_tool_calls = true;
  /// At most this many tool calls of a run at once (1..1024).
  std::size_t max_parallel_tools = 8;
  /// Input plus output tokens for the whole run; 0 = none. Checked after each model call: a
  /// run over budget that still asks for tools stops with budget (a final answer is kept).
  std::int64_t token_budget = 0;
  /// The whole run; 0 = none (a deadline given to run() also applies: the earlier wins).
  std::chrono::milliseconds timeout{0};
  /// One tool call; 0 = none. When it passes the call is cancelled, the model is told it timed
  /// out, and a result arriving later is ignored.
  std::chrono::milliseconds tool_timeout{60000};
  /// Sent with every model call when set (0..2).
  std::optional<double> temperature;
  /// The most output tokens of each model call, when set.
  std::optional<int> max_tokens;
  /// Applies to the first model call; later calls use "auto" (so "required" cannot loop).
  std::string tool_choice;
  /// A tool result longer than this is cut (at a UTF-8 boundary) before the model sees it.
  std::size_t max_tool_result_bytes = 64 * 1024;
  /// Firewall configuration: the Agent builds a firewall from it when none is given.
  std::optional<Json> firewall;
  /// Screening of the user's input, of tool results and of the output; they apply only when
  /// the agent has a firewall.
  ScreenPolicy screen_input = ScreenPolicy::blocking();
  /// Screening of each tool result before the model sees it (see screen_input).
  ScreenPolicy screen_tool_results = ScreenPolicy::blocking();
  /// Screening of the final answer (see screen_input).
  ScreenPolicy screen_output = ScreenPolicy::blocking();

  /// Throws Error(invalid_config) naming the JSON path.
  static AgentConfig from_json(const Json& json);
  /// The JSON form that from_json() reads.
  Json to_json() const;
};

/// Why a run stopped: final (the model answered), max_turns (the last turn still asked for
/// tools), budget (over token_budget while still asking for tools), blocked (the firewall
/// blocked the input or the output), cancelled, error (the model failed, or the run's timeout
/// or deadline passed: Errc::timeout).
enum class StopReason { final, max_turns, budget, blocked, cancelled, error };
/// The lower-case name of a stop reason ("final", "max_turns", ...).
KEEL_API std::string_view to_string(StopReason reason) noexcept;

/// One tool call of a run and what became of it. status: "ok", "error" (the tool failed),
/// "unknown_tool", "invalid_arguments" (not JSON, or not valid for the schema: the tool did not
/// run), "timeout", "cancelled", "blocked" (the firewall withheld its result), "not_run" (the run
/// stopped first).
struct KEEL_API ToolCallRecord {
  /// The call's id (the model's, or one keel made up when the model sent none).
  std::string id;
  /// The tool's name.
  std::string name;
  Json arguments;  ///< as the model sent them (its text when it was not JSON)
  /// The turn (1-based model call) that asked for it.
  int turn = 0;
  /// "ok", "error", "unknown_tool", ... (see above).
  std::string status;
  Json result;        ///< the tool's value when status is ok (or blocked), else null
  std::string error;  ///< what the model was told, when not ok
  /// How long the call took, in microseconds.
  std::int64_t duration_us = 0;
  /// {"id", "name", "arguments", "turn", "status", "result"?, "error"?, "duration_us"}
  Json to_json() const;
};

/// A firewall verdict with findings, taken during a run (clean verdicts are only events).
struct KEEL_API Screening {
  std::string stage;  ///< "input", "tool_result", "output"
  /// The firewall's decision.
  Decision decision = Decision::allow;
  /// The verdict's risk, 0..1.
  double risk = 0;
  std::string action;  ///< what was done: "flag", "redact", "block"
  /// The categories of the findings, without repeats ("pii.email", ...).
  std::vector<std::string> categories;
  std::string call_id;  ///< stage tool_result: which call
  /// {"stage", "decision", "risk", "action", "categories", "call_id"?}
  Json to_json() const;
};

/// What a run did. JSON: {"output", "stop_reason", "error"?: {"code", "message"}, "messages",
/// "tool_calls", "usage", "turns", "screenings", "duration_us"}.
struct KEEL_API AgentResult {
  std::string output;  ///< the final answer (placeholders restored); "" unless final
  /// Why the run stopped.
  StopReason stop_reason = StopReason::error;
  std::optional<Error> error;  ///< why it stopped, for error, blocked, cancelled, budget...
  /// The whole transcript: the system prompt, the conversation given (with redactions when
  /// the input was redacted), every model message and every tool result.
  std::vector<Message> messages;
  /// Every tool call the model asked for, in the order asked.
  std::vector<ToolCallRecord> tool_calls;
  /// Tokens of every model call of the run together.
  Usage usage;
  int turns = 0;  ///< model calls made
  /// Verdicts with findings, in the order taken.
  std::vector<Screening> screenings;
  /// How long the run took, in microseconds.
  std::int64_t duration_us = 0;
  /// The JSON form described above.
  Json to_json() const;
};

/// Per-run options.
struct KEEL_API AgentRunOptions {
  /// When the run stops (stop_reason error, Errc::timeout); the earlier of it and the
  /// configured timeout applies.
  Deadline deadline;
  /// Cancelling it stops the run (stop_reason cancelled) and cancels the tools still running.
  CancellationToken cancel;
};

/// The agent. Thread-safe: any number of runs at once, from any thread.
class KEEL_API Agent {
 public:
  /// `tools` is copied; `firewall` may be null (then config.firewall, if set, builds one).
  /// Throws Error(invalid_argument) without a model, Error(invalid_config) for a bad firewall
  /// configuration.
  Agent(AgentConfig config, std::shared_ptr<ChatModel> model, ToolRegistry tools = {},
        std::shared_ptr<const Firewall> firewall = nullptr);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  /// Starts a run on `conversation` (at least one message). `done` runs exactly once, on an
  /// executor thread, with the result — model and tool failures are in it (stop_reason error),
  /// never lost. Throws Error(invalid_argument) for an empty conversation. The run keeps what it
  /// needs alive: the Agent may be destroyed before it ends.
  void run_async(std::vector<Message> conversation, AgentRunOptions options,
                 std::function<void(AgentResult)> done) const;
  /// The blocking form. Must not be called from the model executor's own threads.
  AgentResult run(std::vector<Message> conversation, AgentRunOptions options = {}) const;
  /// One user message.
  AgentResult run(std::string_view task, AgentRunOptions options = {}) const;

  /// Receives "agent.run", "agent.model_call", "agent.tool_call" and "agent.screen" events
  /// (never message text). Set before sharing the agent between threads.
  void set_event_sink(EventSink sink);

  /// The configuration it was built with.
  const AgentConfig& config() const noexcept;
  /// The tools it may call (its own copy).
  const ToolRegistry& tools() const noexcept;
  /// The firewall screening runs, or nullptr.
  const Firewall* firewall() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace keel
