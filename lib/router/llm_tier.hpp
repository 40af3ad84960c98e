// Internal: the LLM tier's prompt and the validation of the model's answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/llm.hpp"

namespace keel::router {

struct OfferedRoute {
  std::string_view name;
  std::string_view description;
};

/// The request: a system message with the answer format, the routes, then the text.
ChatRequest llm_route_request(std::string_view text, const std::vector<OfferedRoute>& routes);

/// The model's answer, validated. `route` is set only when the reply named one of `routes`
/// exactly (or up to case); `refusal` says why not when the reply is unusable.
struct LlmChoice {
  std::optional<std::string> route;
  double confidence = 0;
  bool answered_none = false;  // the model said no route fits
  std::string refusal;         // the reply was unusable: why
};

LlmChoice parse_llm_choice(std::string_view reply, const std::vector<OfferedRoute>& routes);

}  // namespace keel::router
