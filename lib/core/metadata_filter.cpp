#include "core/metadata_filter.hpp"

#include <string_view>

#include "keel/error.hpp"

namespace keel {

namespace {

bool json_equal(const Json& a, const Json& b) {
  // nlohmann compares 1 and 1.0 as different types; metadata written by different hosts
  // should not depend on that.
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

std::vector<std::string> split_path(const std::string& field) {
  std::vector<std::string> parts;
  std::string_view rest = field;
  while (true) {
    auto dot = rest.find('.');
    parts.emplace_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return parts;
}

}  // namespace

const Json* MetadataFilter::Predicate::lookup(const Json& metadata) const noexcept {
  if (!metadata.is_object()) return nullptr;
  if (auto it = metadata.find(field); it != metadata.end()) return it->is_null() ? nullptr : &*it;
  if (path.size() < 2) return nullptr;
  const Json* at = &metadata;
  for (const auto& part : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(part);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at->is_null() ? nullptr : at;
}

bool MetadataFilter::Predicate::matches(const Json& metadata) const {
  const Json* value = lookup(metadata);
  if (exists && *exists != (value != nullptr)) return false;
  if (!value) return !eq && !in && !gte && !lte && !gt && !lt;
  if (eq && !json_equal(*value, *eq)) return false;
  if (in) {
    bool found = false;
    for (const auto& candidate : *in) {
      if (json_equal(*value, candidate)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  if (gte || lte || gt || lt) {
    if (!value->is_number()) return false;
    double number = value->get<double>();
    if (gte && !(number >= *gte)) return false;
    if (lte && !(number <= *lte)) return false;
    if (gt && !(number > *gt)) return false;
    if (lt && !(number < *lt)) return false;
  }
  return true;
}

MetadataFilter MetadataFilter::parse(const Json& filter, const std::string& path) {
  MetadataFilter out;
  if (filter.is_null()) return out;
  if (!filter.is_object())
    throw_config_error(path, "expected an object of fields, got " +
                                 std::string(json_type_name(filter)));
  for (const auto& [field, ops] : filter.items()) {
    std::string field_path = json_path_join(path, field);
    if (field.empty()) throw_config_error(field_path, "empty field name");
    ConfigReader reader(ops, field_path);
    Predicate predicate;
    predicate.field = field;
    predicate.path = split_path(field);
    if (const Json* eq = reader.raw("eq")) predicate.eq = *eq;
    if (reader.has("in")) {
      const Json* in = reader.raw("in");
      if (!in->is_array())
        throw_config_error(reader.path_of("in"),
                           "expected an array, got " + std::string(json_type_name(*in)));
      predicate.in = in->get<std::vector<Json>>();
    }
    predicate.exists = reader.maybe<bool>("exists");
    predicate.gte = reader.maybe<double>("gte");
    predicate.lte = reader.maybe<double>("lte");
    predicate.gt = reader.maybe<double>("gt");
    predicate.lt = reader.maybe<double>("lt");
    reader.finish();
    if (!predicate.eq && !predicate.in && !predicate.exists && !predicate.gte &&
        !predicate.lte && !predicate.gt && !predicate.lt)
      throw_config_error(field_path,
                         "expected at least one of \"eq\", \"in\", \"exists\", \"gte\", \"lte\", "
                         "\"gt\", \"lt\"");
    out.predicates_.push_back(std::move(predicate));
  }
  return out;
}

bool MetadataFilter::matches(const Json& metadata) const {
  for (const auto& predicate : predicates_) {
    if (!predicate.matches(metadata)) return false;
  }
  return true;
}

}  // namespace keel
