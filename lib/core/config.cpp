#include <algorithm>
#include <cmath>
#include <limits>

#include "keel/json.hpp"

namespace keel {

namespace {

// nlohmann's parser is iterative, but dumping and walking a value are recursive: bound the
// nesting before parsing so a hostile document cannot exhaust the stack later.
constexpr std::size_t max_json_depth = 512;

std::size_t max_nesting(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{')
      deepest = std::max(deepest, ++depth);
    else if ((c == ']' || c == '}') && depth > 0)
      --depth;
  }
  return deepest;
}

std::string strip_prefix(const char* what) {
  std::string_view text(what);
  if (text.starts_with("[json.exception.")) {
    auto close = text.find("] ");
    if (close != std::string_view::npos) text.remove_prefix(close + 2);
  }
  return std::string(text);
}

bool is_identifier(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

Json parse_json(std::string_view text, std::string_view what) {
  if (max_nesting(text) > max_json_depth) {
    throw Error(Errc::parse, std::string(what) + ": nesting deeper than " +
                                 std::to_string(max_json_depth) + " levels");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    // parse_error, and out_of_range for numbers beyond double ("1e400").
    throw Error(Errc::parse, std::string(what) + ": " + strip_prefix(e.what()));
  }
}

std::string dump_json(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string_view json_type_name(const Json& value) noexcept {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::binary:
      return "binary";
    case Json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

std::string json_path_join(std::string_view path, std::string_view key) {
  std::string out(path);
  if (is_identifier(key)) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    out += '[';
    out += Json(std::string(key)).dump(-1, ' ', false, Json::error_handler_t::replace);
    out += ']';
  }
  return out;
}

std::string json_path_index(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

void throw_config_error(std::string_view path, std::string_view what) {
  std::string message = path.empty() ? std::string("(root)") : std::string(path);
  message += ": ";
  message += what;
  throw Error(Errc::invalid_config, message);
}

ConfigReader::ConfigReader(const Json& object, std::string path)
    : object_(&object), path_(std::move(path)) {
  if (!object.is_object()) {
    throw_config_error(path_, "expected object, got " + std::string(json_type_name(object)));
  }
}

bool ConfigReader::has(std::string_view key) const {
  auto it = object_->find(key);
  return it != object_->end() && !it->is_null();
}

const Json* ConfigReader::find(std::string_view key) {
  if (std::find(seen_.begin(), seen_.end(), key) == seen_.end()) seen_.emplace_back(key);
  auto it = object_->find(key);
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

const Json* ConfigReader::raw(std::string_view key) {
  return find(key);
}

namespace {

[[noreturn]] void type_error(const std::string& path, std::string_view expected, const Json& got) {
  throw_config_error(
      path, "expected " + std::string(expected) + ", got " + std::string(json_type_name(got)));
}

template <class Int>
Int to_integer(const Json& value, const std::string& path) {
  if (!value.is_number()) type_error(path, "integer", value);
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) {
      throw_config_error(path, "expected integer, got " + value.dump());
    }
    if (d < static_cast<double>(std::numeric_limits<Int>::min()) ||
        d > static_cast<double>(std::numeric_limits<Int>::max())) {
      throw_config_error(path, "integer out of range: " + value.dump());
    }
    return static_cast<Int>(d);
  }
  if (value.is_number_unsigned()) {
    auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) {
      throw_config_error(path, "integer out of range: " + value.dump());
    }
    return static_cast<Int>(u);
  }
  auto i = value.get<std::int64_t>();
  if constexpr (std::is_unsigned_v<Int>) {
    if (i < 0) throw_config_error(path, "expected a non-negative integer, got " + value.dump());
    if (static_cast<std::uint64_t>(i) > std::numeric_limits<Int>::max()) {
      throw_config_error(path, "integer out of range: " + value.dump());
    }
  } else {
    if (i < static_cast<std::int64_t>(std::numeric_limits<Int>::min()) ||
        i > static_cast<std::int64_t>(std::numeric_limits<Int>::max())) {
      throw_config_error(path, "integer out of range: " + value.dump());
    }
  }
  return static_cast<Int>(i);
}

}  // namespace

template <class T>
T ConfigReader::convert(const Json& value, std::string_view key) const {
  const std::string path = path_of(key);
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) type_error(path, "boolean", value);
    return value.get<bool>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (!value.is_number()) type_error(path, "number", value);
    return value.get<double>();
  } else if constexpr (std::is_integral_v<T>) {
    return to_integer<T>(value, path);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!value.is_string()) type_error(path, "string", value);
    return value.get<std::string>();
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (!value.is_array()) type_error(path, "array of strings", value);
    std::vector<std::string> out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) type_error(json_path_index(path, i), "string", value[i]);
      out.push_back(value[i].get<std::string>());
    }
    return out;
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (!value.is_array()) type_error(path, "array of numbers", value);
    std::vector<double> out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_number()) type_error(json_path_index(path, i), "number", value[i]);
      out.push_back(value[i].get<double>());
    }
    return out;
  } else {
    static_assert(std::is_same_v<T, Json>, "unsupported configuration value type");
    return value;
  }
}

template <class T>
T ConfigReader::required(std::string_view key) {
  const Json* value = find(key);
  if (!value) throw_config_error(path_of(key), "required");
  return convert<T>(*value, key);
}

template <class T>
T ConfigReader::optional(std::string_view key, T fallback) {
  const Json* value = find(key);
  if (!value) return fallback;
  return convert<T>(*value, key);
}

template <class T>
std::optional<T> ConfigReader::maybe(std::string_view key) {
  const Json* value = find(key);
  if (!value) return std::nullopt;
  return convert<T>(*value, key);
}

double ConfigReader::number(std::string_view key, double fallback, double min, double max) {
  double v = optional<double>(key, fallback);
  if (!(v >= min && v <= max)) {
    Json lo = min, hi = max, got = v;
    throw_config_error(
        path_of(key), "must be between " + lo.dump() + " and " + hi.dump() + ", got " + got.dump());
  }
  return v;
}

std::int64_t ConfigReader::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                   std::int64_t max) {
  auto v = optional<std::int64_t>(key, fallback);
  if (v < min || v > max) {
    throw_config_error(path_of(key), "must be between " + std::to_string(min) + " and " +
                                         std::to_string(max) + ", got " + std::to_string(v));
  }
  return v;
}

std::string ConfigReader::choice(std::string_view key, std::string_view fallback,
                                 std::initializer_list<std::string_view> allowed) {
  auto v = optional<std::string>(key, std::string(fallback));
  for (auto a : allowed) {
    if (v == a) return v;
  }
  std::string list;
  for (auto a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  throw_config_error(path_of(key), "must be one of " + list + ", got \"" + v + "\"");
}

ConfigReader ConfigReader::object(std::string_view key) {
  const Json* value = find(key);
  if (!value) throw_config_error(path_of(key), "required");
  return ConfigReader(*value, path_of(key));
}

std::optional<ConfigReader> ConfigReader::optional_object(std::string_view key) {
  const Json* value = find(key);
  if (!value) return std::nullopt;
  return ConfigReader(*value, path_of(key));
}

std::vector<ConfigReader> ConfigReader::objects(std::string_view key) {
  std::vector<ConfigReader> out;
  const Json* value = find(key);
  if (!value) return out;
  const std::string path = path_of(key);
  if (!value->is_array()) type_error(path, "array", *value);
  out.reserve(value->size());
  for (std::size_t i = 0; i < value->size(); ++i) {
    out.emplace_back((*value)[i], json_path_index(path, i));
  }
  return out;
}

void ConfigReader::finish() const {
  for (const auto& [key, value] : object_->items()) {
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) continue;
    std::string message = "unknown key";
    std::string_view closest;
    std::size_t best = 3;  // suggest only near misses (at most two edits)
    for (const auto& known : seen_) {
      std::size_t d = edit_distance(key, known);
      if (d < best) best = d, closest = known;
    }
    if (!closest.empty()) message += " (did you mean \"" + std::string(closest) + "\"?)";
    if (!seen_.empty()) {
      std::vector<std::string> known = seen_;
      std::sort(known.begin(), known.end());
      message += "; known keys: ";
      for (std::size_t i = 0; i < known.size(); ++i)
        message += (i ? ", " : "") + known[i];
    }
    throw_config_error(json_path_join(path_, key), message);
  }
}

#define KEEL_CONFIG_INSTANTIATE(T)                                    \
  template KEEL_API T ConfigReader::required<T>(std::string_view);    \
  template KEEL_API T ConfigReader::optional<T>(std::string_view, T); \
  template KEEL_API std::optional<T> ConfigReader::maybe<T>(std::string_view);

KEEL_CONFIG_INSTANTIATE(bool)
KEEL_CONFIG_INSTANTIATE(int)
KEEL_CONFIG_INSTANTIATE(std::int64_t)
KEEL_CONFIG_INSTANTIATE(std::size_t)
KEEL_CONFIG_INSTANTIATE(double)
KEEL_CONFIG_INSTANTIATE(std::string)
KEEL_CONFIG_INSTANTIATE(std::vector<std::string>)
KEEL_CONFIG_INSTANTIATE(std::vector<double>)
KEEL_CONFIG_INSTANTIATE(Json)
#undef KEEL_CONFIG_INSTANTIATE

}  // namespace keel
