/// \file
/// Models: chat models (OpenAI-compatible, Anthropic, host callbacks, a scripted test double)
/// and embedders (the built-in hashing embedder, OpenAI-compatible embeddings, host callbacks),
/// with provider-neutral messages, tool calls, streaming, and the resilience of
/// keel/resilience.hpp around every call.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"
#include "keel/result.hpp"

namespace keel {

/// A tool call the model asked for. `arguments` is the parsed JSON object; when the model
/// produced text that is not a JSON object, `arguments` is null and `arguments_valid` false,
/// and `arguments_text` keeps what it sent (the agent reports that back to the model).
struct KEEL_API ToolCall {
  /// The provider's id of the call; a tool message answers it by this id.
  std::string id;
  /// The name of the tool to call.
  std::string name;
  /// The arguments as a JSON object (empty when the model sent none).
  Json arguments = Json::object();
  /// The arguments as the model wrote them.
  std::string arguments_text;
  /// False when `arguments_text` is not a JSON object.
  bool arguments_valid = true;

  /// Parses `text` into arguments (setting arguments_valid).
  static ToolCall make(std::string id, std::string name, std::string text);
  /// {"id", "name", "arguments"}; when the arguments are not valid, "arguments" is null and
  /// "arguments_text" holds the text.
  Json to_json() const;
  /// Reads what to_json() writes; "arguments" may also be a JSON string (the providers' form),
  /// which is parsed as make() does. Throws Error(invalid_config) naming `path`.
  static ToolCall from_json(const Json& json, const std::string& path = "tool_call");
};

/// One message of a conversation: {"role": "system" | "user" | "assistant" | "tool",
/// "content": "...", "tool_calls": [...] (assistant), "tool_call_id": "..." (tool),
/// "name": "..." (tool: the tool's name)}.
struct KEEL_API Message {
  /// Who speaks: the system prompt, the user, the model, or a tool's result.
  enum class Role { system, user, assistant, tool };
  /// Who speaks.
  Role role = Role::user;
  /// The text (for a tool message, the tool's result).
  std::string content;
  /// Assistant: the tool calls the model asked for.
  std::vector<ToolCall> tool_calls;
  /// Tool: the id of the call this message answers.
  std::string tool_call_id;
  /// Tool: the tool's name.
  std::string name;

  /// A system message.
  static Message system(std::string text);
  /// A user message.
  static Message user(std::string text);
  /// An assistant message, with the tool calls it asks for.
  static Message assistant(std::string text, std::vector<ToolCall> calls = {});
  /// A tool message: the result (or error text) of call `call_id` to tool `tool_name`.
  static Message tool_result(std::string call_id, std::string tool_name, std::string content);

  /// The JSON form above: "role" and "content" always, the other keys when not empty.
  Json to_json() const;
  /// Reads the JSON form ("role" defaults to "user"). Throws Error(invalid_config) naming
  /// `path`.
  static Message from_json(const Json& json, const std::string& path = "message");
};
/// "system", "user", "assistant" or "tool".
KEEL_API std::string_view to_string(Message::Role role) noexcept;

/// A tool the model may call: name, description and JSON-Schema parameters.
struct KEEL_API ToolSpec {
  /// The name the model calls it by.
  std::string name;
  /// What it does, for the model.
  std::string description;
  /// The JSON Schema of its arguments object (default: an object with no declared properties).
  Json parameters = Json{{"type", "object"}, {"properties", Json::object()}};
  /// {"name", "description", "parameters"}
  Json to_json() const;
  /// Reads {"name", "description"?, "parameters"?}. Throws Error(invalid_config) naming
  /// `path` for an empty name or parameters that are not an object.
  static ToolSpec from_json(const Json& json, const std::string& path = "tool");
};

/// A chat request. JSON: {"messages": [...], "tools": [...], "temperature": 0.2,
/// "max_tokens": 512, "stop": ["..."], "response_format": "text" | "json" | {JSON Schema},
/// "tool_choice": "auto" | "none" | "required" | {"name": "..."}, "model": "..." (override)}.
struct KEEL_API ChatRequest {
  /// The conversation so far.
  std::vector<Message> messages;
  /// The tools the model may call.
  std::vector<ToolSpec> tools;
  /// Sampling temperature (0..2); the provider's default when unset.
  std::optional<double> temperature;
  /// The most tokens to generate (>= 1); the provider's default when unset.
  std::optional<int> max_tokens;
  /// Sequences that end the answer.
  std::vector<std::string> stop;
  bool json_response = false;  ///< ask for a JSON object (response_format json)
  Json json_schema;            ///< with json_response: the schema the object must follow
  std::string tool_choice;     ///< "", "auto", "none", "required" or a tool's name
  std::string model;           ///< overrides the configured model name when set

  /// The JSON form above; unset fields are left out.
  Json to_json() const;
  /// Reads the JSON form ("messages" required). Throws Error(invalid_config) naming the JSON
  /// path.
  static ChatRequest from_json(const Json& json);
};

/// Token counts of one call.
struct KEEL_API Usage {
  /// Tokens of the prompt.
  std::int64_t input_tokens = 0;
  /// Tokens generated.
  std::int64_t output_tokens = 0;
  /// Input plus output tokens.
  std::int64_t total() const noexcept { return input_tokens + output_tokens; }
  /// Adds another call's counts.
  Usage& operator+=(const Usage& other) noexcept {
    input_tokens += other.input_tokens;
    output_tokens += other.output_tokens;
    return *this;
  }
  /// {"input_tokens", "output_tokens"}
  Json to_json() const;
  /// Reads what to_json() writes (absent counts are 0; "total_tokens" is accepted and
  /// ignored).
  static Usage from_json(const Json& json);
};

/// A model's answer. finish_reason is normalised across providers: "stop", "tool_calls",
/// "length", "content_filter" (or the provider's own word when it has another).
struct KEEL_API ChatResponse {
  Message message;  ///< role assistant
  /// Why the model stopped ("stop", "tool_calls", ...; see above).
  std::string finish_reason;
  /// The call's token counts.
  Usage usage;
  std::string model;  ///< the model that answered (after fallbacks, the one that succeeded)

  /// {"message", "finish_reason", "usage", "model"}
  Json to_json() const;
  /// Reads what to_json() writes ("message" required; "finish_reason" defaults to "stop").
  static ChatResponse from_json(const Json& json);
};

/// A piece of a streamed answer: text, or part of a tool call (its id and name arrive first,
/// then its JSON arguments in pieces). Pieces arrive in order; ChatResponse holds the whole.
struct KEEL_API StreamDelta {
  /// What the piece carries.
  enum class Kind { text, tool_call };
  /// Text, or part of a tool call.
  Kind kind = Kind::text;
  std::string text;       ///< kind text
  int index = 0;          ///< kind tool_call: which call of the response
  std::string id;         ///< set on a call's first piece
  std::string name;       ///< set on a call's first piece
  std::string arguments;  ///< a piece of the call's JSON arguments
};

/// Per-call options.
struct KEEL_API CallOptions {
  /// When the whole call, retries included, gives up.
  Deadline deadline;
  /// Cancelling it ends the call with Error(cancelled).
  CancellationToken cancel;
  /// When set, the model streams and calls this with each piece (on an executor thread, in
  /// order) before completing with the whole response. Keep it fast.
  std::function<void(const StreamDelta&)> on_delta;
};

/// A chat model. Implementations are thread-safe: many calls may run at once.
class KEEL_API ChatModel {
 public:
  virtual ~ChatModel();
  /// Starts a call; `done` runs exactly once, on an executor thread, with the response or an
  /// error (provider errors carry ErrorDetails: HTTP status, provider error type, Retry-After).
  /// Waiting holds no thread.
  virtual void chat_async(ChatRequest request, CallOptions options,
                          Callback<ChatResponse> done) = 0;
  /// The blocking form: wraps chat_async. Throws keel::Error. Must not be called from one of
  /// the executor's own threads (it would wait on itself): that is an invalid_argument error.
  ChatResponse chat(ChatRequest request, CallOptions options = {});
  /// "openai", "anthropic", "scripted", "callback", "resilient", "fallback".
  virtual std::string_view provider() const noexcept = 0;
  /// The executor its callbacks run on.
  virtual Executor& executor() const noexcept = 0;
};

/// Turns text into fixed-dimension vectors. Implementations are thread-safe.
class KEEL_API Embedder {
 public:
  virtual ~Embedder();
  /// The number of floats in each vector.
  virtual std::size_t dimension() const noexcept = 0;
  /// Vectors for `texts`, in order. Throws keel::Error.
  virtual std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& texts,
                                                      const CallOptions& options = {}) const = 0;
  /// The vector for one text (through embed_batch). Throws keel::Error.
  std::vector<float> embed(std::string_view text, const CallOptions& options = {}) const;
  /// The asynchronous form. The default runs embed_batch on `executor`; HTTP embedders
  /// override it so waiting holds no thread.
  virtual void embed_batch_async(std::vector<std::string> texts, CallOptions options,
                                 Callback<std::vector<std::vector<float>>> done) const;
  /// "hashing", "openai", "callback".
  virtual std::string_view provider() const noexcept = 0;
  /// The executor embed_batch_async completes on; by default Executor::shared().
  virtual Executor& executor() const noexcept;
};

/// The embedded default embedder: no model, no network, deterministic across platforms.
///
/// Text is normalised (compatibility decomposition as in NFKC, case folding, accents
/// stripped) and split into tokens: runs of letters and digits; anything else separates them,
/// including invalid UTF-8 bytes, and tokens longer than 128 bytes are cut. Features: word
/// n-grams (`word_ngrams`) and character n-grams (`char_ngrams`) of each token with '<' and '>'
/// marking its ends ("<wo", "wor", "ord", "rd>"), each hashed with FNV-1a 64 over its UTF-8
/// bytes (plus the MurmurHash3 finaliser) into one of `dimension` buckets with a sign. Weights:
/// a word n-gram has the mean IDF of its tokens; a token's character n-grams share
/// `char_weight` times its IDF (each gets char_weight * IDF / sqrt(their number), so long words
/// do not dominate); a feature seen tf times counts (1 + ln tf) times its mean weight. The
/// vector is L2-normalised; a text without letters or digits (empty, whitespace, punctuation)
/// gives the zero vector.
///
/// IDF is fitted by fit() from the word unigrams of a corpus, smoothed (ln((1 + N) / (1 + df))
/// + 1), and stored per bucket — a `dimension`-sized array, so it serialises compactly;
/// character n-grams take their token's IDF. Before fit() every IDF is 1.
/// Defaults were tuned on CLINC150 val (tests/bench/bench_embedder.cpp prints the figures).
///
/// Thread safety: const methods run concurrently (per-thread scratch, no allocation once
/// warm beyond the returned vectors); fit() must not run concurrently with anything else on
/// the same object (copies made before fit() keep their own weights).
///
/// JSON: {"provider": "hashing", "dimension": 1024 (16..1048576), "word_ngrams": [1, 2]
/// (1..8), "char_ngrams": [3, 5] (1..8, or [0, 0] to disable), "char_weight": 2.0 (>= 0),
/// "idf": [dimension numbers]?}.
class KEEL_API HashingEmbedder : public Embedder {
 public:
  /// The embedder's parameters (the JSON keys above).
  struct Options {
    /// Number of buckets, and of floats in each vector (16..1048576).
    std::size_t dimension = 1024;
    ///@{
    /// The shortest and longest word n-grams, in tokens (1..8).
    int word_ngram_min = 1, word_ngram_max = 2;
    ///@}
    ///@{
    /// The shortest and longest character n-grams, in characters (1..8; both 0 disables
    /// them).
    int char_ngram_min = 3, char_ngram_max = 5;
    ///@}
    double char_weight = 2.0;  ///< weight of a token's character n-grams relative to the token
    /// Accepts the keys above and "provider" (which must be "hashing"), not "idf".
    static Options from_json(const Json& json);
    /// {"dimension", "word_ngrams": [min, max], "char_ngrams": [min, max], "char_weight"}
    Json to_json() const;
  };
  // Two constructors, not a default argument: Options{} cannot be used until the class is
  // complete.
  HashingEmbedder() : HashingEmbedder(Options{}) {}
  /// Throws Error(invalid_argument) when an option is out of range.
  explicit HashingEmbedder(Options options);
  ~HashingEmbedder() override;

  std::size_t dimension() const noexcept override;
  std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& texts,
                                              const CallOptions& options = {}) const override;
  std::string_view provider() const noexcept override { return "hashing"; }
  /// Embeds into `out` (dimension floats) without allocating the result vector.
  void embed_into(std::string_view text, float* out) const;

  /// Fits IDF weights from a corpus (one document per string), replacing earlier ones. Not
  /// thread-safe with embedding: fit before sharing.
  void fit(const std::vector<std::string>& corpus);
  /// True once IDF weights have been fitted (or read by from_json()).
  bool fitted() const noexcept;
  /// Options, "provider": "hashing" and, once fitted, "idf", so a restart embeds identically
  /// without refitting.
  Json to_json() const;
  /// Reads what to_json() writes; other keys are errors. Throws Error(invalid_config) naming
  /// the JSON path.
  static HashingEmbedder from_json(const Json& json);
  /// The options it was built with.
  const Options& options() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// A test double: replays a fixed list of responses in order and records every request it
/// received. For tests and for examples that must run offline — it is not a model. JSON:
/// {"provider": "scripted", "responses": [`<ChatResponse JSON>`, or {"content": "...",
/// "tool_calls": [{"id", "name", "arguments"}]}, or {"error": {"code": "provider",
/// "message": "...", "http_status": 503}}], "delay_ms": 0}. Streams text word by word when
/// asked. When the responses run out, calls fail with Error(provider).
class KEEL_API ScriptedModel : public ChatModel {
 public:
  /// Replays `responses` (entries of "responses" above), each after `delay`, completing on
  /// `executor`. Throws Error(invalid_config) naming the bad entry ("responses[2]").
  explicit ScriptedModel(std::vector<Json> responses, Executor& executor = Executor::shared(),
                         std::chrono::milliseconds delay = {});
  /// Builds one from the JSON above. Throws Error(invalid_config) naming the JSON path.
  static std::shared_ptr<ScriptedModel> from_json(const Json& json,
                                                  Executor& executor = Executor::shared());
  void chat_async(ChatRequest request, CallOptions options, Callback<ChatResponse> done) override;
  std::string_view provider() const noexcept override { return "scripted"; }
  Executor& executor() const noexcept override { return executor_; }

  /// The requests received so far, in order.
  std::vector<ChatRequest> requests() const;
  /// The number of responses not yet replayed.
  std::size_t remaining() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  Executor& executor_;
};

/// A model whose answers come from the host (a C function pointer, a Python or Go function).
/// The function runs on the executor's blocking pool (Executor::post_blocking) and may block;
/// it returns the response or throws keel::Error. A deadline or cancellation completes the call
/// at once; what the function returns afterwards is dropped.
class KEEL_API CallbackModel : public ChatModel {
 public:
  /// Answers a request, or throws keel::Error.
  using Function = std::function<ChatResponse(const ChatRequest&)>;
  /// A model answered by `function`, completing on `executor`.
  explicit CallbackModel(Function function, Executor& executor = Executor::shared());
  void chat_async(ChatRequest request, CallOptions options, Callback<ChatResponse> done) override;
  std::string_view provider() const noexcept override { return "callback"; }
  Executor& executor() const noexcept override { return executor_; }

 private:
  std::shared_ptr<Function> function_;
  Executor& executor_;
};

/// An embedder whose vectors come from the host. The function must return one vector of
/// `dimension` floats per text.
class KEEL_API CallbackEmbedder : public Embedder {
 public:
  /// Returns one vector per text, in order, or throws keel::Error.
  using Function = std::function<std::vector<std::vector<float>>(const std::vector<std::string>&)>;
  /// An embedder of `dimension` floats answered by `function`, completing on `executor`.
  /// Throws Error(invalid_argument) when `dimension` is 0. A wrong number of vectors, or a
  /// vector of the wrong size, is an Error(provider) of the call.
  CallbackEmbedder(std::size_t dimension, Function function,
                   Executor& executor = Executor::shared());
  std::size_t dimension() const noexcept override { return dimension_; }
  std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& texts,
                                              const CallOptions& options = {}) const override;
  /// Runs the function on the executor's blocking pool, never on its event loop.
  void embed_batch_async(std::vector<std::string> texts, CallOptions options,
                         Callback<std::vector<std::vector<float>>> done) const override;
  std::string_view provider() const noexcept override { return "callback"; }
  Executor& executor() const noexcept override { return executor_; }

 private:
  std::size_t dimension_;
  std::shared_ptr<Function> function_;
  Executor& executor_;
};

/// What the factories need besides the configuration.
struct KEEL_API ModelContext {
  Executor* executor = nullptr;  ///< default: Executor::shared()
  EventSink events;              ///< "model.call", "model.retry", "embedder.call" events
};

/// Builds a chat model from the model file format of SPEC.md:
/// {"provider": "openai" | "anthropic" | "scripted", "base_url": "...", "model": "...",
///  "api_key_env": "OPENAI_API_KEY", "api_key": "..." (prefer the environment),
///  "path": "/chat/completions", "headers": {"...": "..."}, "anthropic_version": "2023-06-01",
///  "max_tokens": 1024 (Anthropic's default), "timeout_ms": 30000, "connect_timeout_ms": 10000,
///  "retry": {...}, "circuit_breaker": {...}, "fallback": [`<model>`, ...]}.
/// OpenAI defaults: base_url $OPENAI_BASE_URL or https://api.openai.com/v1, key
/// $OPENAI_API_KEY; Anthropic: https://api.anthropic.com/v1, $ANTHROPIC_API_KEY. Retries,
/// timeouts, the breaker and the fallback chain wrap the provider client. Throws
/// Error(invalid_config) naming the JSON path.
KEEL_API std::shared_ptr<ChatModel> make_chat_model(const Json& config, ModelContext context = {});

/// Builds an embedder: {"provider": "hashing", ...HashingEmbedder options} or
/// {"provider": "openai", "base_url", "model", "dimension", "batch_size": 64, "api_key_env",
///  "timeout_ms", "retry", "circuit_breaker"}.
KEEL_API std::shared_ptr<Embedder> make_embedder(const Json& config, ModelContext context = {});

}  // namespace keel
