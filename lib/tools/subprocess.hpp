// Internal: runs a program without a shell, feeds it stdin and collects stdout and stderr on an
// Executor's event loop — no thread waits on the child. The child leads a new process group, so
// a timeout, a cancellation or an output past its limit kills it and everything it started.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "keel/executor.hpp"
#include "keel/result.hpp"

namespace keel::tools {

struct SubprocessSpec {
  /// argv; command[0] is looked up on PATH when it has no '/'. Never run through a shell.
  std::vector<std::string> command;
  /// The child's working directory; empty: this process's.
  std::string working_directory;
  /// Variables passed through from this process's environment, by name (nothing else is).
  std::vector<std::string> environment_allow = {"PATH", "HOME", "LANG", "LC_ALL", "TZ"};
  /// Variables set for the child (after the allowed ones, so they win).
  std::map<std::string, std::string> environment;
  std::chrono::milliseconds timeout{30000};
  /// stdout beyond this kills the child: the result has output_exceeded set.
  std::size_t max_output_bytes = 1 << 20;
  /// The last bytes of stderr kept for the error message.
  std::size_t stderr_tail_bytes = 2048;
};

struct SubprocessResult {
  int exit_code = -1;  ///< when it exited; -1 when a signal ended it
  int signal = 0;      ///< the signal that ended it, 0 when it exited
  bool timed_out = false;
  bool cancelled = false;
  bool output_exceeded = false;
  std::string output;       ///< stdout (at most max_output_bytes)
  std::string error_tail;   ///< the end of stderr
  std::chrono::microseconds elapsed{0};

  bool succeeded() const {
    return exit_code == 0 && !timed_out && !cancelled && !output_exceeded;
  }
  /// Why it did not succeed, in a sentence for a model or a log ("" when it succeeded).
  std::string failure() const;
};

/// Starts `spec.command` with `input` on its stdin (then closed) and calls `done` once on
/// `executor` with what happened. A program that cannot be started (not found, not
/// executable, a bad working directory) is an Error in `done`, never a throw.
void run_subprocess(Executor& executor, const SubprocessSpec& spec, std::string input,
                    CancellationToken cancel, Callback<SubprocessResult> done);

}  // namespace keel::tools
