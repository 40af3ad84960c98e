// Fuzzes the core's JSON parsing and configuration helpers: any bytes either parse into a
// configuration or fail with a keel::Error of code parse or invalid_config. Anything else
// (another exception, a crash, a sanitizer report) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "keel/json.hpp"

namespace {

// A configuration shaped like keel's own: nested objects, arrays of objects, every value type.
void read_config(const keel::Json& json) {
  keel::ConfigReader root(json);
  (void)root.optional<double>("exit_threshold", 0.8);
  (void)root.number("temperature", 0.0, 0.0, 2.0);
  (void)root.integer("max_turns", 10, 1, 1000);
  (void)root.optional<std::string>("fallback", "");
  (void)root.choice("jitter", "full", {"full", "equal", "decorrelated"});
  (void)root.maybe<std::size_t>("max_input_bytes");
  (void)root.optional<bool>("enabled", true);
  (void)root.optional<keel::Json>("metadata", keel::Json::object());
  for (auto& route : root.objects("routes")) {
    (void)route.required<std::string>("name");
    (void)route.optional<std::vector<std::string>>("utterances", {});
    (void)route.optional<std::vector<double>>("vector", {});
    (void)route.maybe<int>("priority");
    (void)route.maybe<std::int64_t>("id");
    for (auto& condition : route.objects("conditions")) {
      (void)condition.maybe<std::vector<std::string>>("keywords");
      (void)condition.number("confidence", 0.9, 0.0, 1.0);
      condition.finish();
    }
    route.finish();
  }
  if (auto retry = root.optional_object("retry")) {
    (void)retry->required<int>("max_attempts");
    retry->finish();
  }
  root.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    keel::Json json = keel::parse_json(text, "fuzz input");
    (void)keel::dump_json(json);
    read_config(json);
  } catch (const keel::Error& e) {
    if (e.code() != keel::Errc::parse && e.code() != keel::Errc::invalid_config) std::abort();
  }
  return 0;
}
