// A C++ host built against an installed keel through find_package(keel).
#include <keel/keel.hpp>

#include <cstdio>

int main() {
  if (keel::runtime_version() != keel::version_string) return 1;
  try {
    keel::Json config = keel::parse_json(R"({"threshold": "high"})", "config");
    keel::ConfigReader reader(config);
    (void)reader.required<double>("threshold");
    return 1;
  } catch (const keel::Error& e) {
    if (e.code() != keel::Errc::invalid_config) return 1;
    std::printf("C++ consumer: keel %s, error path ok (%s)\n", keel::runtime_version().data(),
                e.what());
  }
  return 0;
}
