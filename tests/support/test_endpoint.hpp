// keel::testing::TestEndpoint — a TEST DOUBLE, not a server for production use.
//
// A scripted HTTP/1.1 server on 127.0.0.1 that answers with OpenAI- and Anthropic-format replies
// (JSON and SSE streams) and injects faults (delay, close, reset, stall, truncate), so keel's real
// libcurl clients can be integration-tested offline for every failure they must survive. It runs
// its own Asio io_context on one thread (never keel's executor); delays are timers, so one thread
// serves thousands of concurrent connections. The same class backs the standalone program
// `keel_test_endpoint` (tests/support/test_endpoint_main.cpp) used by Python, Go, CLI tests and
// benchmarks.
//
// Thread safety: every public member function of TestEndpoint may be called from any thread at
// any time; the script and the recorded requests are guarded by one mutex. Reply and Script are
// plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace keel::testing {

// What goes wrong with a reply. Every fault happens after the request (headers and body) has been
// read and recorded, and after the reply's delay.
enum class Fault {
  none,      // answer normally
  close,     // close the connection (FIN) without sending a byte
  reset,     // abort the connection with RST (SO_LINGER 0)
  stall,     // never answer; keep the connection open until the client or the server closes it
  truncate,  // send the headers and half the body (or half the SSE events), then close
};

// Which provider's wire format an error body uses.
enum class Provider { openai, anthropic };

// One server-sent event: an optional `event:` name and a payload sent as `data:` lines.
struct SseEvent {
  std::string event;  // empty: no `event:` line
  std::string data;   // one `data:` line per '\n'-separated line of the payload

  bool operator==(const SseEvent&) const = default;
};

// A tool call as the OpenAI wire carries it: `arguments` is a JSON document in a string.
struct WireToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

// One scripted reply. The JSON form (Reply::from_json / to_json) has the same fields; see the
// README comment above `script_from_json`.
struct Reply {
  int status = 200;
  std::map<std::string, std::string> headers;  // extra response headers, sent as given
  std::string content_type = "application/json";
  std::string body;                           // raw body (ignored when `sse` is set)
  std::optional<std::vector<SseEvent>> sse;   // set: a text/event-stream reply, one chunk per event
  std::chrono::milliseconds sse_interval{0};  // pause between two SSE events
  std::chrono::milliseconds delay{0};         // pause before the status line (or the fault)
  Fault fault = Fault::none;
  std::string match;    // non-empty: only requests whose path contains this substring
  bool repeat = false;  // never used up (load tests)

  bool operator==(const Reply&) const = default;

  // Parses the JSON form; throws std::invalid_argument naming the offending key
  // (`fault: expected one of none, close, reset, stall, truncate`). Unknown keys are errors.
  static Reply from_json(const nlohmann::json& j);
  // The JSON form (`body` always as a string); from_json(to_json()) == *this.
  nlohmann::json to_json() const;

  // Copies with one field changed, for building scripts in one expression.
  Reply with_status(int new_status) const;
  Reply with_header(std::string name, std::string value) const;
  Reply with_delay(std::chrono::milliseconds new_delay) const;
  Reply with_sse_interval(std::chrono::milliseconds interval) const;
  Reply with_fault(Fault new_fault) const;
  Reply matching(std::string path_substring) const;
  Reply repeated() const;

  // Generic bodies.
  static Reply json(const nlohmann::json& body, int status = 200);
  static Reply text(std::string body, std::string content_type = "text/plain", int status = 200);
  static Reply events(std::vector<SseEvent> events);

  // OpenAI chat completions (POST /v1/chat/completions) and embeddings (POST /v1/embeddings).
  static Reply openai_text(std::string text, int prompt_tokens = 10, int completion_tokens = 5);
  static Reply openai_tool_calls(std::vector<WireToolCall> calls);
  // Stream: a role chunk, one `delta.content` chunk per piece, a chunk with finish_reason "stop",
  // a usage chunk with empty `choices` (what `stream_options.include_usage` yields) unless
  // include_usage is false, then `data: [DONE]`.
  static Reply openai_stream_text(std::vector<std::string> pieces, bool include_usage = true);
  // Stream: a chunk carrying tool_calls[0] {index 0, id, type, function.name, arguments ""}, one
  // chunk per arguments piece, finish_reason "tool_calls", the usage chunk, `data: [DONE]`.
  static Reply openai_stream_tool_call(std::string id, std::string name,
                                       std::vector<std::string> argument_pieces,
                                       bool include_usage = true);
  static Reply openai_embeddings(const std::vector<std::vector<float>>& vectors);

  // Anthropic Messages (POST /v1/messages).
  static Reply anthropic_text(std::string text, int input_tokens = 10, int output_tokens = 5);
  // A tool_use block (preceded by a text block when text_before is not empty), stop_reason
  // "tool_use".
  static Reply anthropic_tool_use(std::string id, std::string name, nlohmann::json input,
                                  std::string text_before = "");
  // Stream: message_start, content_block_start, ping, one text_delta per piece,
  // content_block_stop, message_delta (stop_reason "end_turn", usage), message_stop.
  static Reply anthropic_stream_text(std::vector<std::string> pieces);
  // Stream: message_start, content_block_start (tool_use, input {}), one input_json_delta per
  // piece, content_block_stop, message_delta (stop_reason "tool_use"), message_stop.
  static Reply anthropic_stream_tool_use(std::string id, std::string name,
                                         std::vector<std::string> partial_json_pieces);
  // Stream that fails midway: message_start, a text block with the pieces, then an `error`
  // event (what Anthropic sends, e.g. overloaded_error, after a 200 status line).
  static Reply anthropic_stream_error(std::vector<std::string> pieces_before,
                                      std::string error_type = "overloaded_error",
                                      std::string message = "Overloaded");

  // A provider-style error: OpenAI `{"error": {"message", "type", "param", "code"}}` or
  // Anthropic `{"type": "error", "error": {"type", "message"}}`.
  static Reply error(int status, std::string type, std::string message,
                     Provider provider = Provider::openai);
};

// An ordered list of replies plus an optional reply for requests nothing matches.
struct Script {
  std::vector<Reply> replies;
  std::optional<Reply> default_reply;

  Script() = default;
  Script(std::initializer_list<Reply> list) : replies(list) {}
  explicit Script(std::vector<Reply> list, std::optional<Reply> fallback = std::nullopt)
      : replies(std::move(list)), default_reply(std::move(fallback)) {}
};

// One request as the endpoint received it.
struct ReceivedRequest {
  std::string method;
  std::string path;                            // the request target as sent, query included
  std::map<std::string, std::string> headers;  // lower-cased names; repeats joined with ", "
  std::string body;                            // as sent; chunked bodies are decoded
  std::chrono::system_clock::time_point received_at;

  // The value of a header ("" if absent); `name` is case-insensitive.
  std::string header(std::string_view name) const;
  // The body parsed as JSON; throws nlohmann::json::parse_error if it is not JSON.
  nlohmann::json json_body() const;
  // {"method", "path", "headers", "body", "received_at_ms"}: one line of `--record`.
  nlohmann::json to_json() const;
};

struct EndpointOptions {
  int port = 0;  // 0: an ephemeral port chosen by the kernel
  // Called on the server thread for every request, after it has been recorded.
  std::function<void(const ReceivedRequest&)> on_request;
};

class TestEndpoint {
 public:
  // Binds and listens on 127.0.0.1 before returning (throws std::runtime_error if it cannot),
  // then serves on its own thread.
  explicit TestEndpoint(Script script = {}, EndpointOptions options = {});
  // Closes every connection (stalled ones included) and joins the server thread.
  ~TestEndpoint();
  TestEndpoint(const TestEndpoint&) = delete;
  TestEndpoint& operator=(const TestEndpoint&) = delete;

  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  void push(Reply reply);         // append to the script
  void set_default(Reply reply);  // the reply when nothing in the script matches
  void reset(Script script);      // replace script and default; forget recorded requests

  std::vector<ReceivedRequest> requests() const;
  // True once at least `count` requests have been recorded, false after `timeout`.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  std::size_t active_connections() const;
  std::size_t unused_replies() const;  // non-repeating script replies not yet taken

  // A 127.0.0.1 port with nothing listening (bound, then closed), for "connection refused" tests.
  static int unused_port();

  // Script JSON: {"replies": [REPLY, ...], "default": REPLY} or a bare [REPLY, ...].
  // REPLY keys: status (200), headers {name: value}, content_type ("application/json"),
  //   body (string) | json (any JSON, serialised) | sse ([string | {"event": s, "data": s|JSON}]),
  //   sse_interval_ms, delay_ms, fault ("none" | "close" | "reset" | "stall" | "truncate"),
  //   match (substring of the path), repeat (bool),
  //   or at most one helper key that fills status/body/sse the way the static helpers do:
  //   openai_text: "text" | openai_tool_calls: [{"id","name","arguments"}] |
  //   openai_stream_text: ["piece", ...] |
  //   openai_stream_tool_call: {"id","name","arguments": ["piece", ...]} |
  //   openai_embeddings: [[float, ...], ...] | anthropic_text: "text" |
  //   anthropic_tool_use: {"id","name","input", "text_before"?} |
  //   anthropic_stream_text: ["piece", ...] |
  //   anthropic_stream_tool_use: {"id","name","partial_json": ["piece", ...]} |
  //   anthropic_stream_error: {"pieces": [...], "type", "message"} |
  //   error: {"status", "type", "message", "provider": "openai" | "anthropic"}.
  //   Explicit keys (status, headers, delay_ms, ...) then override what the helper set.
  // Throws std::invalid_argument naming the path (`replies[2].delay_ms: expected integer >= 0`).
  static Script script_from_json(const nlohmann::json& j);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::testing
