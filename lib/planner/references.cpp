#include "planner/references.hpp"

namespace keel::planner {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::string show(const Reference& r) {
  std::string out = "${" + r.task;
  for (const auto& p : r.path) out += "." + p;
  return out + "}";
}

}  // namespace

std::vector<Reference> find_references(std::string_view text,
                                       const std::function<bool(std::string_view)>& is_task) {
  std::vector<Reference> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) continue;
    if (text[i + 1] == '{') {
      std::size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) continue;
      std::string_view inside = text.substr(i + 2, close - i - 2);
      if (inside.empty()) continue;
      Reference r;
      r.start = i;
      r.end = close + 1;
      r.braced = true;
      std::size_t at = 0;
      while (true) {
        std::size_t dot = inside.find('.', at);
        std::string part(inside.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at));
        if (r.task.empty() && r.path.empty()) {
          r.task = std::move(part);
        } else {
          r.path.push_back(std::move(part));
        }
        if (dot == std::string_view::npos) break;
        at = dot + 1;
      }
      out.push_back(std::move(r));
      i = close;
    } else if (name_char(text[i + 1])) {
      std::size_t end = i + 1;
      while (end < text.size() && name_char(text[end])) ++end;
      std::string_view name = text.substr(i + 1, end - i - 1);
      if (is_task(name)) {
        Reference r;
        r.start = i;
        r.end = end;
        r.task = std::string(name);
        out.push_back(std::move(r));
      }
      i = end - 1;
    }
  }
  return out;
}

void collect_references(const Json& value, const std::function<bool(std::string_view)>& is_task,
                        std::vector<Reference>& out) {
  if (value.is_string()) {
    for (auto& r : find_references(value.get_ref<const std::string&>(), is_task)) out.push_back(std::move(r));
  } else if (value.is_array() || value.is_object()) {
    for (const auto& item : value) collect_references(item, is_task, out);
  }
}

const Json& resolve(const Reference& reference, const Json& output) {
  const Json* at = &output;
  std::string walked = reference.task;
  for (const auto& part : reference.path) {
    if (at->is_object()) {
      auto it = at->find(part);
      if (it == at->end()) {
        throw Error(Errc::invalid_argument, show(reference) + ": " + walked + " has no \"" + part + "\"");
      }
      at = &*it;
    } else if (at->is_array()) {
      std::size_t index = 0;
      bool number = !part.empty() && part.size() < 10;
      for (char c : part) number = number && c >= '0' && c <= '9';
      if (number) index = static_cast<std::size_t>(std::stoul(part));
      if (!number || index >= at->size()) {
        throw Error(Errc::invalid_argument, show(reference) + ": " + walked + " is an array of " +
                                                std::to_string(at->size()) + ", \"" + part + "\" is not an index in it");
      }
      at = &(*at)[index];
    } else {
      throw Error(Errc::invalid_argument, show(reference) + ": " + walked + " is a " +
                                              std::string(json_type_name(*at)) + ", it has no \"" + part + "\"");
    }
    walked += "." + part;
  }
  return *at;
}

Json substitute(const Json& value, const std::map<std::string, Json, std::less<>>& outputs,
                const std::function<bool(std::string_view)>& is_task) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    auto references = find_references(text, is_task);
    if (references.empty()) return value;
    auto output_of = [&](const Reference& r) -> const Json& {
      auto it = outputs.find(r.task);
      static const Json null_value;
      return it == outputs.end() ? null_value : it->second;
    };
    if (references.size() == 1 && references[0].start == 0 && references[0].end == text.size()) {
      return resolve(references[0], output_of(references[0]));
    }
    std::string out;
    std::size_t at = 0;
    for (const auto& r : references) {
      out.append(text, at, r.start - at);
      const Json& v = resolve(r, output_of(r));
      out += v.is_string() ? v.get<std::string>() : dump_json(v);
      at = r.end;
    }
    out.append(text, at, std::string::npos);
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& item : value) out.push_back(substitute(item, outputs, is_task));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = substitute(it.value(), outputs, is_task);
    return out;
  }
  return value;
}

}  // namespace keel::planner
