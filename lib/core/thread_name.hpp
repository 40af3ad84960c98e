#pragma once
// Names the calling thread, as `top -H`, `perf` and debuggers show it. Linux keeps 15 bytes.

#include <pthread.h>

namespace keel::detail {

inline void name_this_thread(const char* name) noexcept { (void)::pthread_setname_np(::pthread_self(), name); }

}  // namespace keel::detail
