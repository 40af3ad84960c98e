// Internal: model wrappers that add resilience (retries, timeouts, a circuit breaker) and a
// fallback chain; make_chat_model builds them from the model configuration.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keel/llm.hpp"
#include "keel/resilience.hpp"

namespace keel::llm {

/// Retries, per-attempt timeouts and a circuit breaker around another model. A failure after
/// streamed pieces reached the caller is not retried (the pieces would repeat).
class ResilientModel final : public ChatModel {
 public:
  ResilientModel(std::shared_ptr<ChatModel> inner, ResilienceConfig config, std::string name,
                 EventSink events);
  void chat_async(ChatRequest request, CallOptions options, Callback<ChatResponse> done) override;
  std::string_view provider() const noexcept override { return inner_->provider(); }
  Executor& executor() const noexcept override { return inner_->executor(); }
  const CircuitBreaker* breaker() const noexcept { return breaker_.get(); }

 private:
  std::shared_ptr<ChatModel> inner_;
  ResilienceConfig config_;
  std::shared_ptr<CircuitBreaker> breaker_;
  std::shared_ptr<RetryBudget> budget_;
  std::string name_;
  EventSink events_;
};

/// Tries each model in turn until one answers. Not after streamed pieces went out, and not
/// for cancellation or a bad request (another model would fail the same way).
class FallbackModel final : public ChatModel {
 public:
  explicit FallbackModel(std::vector<std::shared_ptr<ChatModel>> chain);
  void chat_async(ChatRequest request, CallOptions options, Callback<ChatResponse> done) override;
  std::string_view provider() const noexcept override { return "fallback"; }
  Executor& executor() const noexcept override { return chain_.front()->executor(); }

 private:
  std::vector<std::shared_ptr<ChatModel>> chain_;
};

}  // namespace keel::llm
