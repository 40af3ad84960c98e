#include "keel/version.hpp"

#include "keel.h"

namespace keel {

static_assert(KEEL_VERSION_MAJOR == version_major && KEEL_VERSION_MINOR == version_minor &&
                  KEEL_VERSION_PATCH == version_patch && KEEL_ABI_VERSION == abi_version,
              "keel.h and keel/version.hpp disagree on the version");
static_assert(std::string_view(KEEL_VERSION_STRING) == version_string,
              "KEEL_VERSION_STRING disagrees with keel/version.hpp");

std::string_view runtime_version() noexcept {
  return version_string;
}

}  // namespace keel
