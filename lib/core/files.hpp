// Internal: writing files so that a crash leaves either the old content or the new, never a
// mix, and a completed write survives a power cut.
#pragma once

#include <string>
#include <string_view>

namespace keel::detail {

/// Makes a file created or renamed in `path`'s directory durable (fsync of the directory).
/// Best effort: a directory that cannot be opened is left as it is.
void sync_directory_of(const std::string& path) noexcept;

/// Replaces `path` with `data`: a temporary file beside it (`path` + ".tmp"), written and
/// synced, renamed over it, the directory synced. Throws Error(io) naming the file and the
/// system's reason; the temporary file is removed on failure.
void write_file_atomically(const std::string& path, std::string_view data);

}  // namespace keel::detail
