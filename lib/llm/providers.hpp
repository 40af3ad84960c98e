// Internal: HTTP chat-model providers. ProviderModel does what OpenAI-compatible and Anthropic
// clients share (the request, streaming through SSE, status-to-error mapping, key hygiene);
// each provider supplies its wire format.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keel/llm.hpp"
#include "llm/http.hpp"
#include "llm/sse.hpp"

namespace keel::llm {

struct ProviderConfig {
  std::string provider;  // "openai" or "anthropic"
  std::string base_url;
  std::string path;
  std::string model;
  std::string api_key;  // never printed: errors and events scrub it
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
  int max_tokens = 0;                   // Anthropic requires one; 0 = provider default
  std::string anthropic_version = "2023-06-01";
  bool stream_usage = true;             // OpenAI: ask for usage in the stream
};

/// Collects a streamed answer: each SSE event may yield deltas; finish() gives the response.
class StreamAccumulator {
 public:
  virtual ~StreamAccumulator() = default;
  /// Handles one event; an error in the stream (a provider "error" event, bad JSON) is
  /// returned and ends the stream.
  virtual std::optional<Error> on_event(const SseEvent& event,
                                        const std::function<void(const StreamDelta&)>& emit) = 0;
  /// The whole response once the stream ended; an error if it ended before completing.
  virtual Result<ChatResponse> finish() = 0;
};

class ProviderModel : public ChatModel, public std::enable_shared_from_this<ProviderModel> {
 public:
  ProviderModel(ProviderConfig config, Executor& executor);
  void chat_async(ChatRequest request, CallOptions options, Callback<ChatResponse> done) override;
  std::string_view provider() const noexcept override { return config_.provider; }
  Executor& executor() const noexcept override { return executor_; }

  /// Replaces the API key in provider text (error messages may echo it).
  std::string scrub(std::string text) const;

 protected:
  virtual Json build_body(const ChatRequest& request, bool stream) const = 0;
  virtual std::vector<std::string> auth_headers() const = 0;
  virtual ChatResponse parse_response(const Json& body) const = 0;
  virtual std::unique_ptr<StreamAccumulator> make_stream() const = 0;
  /// {"error": {"message", "type"}} (OpenAI) or {"type": "error", "error": {...}} (Anthropic).
  Error error_from_response(const HttpResponse& response) const;
  const ProviderConfig& config() const noexcept { return config_; }

 private:
  ProviderConfig config_;
  Executor& executor_;
};

std::shared_ptr<ChatModel> make_openai_model(ProviderConfig config, Executor& executor);
/// The wire formats, exposed for benchmarks and tests.
Json openai_request_body(const ChatRequest& request, const ProviderConfig& config, bool stream);
ChatResponse openai_parse_response(const Json& body, const ProviderConfig& config);
Json anthropic_request_body(const ChatRequest& request, const ProviderConfig& config, bool stream);
ChatResponse anthropic_parse_response(const Json& body, const ProviderConfig& config);
std::shared_ptr<ChatModel> make_anthropic_model(ProviderConfig config, Executor& executor);

/// Parses an HTTP JSON body, naming the host and the content type when it is not JSON.
Json parse_body(const HttpResponse& response, const std::string& host);

/// Retry-After (seconds or an HTTP date) or retry-after-ms, in milliseconds; -1 when absent.
long long retry_after_ms(const HttpResponse& response);

}  // namespace keel::llm
