#include "tools/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <array>
#include <memory>

#include "core/executor_impl.hpp"

extern char** environ;

namespace keel::tools {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int error) { return std::strerror(error); }

// A file descriptor closed when it goes out of scope unless released.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~OwnedFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  OwnedFd read, write;
};

// stdin is a socket pair rather than a pipe so that it can be written with MSG_NOSIGNAL: a child
// that exits without reading must not raise SIGPIPE in the host process.
Pipe make_input_channel() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw Error(Errc::io, "subprocess: socketpair: " + errno_text(errno));
  ::shutdown(fds[0], SHUT_RD);  // ours only writes, the child's only reads
  ::shutdown(fds[1], SHUT_WR);
  return {OwnedFd(fds[1]), OwnedFd(fds[0])};
}

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(Errc::io, "subprocess: pipe: " + errno_text(errno));
  return {OwnedFd(fds[0]), OwnedFd(fds[1])};
}

// The child's environment: the allowed variables of ours, then the spec's own.
std::vector<std::string> child_environment(const SubprocessSpec& spec) {
  std::map<std::string, std::string> chosen;
  for (const auto& name : spec.environment_allow) {
    if (const char* value = std::getenv(name.c_str())) chosen[name] = value;
  }
  for (const auto& [name, value] : spec.environment)
    chosen[name] = value;
  std::vector<std::string> out;
  out.reserve(chosen.size());
  for (const auto& [name, value] : chosen)
    out.push_back(name + "=" + value);
  return out;
}

std::string describe(const std::vector<std::string>& command) {
  return command.empty() ? std::string("(no command)") : "\"" + command[0] + "\"";
}

// One running child. Every handler runs on the strand, so the state needs no lock.
class Run : public std::enable_shared_from_this<Run> {
 public:
  Run(Executor& executor, const SubprocessSpec& spec, CancellationToken cancel,
      Callback<SubprocessResult> done)
      : strand_(asio::make_strand(detail::io_context(executor))),
        stdin_(strand_),
        stdout_(strand_),
        stderr_(strand_),
        exit_(strand_),
        timer_(strand_),
        spec_(spec),
        cancel_(std::move(cancel)),
        done_(std::move(done)) {}

  /// Spawns the child; throws Error when it cannot be started.
  void start(std::string input) {
    if (spec_.command.empty() || spec_.command[0].empty())
      throw Error(Errc::invalid_argument, "subprocess: empty command");
    input_ = std::move(input);
    started_ = Clock::now();
    spawn();
    auto self = shared_from_this();
    asio::post(strand_, [self] { self->begin(); });
  }

 private:
  void spawn() {
    std::vector<char*> argv;
    for (auto& arg : spec_.command)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    auto environment = child_environment(spec_);
    std::vector<char*> envp;
    for (auto& entry : environment)
      envp.push_back(entry.data());
    envp.push_back(nullptr);

    Pipe in = make_input_channel(), out = make_pipe(), err = make_pipe();
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_adddup2(&actions, in.read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out.write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err.write.get(), 2);
    if (!spec_.working_directory.empty())
      posix_spawn_file_actions_addchdir_np(&actions, spec_.working_directory.c_str());
    // Its own process group (so that the group can be killed), no blocked signals, and the
    // default action for the signals a host commonly handles or ignores.
    posix_spawnattr_setflags(&attributes,
                             POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);
    sigset_t signals;
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&attributes, &signals);
    for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM})
      sigaddset(&signals, sig);
    posix_spawnattr_setsigdefault(&attributes, &signals);
    int rc = ::posix_spawnp(&pid_, argv[0], &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
      std::string where =
          spec_.working_directory.empty() ? "" : " in \"" + spec_.working_directory + "\"";
      throw Error(rc == ENOENT ? Errc::not_found : Errc::io,
                  "cannot start " + describe(spec_.command) + where + ": " + errno_text(rc));
    }
    running_ = true;
    // The child has its ends; ours become non-blocking streams on the event loop.
    stdin_.assign(in.write.release());
    stdout_.assign(out.read.release());
    stderr_.assign(err.read.release());
    stdout_.non_blocking(true);
    stderr_.non_blocking(true);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd >= 0) exit_.assign(pidfd);
  }

  void begin() {
    auto self = shared_from_this();
    timer_.expires_after(spec_.timeout);
    timer_.async_wait([self](const asio::error_code& error) {
      if (error) return;
      if (self->exited_) {
        // It exited in time, but something it started outside its group (setsid) still
        // holds its stdout or stderr: stop waiting for those.
        asio::error_code ignored;
        self->stdout_.close(ignored);
        self->stderr_.close(ignored);
        return;
      }
      self->result_.timed_out = true;
      self->kill_group();
    });
    if (cancel_.can_be_cancelled()) {
      cancel_registration_ = cancel_.on_cancel([weak = weak_from_this()] {
        if (auto run = weak.lock()) {
          asio::post(run->strand_, [run] {
            if (run->exited_) return;
            run->result_.cancelled = true;
            run->kill_group();
          });
        }
      });
    }
    write_input();
    read_output();
    read_errors();
    wait_exit();
  }

  void write_input() {
    while (input_written_ < input_.size()) {
      ssize_t n = ::send(stdin_.native_handle(), input_.data() + input_written_,
                         input_.size() - input_written_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        input_written_ += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto self = shared_from_this();
        stdin_.async_wait(asio::posix::stream_descriptor::wait_write,
                          [self](const asio::error_code& error) {
                            if (error) return self->close_input();
                            self->write_input();
                          });
        return;
      } else {
        break;  // EPIPE and the like: the child does not read its input, not our error
      }
    }
    close_input();
  }

  void close_input() {
    asio::error_code ignored;
    stdin_.close(ignored);
  }

  void read_output() {
    auto self = shared_from_this();
    stdout_.async_read_some(asio::buffer(out_buffer_), [self](const asio::error_code& error,
                                                               std::size_t n) {
      auto& result = self->result_;
      if (n > 0 && !result.output_exceeded) {
        std::size_t room = self->spec_.max_output_bytes - result.output.size();
        result.output.append(self->out_buffer_.data(), std::min(n, room));
        if (n > room) {
          result.output_exceeded = true;
          self->kill_group();
        }
      }
      if (error) {
        self->output_done_ = true;
        self->maybe_finish();
        return;
      }
      self->read_output();
    });
  }

  void read_errors() {
    auto self = shared_from_this();
    stderr_.async_read_some(asio::buffer(err_buffer_), [self](const asio::error_code& error,
                                                               std::size_t n) {
      auto& tail = self->result_.error_tail;
      tail.append(self->err_buffer_.data(), n);
      const std::size_t keep = self->spec_.stderr_tail_bytes;
      if (tail.size() > 2 * keep + 4096) tail.erase(0, tail.size() - keep);
      if (error) {
        if (tail.size() > keep) tail.erase(0, tail.size() - keep);
        self->errors_done_ = true;
        self->maybe_finish();
        return;
      }
      self->read_errors();
    });
  }

  void wait_exit() {
    auto self = shared_from_this();
    if (exit_.is_open()) {
      exit_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self](const asio::error_code&) { self->on_exit(); });
      return;
    }
    // No pidfd (a kernel before 5.3): look again shortly, without reaping, until it has exited.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == 0) {
      poll_timer_ = std::make_unique<asio::steady_timer>(strand_, std::chrono::milliseconds(2));
      poll_timer_->async_wait([self](const asio::error_code&) { self->wait_exit(); });
      return;
    }
    on_exit();
  }

  void on_exit() {
    // Exited but not reaped: its pid cannot be reused yet, so the group it led is still its
    // own. Whatever it left running there goes now (it would hold the pipes open).
    kill_group();
    int status = 0;
    pid_t reaped;
    do {
      reaped = ::waitpid(pid_, &status, 0);
    } while (reaped < 0 && errno == EINTR);
    running_ = false;
    exited_ = true;
    if (reaped == pid_) {
      if (WIFEXITED(status)) {
        result_.exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        result_.signal = WTERMSIG(status);
      }
    }
    asio::error_code ignored;
    exit_.close(ignored);
    maybe_finish();
  }

  void kill_group() {
    if (running_) ::kill(-pid_, SIGKILL);
  }

  void maybe_finish() {
    if (finished_ || !exited_ || !output_done_ || !errors_done_) return;
    finished_ = true;
    timer_.cancel();
    cancel_registration_.reset();
    result_.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
    auto done = std::move(done_);
    detail::run_guarded([&] { done(std::move(result_)); });
  }

  asio::strand<asio::io_context::executor_type> strand_;
  asio::posix::stream_descriptor stdin_, stdout_, stderr_, exit_;
  asio::steady_timer timer_;
  std::unique_ptr<asio::steady_timer> poll_timer_;
  SubprocessSpec spec_;
  CancellationToken cancel_;
  CancellationToken::Registration cancel_registration_;
  Callback<SubprocessResult> done_;
  std::string input_;
  std::size_t input_written_ = 0;
  std::array<char, 16384> out_buffer_{}, err_buffer_{};
  SubprocessResult result_;
  Clock::time_point started_;
  pid_t pid_ = -1;
  bool running_ = false, exited_ = false, output_done_ = false, errors_done_ = false,
       finished_ = false;
};

}  // namespace

std::string SubprocessResult::failure() const {
  if (succeeded()) return {};
  std::string why;
  if (timed_out) {
    why = "timed out after " + std::to_string(elapsed.count() / 1000) + " ms";
  } else if (cancelled) {
    why = "cancelled";
  } else if (output_exceeded) {
    why = "wrote more output than allowed (" + std::to_string(output.size()) + " bytes)";
  } else if (signal) {
    why = std::string("killed by signal ") + ::strsignal(signal);
  } else {
    why = "exited with status " + std::to_string(exit_code);
  }
  if (!error_tail.empty()) why += "; stderr: " + error_tail;
  return why;
}

void run_subprocess(Executor& executor, const SubprocessSpec& spec, std::string input,
                    CancellationToken cancel, Callback<SubprocessResult> done) {
  auto run = std::make_shared<Run>(executor, spec, std::move(cancel), done);
  try {
    run->start(std::move(input));
  } catch (...) {
    Error error = error_from_current_exception();
    executor.post([done, error] { done(error); });
  }
}

}  // namespace keel::tools
