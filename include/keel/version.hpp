/// \file
/// keel's version. The C header keel.h carries the same numbers as macros; the library checks at
/// compile time that they agree.
#pragma once

#include <string_view>

#include "keel/export.hpp"

namespace keel {

/// The major version of these headers (KEEL_VERSION_MAJOR).
inline constexpr int version_major = 0;
/// The minor version of these headers (KEEL_VERSION_MINOR).
inline constexpr int version_minor = 1;
/// The patch version of these headers (KEEL_VERSION_PATCH).
inline constexpr int version_patch = 0;
/// "major.minor.patch" (KEEL_VERSION_STRING).
inline constexpr std::string_view version_string = "0.1.0";
/// The ABI generation of the C interface (the SONAME suffix).
inline constexpr int abi_version = 1;

/// The version of the library actually loaded (may differ from the header's constants when a
/// host runs against a newer shared library).
KEEL_API std::string_view runtime_version() noexcept;

}  // namespace keel
