#include "router/llm_tier.hpp"

#include <cctype>

namespace keel::router {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// The first balanced {...} of a reply: models wrap JSON in prose or code fences.
std::string_view first_object(std::string_view text) {
  auto start = text.find('{');
  if (start == std::string_view::npos) return {};
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}' && --depth == 0) return text.substr(start, i - start + 1);
  }
  return {};
}

std::string clip(std::string_view text, std::size_t max = 80) {
  std::string out(text.substr(0, max));
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace

ChatRequest llm_route_request(std::string_view text, const std::vector<OfferedRoute>& routes) {
  std::string system =
      "You are a request router. Pick the one route below that should handle the user's "
      "request, or none if no route fits. Answer with only a JSON object: {\"route\": \"<route "
      "name exactly as listed>\" or null, \"confidence\": <number from 0 to 1>}.\n\nRoutes:\n";
  for (const auto& route : routes) {
    system += "- ";
    system += route.name;
    if (!route.description.empty()) {
      system += ": ";
      system += route.description;
    }
    system += '\n';
  }
  ChatRequest request;
  request.messages.push_back(Message::system(std::move(system)));
  request.messages.push_back(Message::user(std::string(text)));
  request.json_response = true;
  request.temperature = 0.0;
  request.max_tokens = 100;
  return request;
}

LlmChoice parse_llm_choice(std::string_view reply, const std::vector<OfferedRoute>& routes) {
  LlmChoice choice;
  std::string_view object = first_object(reply);
  if (object.empty()) {
    choice.refusal = "the model's answer is not a JSON object: \"" + clip(reply) + "\"";
    return choice;
  }
  Json json = Json::parse(object.begin(), object.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    choice.refusal = "the model's answer is not valid JSON: \"" + clip(object) + "\"";
    return choice;
  }
  auto route = json.find("route");
  if (route == json.end()) {
    choice.refusal = "the model's answer has no \"route\"";
    return choice;
  }
  if (route->is_null() || (route->is_string() && (route->get<std::string>().empty() ||
                                                  equal_ignoring_case(route->get<std::string>(), "none") ||
                                                  equal_ignoring_case(route->get<std::string>(), "null")))) {
    choice.answered_none = true;
    return choice;
  }
  if (!route->is_string()) {
    choice.refusal = "the model's \"route\" is not a string";
    return choice;
  }
  const std::string name = route->get<std::string>();
  for (const auto& offered : routes) {
    if (offered.name == name) {
      choice.route = std::string(offered.name);
      break;
    }
  }
  if (!choice.route) {
    for (const auto& offered : routes) {
      if (equal_ignoring_case(offered.name, name)) {
        choice.route = std::string(offered.name);
        break;
      }
    }
  }
  if (!choice.route) {
    choice.refusal = "the model named a route that is not offered: \"" + clip(name) + "\"";
    return choice;
  }
  auto confidence = json.find("confidence");
  if (confidence == json.end() || confidence->is_null()) {
    choice.confidence = 1.0;  // a route named without doubt
  } else if (confidence->is_number()) {
    double value = confidence->get<double>();
    if (!(value >= 0.0 && value <= 1.0)) {
      // Some models answer in percent.
      if (value > 1.0 && value <= 100.0) value /= 100.0;
      else {
        choice.route.reset();
        choice.refusal = "the model's confidence is out of range";
        return choice;
      }
    }
    choice.confidence = value;
  } else {
    choice.route.reset();
    choice.refusal = "the model's \"confidence\" is not a number";
  }
  return choice;
}

}  // namespace keel::router
