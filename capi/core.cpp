// The C ABI's core: versions, errors and memory.
#include <new>

#include "boundary.hpp"
#include "keel/version.hpp"

namespace keel::capi {

keel_status set_error(keel_error** err, keel_status code, std::string message) noexcept {
  if (err != nullptr) {
    *err = new (std::nothrow) keel_error{code, {}};
    if (*err != nullptr) {
      try {
        (*err)->message = std::move(message);
      } catch (...) {
        // The code still reaches the caller; the message is lost only when memory is gone.
      }
    }
  }
  return code;
}

keel_status set_error(keel_error** err, const keel::Error& error) noexcept {
  return set_error(err, static_cast<keel_status>(error.code()), error.what());
}

char* copy_out(std::string_view text) {
  auto* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

}  // namespace keel::capi

extern "C" {

KEEL_API const char* keel_version(void) {
  return KEEL_VERSION_STRING;
}

KEEL_API int keel_abi_version(void) {
  return keel::abi_version;
}

KEEL_API keel_status keel_check_abi(int host_abi_version, keel_error** err) {
  if (host_abi_version == keel::abi_version) return KEEL_OK;
  return keel::capi::set_error(
      err, KEEL_INVALID_ARGUMENT,
      "ABI mismatch: the host was compiled against keel ABI " + std::to_string(host_abi_version) +
          " but the loaded libkeel is ABI " + std::to_string(keel::abi_version) + " (version " +
          std::string(keel::version_string) + ")");
}

KEEL_API const char* keel_status_name(keel_status status) {
  if (status == KEEL_OK) return "ok";
  return keel::to_string(static_cast<keel::Errc>(status)).data();
}

KEEL_API keel_status keel_error_code(const keel_error* err) {
  return err ? err->code : KEEL_INTERNAL;
}

KEEL_API const char* keel_error_message(const keel_error* err) {
  return err ? err->message.c_str() : "";
}

KEEL_API void keel_error_free(keel_error* err) {
  delete err;
}

KEEL_API void keel_free(void* ptr) {
  std::free(ptr);
}

}  // extern "C"
