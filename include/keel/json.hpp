/// \file
/// JSON, keel's currency for configuration and results, and the helpers every component's
/// from_json uses so that a bad configuration is reported with the JSON path that failed
/// (`routes[3].threshold: expected number, got string`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "keel/error.hpp"
#include "keel/export.hpp"

namespace keel {

/// keel::Json is nlohmann::json: configurations and results cross every API as this type.
using Json = nlohmann::json;

/// Parses JSON text. Throws Error(parse, "<what>: <reason> at line L, column C") on bad input;
/// `what` names the input for the message ("routes file", "model reply").
KEEL_API Json parse_json(std::string_view text, std::string_view what = "JSON");

/// Serialises JSON for output; invalid UTF-8 inside strings is replaced, never thrown on.
KEEL_API std::string dump_json(const Json& value, int indent = -1);

/// The JSON type name used in messages ("number", "string", "object", ...).
KEEL_API std::string_view json_type_name(const Json& value) noexcept;

/// Joins a JSON path and a key: ("routes[3]", "threshold") -> "routes[3].threshold".
KEEL_API std::string json_path_join(std::string_view path, std::string_view key);
/// Joins a JSON path and an array index: ("routes", 3) -> "routes[3]".
KEEL_API std::string json_path_index(std::string_view path, std::size_t index);

/// Throws Error(invalid_config, "<path>: <what>") — the shape of every configuration error.
[[noreturn]] KEEL_API void throw_config_error(std::string_view path, std::string_view what);

/// Reads one JSON object of a configuration. Every getter records the key as known; finish()
/// then rejects keys nobody asked for, so a misspelt option is an error rather than silently
/// ignored. Errors are Error(invalid_config) whose message starts with the JSON path.
///
/// Not thread-safe (it records the keys it has read); use one reader per parse.
class KEEL_API ConfigReader {
 public:
  /// Throws unless `object` is a JSON object. `path` is where it sits ("" for the root).
  explicit ConfigReader(const Json& object, std::string path = {});

  /// Where the object sits ("" for the root).
  const std::string& path() const noexcept { return path_; }
  /// The object being read.
  const Json& json() const noexcept { return *object_; }
  /// The path of a key of this object.
  std::string path_of(std::string_view key) const { return json_path_join(path_, key); }
  /// True when the key is present (null counts as absent).
  bool has(std::string_view key) const;

  /// A required value of type T (bool, int, std::int64_t, std::size_t, double, std::string,
  /// std::vector<std::string>, std::vector<double>, Json).
  template <class T>
  T required(std::string_view key);
  /// An optional value: `fallback` when absent or null.
  template <class T>
  T optional(std::string_view key, T fallback);
  /// An optional value without a default.
  template <class T>
  std::optional<T> maybe(std::string_view key);

  /// A number within [min, max]; `fallback` when absent.
  double number(std::string_view key, double fallback, double min, double max);
  /// An integer within [min, max]; `fallback` when absent.
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  /// One of the given strings; `fallback` when absent.
  std::string choice(std::string_view key, std::string_view fallback,
                     std::initializer_list<std::string_view> allowed);

  /// A required nested object.
  ConfigReader object(std::string_view key);
  /// A nested object when present.
  std::optional<ConfigReader> optional_object(std::string_view key);
  /// An array of objects (absent = empty); element readers carry paths like `routes[3]`.
  std::vector<ConfigReader> objects(std::string_view key);
  /// The raw value of a key (marked as read), or nullptr when absent or null.
  const Json* raw(std::string_view key);

  /// Throws when the object holds a key no getter asked for, naming it and the known keys.
  void finish() const;

 private:
  const Json* find(std::string_view key);
  template <class T>
  T convert(const Json& value, std::string_view key) const;

  const Json* object_;
  std::string path_;
  std::vector<std::string> seen_;
};

/// \cond
// The getters' instantiations for the types listed at required(), compiled into the library.
extern template KEEL_API bool ConfigReader::required<bool>(std::string_view);
extern template KEEL_API int ConfigReader::required<int>(std::string_view);
extern template KEEL_API std::int64_t ConfigReader::required<std::int64_t>(std::string_view);
extern template KEEL_API std::size_t ConfigReader::required<std::size_t>(std::string_view);
extern template KEEL_API double ConfigReader::required<double>(std::string_view);
extern template KEEL_API std::string ConfigReader::required<std::string>(std::string_view);
extern template KEEL_API std::vector<std::string> ConfigReader::required<std::vector<std::string>>(
    std::string_view);
extern template KEEL_API std::vector<double> ConfigReader::required<std::vector<double>>(
    std::string_view);
extern template KEEL_API Json ConfigReader::required<Json>(std::string_view);

extern template KEEL_API bool ConfigReader::optional<bool>(std::string_view, bool);
extern template KEEL_API int ConfigReader::optional<int>(std::string_view, int);
extern template KEEL_API std::int64_t ConfigReader::optional<std::int64_t>(std::string_view,
                                                                           std::int64_t);
extern template KEEL_API std::size_t ConfigReader::optional<std::size_t>(std::string_view,
                                                                         std::size_t);
extern template KEEL_API double ConfigReader::optional<double>(std::string_view, double);
extern template KEEL_API std::string ConfigReader::optional<std::string>(std::string_view,
                                                                         std::string);
extern template KEEL_API std::vector<std::string> ConfigReader::optional<std::vector<std::string>>(
    std::string_view, std::vector<std::string>);
extern template KEEL_API std::vector<double> ConfigReader::optional<std::vector<double>>(
    std::string_view, std::vector<double>);
extern template KEEL_API Json ConfigReader::optional<Json>(std::string_view, Json);

extern template KEEL_API std::optional<bool> ConfigReader::maybe<bool>(std::string_view);
extern template KEEL_API std::optional<int> ConfigReader::maybe<int>(std::string_view);
extern template KEEL_API std::optional<std::int64_t> ConfigReader::maybe<std::int64_t>(
    std::string_view);
extern template KEEL_API std::optional<std::size_t> ConfigReader::maybe<std::size_t>(
    std::string_view);
extern template KEEL_API std::optional<double> ConfigReader::maybe<double>(std::string_view);
extern template KEEL_API std::optional<std::string> ConfigReader::maybe<std::string>(
    std::string_view);
extern template KEEL_API std::optional<std::vector<std::string>>
    ConfigReader::maybe<std::vector<std::string>>(std::string_view);
extern template KEEL_API std::optional<Json> ConfigReader::maybe<Json>(std::string_view);
/// \endcond

}  // namespace keel
