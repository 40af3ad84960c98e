#include "llm/http.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "core/executor_impl.hpp"
#include "llm/curl_library.hpp"

namespace keel::llm {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

// One transfer in flight.
struct Transfer {
  explicit Transfer(const CurlLibrary& library) : curl(library) {}

  const CurlLibrary& curl;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpRequest request;
  HttpResponse response;
  BodyHandler on_body;
  Callback<HttpResponse> done;
  CancellationToken cancel;
  CancellationToken::Registration cancel_registration;
  bool aborted_by_handler = false;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (easy) curl.easy_cleanup(easy);
    if (header_list) curl.slist_free_all(header_list);
  }

  bool streaming() const { return on_body && response.status >= 200 && response.status < 300; }
};

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  if (t->response.status == 0) {
    long code = 0;
    t->curl.easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->response.status = static_cast<int>(code);
  }
  if (t->streaming()) {
    if (!t->on_body(std::string_view(data, bytes))) {
      t->aborted_by_handler = true;
      return 0;  // CURLE_WRITE_ERROR ends the transfer
    }
    return bytes;
  }
  // Error bodies are small; cap them so a misbehaving server cannot exhaust memory.
  constexpr size_t cap = 64 << 20;
  if (t->response.body.size() + bytes > cap) return 0;
  t->response.body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a new response (after 100 Continue or a redirect)
    auto space = line.find(' ');
    if (space != std::string_view::npos) {
      t->response.status = std::atoi(std::string(line.substr(space + 1, 3)).c_str());
    }
    return bytes;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response.headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return bytes;
}

Error transfer_error(CURLcode code, const Transfer& t) {
  std::string host = url_host(t.request.url);
  std::string detail = t.error_buffer[0] ? t.error_buffer : t.curl.easy_strerror(code);
  ErrorDetails details;
  details.retryable = 1;
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      details.provider_type = "connect";
      return Error(Errc::unavailable, "cannot connect to " + host + ": " + detail, details);
    case CURLE_OPERATION_TIMEDOUT:
      return Error(Errc::timeout, "request to " + host + " timed out: " + detail, details);
    case CURLE_GOT_NOTHING:
      return Error(Errc::io, host + " closed the connection without answering", details);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return Error(Errc::io, "connection to " + host + " broke: " + detail, details);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      details.retryable = 0;
      return Error(Errc::provider, "TLS with " + host + " failed: " + detail, details);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      details.retryable = 0;
      return Error(Errc::invalid_config, "bad URL for " + host + ": " + detail, details);
    default:
      return Error(Errc::io, "request to " + host + " failed: " + detail, details);
  }
}

// The curl multi handle of one executor, driven on a strand of its io_context.
class CurlMulti : public std::enable_shared_from_this<CurlMulti> {
 public:
  CurlMulti(Executor& executor, const CurlLibrary& curl)
      : executor_(executor),
        curl_(curl),
        strand_(asio::make_strand(detail::io_context(executor))),
        timer_(strand_) {
    multi_ = curl_.multi_init();
    curl_.multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
    curl_.multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_.multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
    curl_.multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    // Idle connections kept for reuse. Many agent runs at once talk to one provider turn after
    // turn: with 1,000 concurrent 3-turn runs, keeping 1,024 instead of 256 lets later turns
    // reuse their connection (bench_agent: 1.42 s -> 1.08 s wall in the same conditions).
    curl_.multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 1024L);
  }

  ~CurlMulti() {
    // The executor's threads are gone; nothing runs concurrently.
    for (auto& [easy, transfer] : active_) curl_.multi_remove_handle(multi_, easy);
    active_.clear();
    for (auto& [fd, socket] : sockets_) {
      socket->removed = true;
      socket->descriptor.release();
    }
    sockets_.clear();
    curl_.multi_cleanup(multi_);
  }

  void start(std::shared_ptr<Transfer> transfer) {
    asio::post(strand_, [self = shared_from_this(), transfer = std::move(transfer)]() mutable {
      self->add(std::move(transfer));
    });
  }

  void cancel(CURL* easy) {
    asio::post(strand_, [self = shared_from_this(), easy] {
      auto it = self->active_.find(easy);
      if (it == self->active_.end()) return;
      auto transfer = it->second;
      self->curl_.multi_remove_handle(self->multi_, easy);
      self->active_.erase(it);
      self->complete(transfer, Error(Errc::cancelled, "request cancelled"));
    });
  }

 private:
  struct Socket {
    explicit Socket(asio::strand<asio::io_context::executor_type>& strand, curl_socket_t fd)
        : descriptor(strand, fd) {}
    asio::posix::stream_descriptor descriptor;
    int want = 0;
    bool reading = false, writing = false, removed = false;
  };

  void add(std::shared_ptr<Transfer> transfer) {
    CURL* easy = transfer->easy;
    if (transfer->cancel.cancelled()) {
      // Cancelled before it started (the cancel request ran first on the strand).
      complete(transfer, Error(Errc::cancelled, "request cancelled"));
      return;
    }
    active_[easy] = transfer;
    CURLMcode rc = curl_.multi_add_handle(multi_, easy);
    if (rc != CURLM_OK) {
      active_.erase(easy);
      complete(transfer, Error(Errc::internal,
                               std::string("curl_multi_add_handle: ") + curl_.multi_strerror(rc)));
    }
  }

  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
    auto* self = static_cast<CurlMulti*>(user);
    if (what == CURL_POLL_REMOVE) {
      auto it = self->sockets_.find(fd);
      if (it != self->sockets_.end()) {
        it->second->removed = true;
        it->second->descriptor.release();  // curl owns the descriptor and closes it
        self->sockets_.erase(it);
      }
      return 0;
    }
    auto& socket = self->sockets_[fd];
    if (!socket) {
      try {
        socket = std::make_shared<Socket>(self->strand_, fd);
      } catch (...) {
        self->sockets_.erase(fd);
        return -1;
      }
    }
    socket->want = what;
    self->arm(fd, socket);
    return 0;
  }

  void arm(curl_socket_t fd, const std::shared_ptr<Socket>& socket) {
    auto weak = std::weak_ptr<CurlMulti>(shared_from_this());
    if ((socket->want & CURL_POLL_IN) && !socket->reading) {
      socket->reading = true;
      socket->descriptor.async_wait(
          asio::posix::descriptor_base::wait_read,
          asio::bind_executor(strand_, [weak, fd, socket](const asio::error_code& ec) {
            socket->reading = false;
            auto self = weak.lock();
            if (!self || socket->removed || ec == asio::error::operation_aborted) return;
            self->action(fd, ec ? CURL_CSELECT_ERR : CURL_CSELECT_IN);
            if (!socket->removed) self->arm(fd, socket);
          }));
    }
    if ((socket->want & CURL_POLL_OUT) && !socket->writing) {
      socket->writing = true;
      socket->descriptor.async_wait(
          asio::posix::descriptor_base::wait_write,
          asio::bind_executor(strand_, [weak, fd, socket](const asio::error_code& ec) {
            socket->writing = false;
            auto self = weak.lock();
            if (!self || socket->removed || ec == asio::error::operation_aborted) return;
            self->action(fd, ec ? CURL_CSELECT_ERR : CURL_CSELECT_OUT);
            if (!socket->removed) self->arm(fd, socket);
          }));
    }
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<CurlMulti*>(user);
    if (timeout_ms < 0) {
      self->timer_.cancel();
      return 0;
    }
    // Even a zero timeout is waited for, so curl is never re-entered from its own callback.
    self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    auto weak = std::weak_ptr<CurlMulti>(self->shared_from_this());
    self->timer_.async_wait(asio::bind_executor(self->strand_, [weak](const asio::error_code& ec) {
      auto locked = weak.lock();
      if (!locked || ec) return;
      locked->action(CURL_SOCKET_TIMEOUT, 0);
    }));
    return 0;
  }

  void action(curl_socket_t fd, int events) {
    int running = 0;
    curl_.multi_socket_action(multi_, fd, events, &running);
    collect_finished();
  }

  void collect_finished() {
    int pending = 0;
    while (CURLMsg* message = curl_.multi_info_read(multi_, &pending)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      CURLcode code = message->data.result;
      auto it = active_.find(easy);
      if (it == active_.end()) continue;
      auto transfer = it->second;
      active_.erase(it);
      curl_.multi_remove_handle(multi_, easy);
      if (code == CURLE_OK) {
        long status = 0;
        curl_.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        transfer->response.status = static_cast<int>(status);
        complete(transfer, std::move(transfer->response));
      } else if (transfer->aborted_by_handler) {
        // The handler stopped the stream and keeps the reason; deliver what arrived.
        complete(transfer, std::move(transfer->response));
      } else {
        complete(transfer, transfer_error(code, *transfer));
      }
    }
  }

  void complete(const std::shared_ptr<Transfer>& transfer, Result<HttpResponse> result) {
    transfer->cancel_registration.reset();
    auto done = std::move(transfer->done);
    // Off the strand: the caller's continuation must not hold up other transfers.
    executor_.post([done = std::move(done), result = std::move(result), transfer]() mutable {
      done(std::move(result));
    });
  }

  Executor& executor_;
  const CurlLibrary& curl_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  CURLM* multi_ = nullptr;
  std::unordered_map<CURL*, std::shared_ptr<Transfer>> active_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
};

std::shared_ptr<CurlMulti> multi_for(Executor& executor, const CurlLibrary& curl) {
  auto& impl = executor.impl();
  std::lock_guard lock(impl.services_mutex);
  if (!impl.http_service) impl.http_service = std::make_shared<CurlMulti>(executor, curl);
  return std::static_pointer_cast<CurlMulti>(impl.http_service);
}

}  // namespace

std::string url_host(const std::string& url) {
  auto scheme = url.find("://");
  std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  auto end = url.find_first_of("/?#", start);
  std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  auto at = host.rfind('@');  // never show credentials in a URL
  if (at != std::string::npos) host = host.substr(at + 1);
  return host;
}

void http_send(Executor& executor, HttpRequest request, BodyHandler on_body,
               CancellationToken cancel, Callback<HttpResponse> done) {
  if (cancel.cancelled()) {
    executor.post([done = std::move(done)] { done(Error(Errc::cancelled, "request cancelled")); });
    return;
  }
  const CurlLibrary* loaded = nullptr;
  try {
    loaded = &curl_library();  // the first transfer of the process loads libcurl
  } catch (const Error& error) {
    executor.post([done = std::move(done), error] { done(error); });
    return;
  }
  const CurlLibrary& curl = *loaded;
  auto transfer = std::make_shared<Transfer>(curl);
  transfer->request = std::move(request);
  transfer->on_body = std::move(on_body);
  transfer->done = std::move(done);
  transfer->cancel = cancel;
  CURL* easy = curl.easy_init();
  if (!easy) {
    executor.post([transfer] {
      transfer->done(Error(Errc::internal, "curl_easy_init failed"));
    });
    return;
  }
  transfer->easy = easy;
  const HttpRequest& r = transfer->request;
  curl.easy_setopt(easy, CURLOPT_URL, r.url.c_str());
  curl.easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
  curl.easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl.easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error_buffer);
  curl.easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_write);
  curl.easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
  curl.easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
  curl.easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
  curl.easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl.easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  curl.easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl.easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  if (r.timeout.count() > 0) {
    curl.easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
  }
  if (r.connect_timeout.count() > 0) {
    curl.easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
  }
  if (r.method == "POST") {
    curl.easy_setopt(easy, CURLOPT_POST, 1L);
    curl.easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    curl.easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  } else if (r.method != "GET") {
    curl.easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  // No "Expect: 100-continue" round trip before the body: providers answer at once.
  transfer->header_list = curl.slist_append(transfer->header_list, "Expect:");
  for (const auto& header : r.headers) {
    transfer->header_list = curl.slist_append(transfer->header_list, header.c_str());
  }
  curl.easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->header_list);

  auto multi = multi_for(executor, curl);
  if (cancel.can_be_cancelled()) {
    std::weak_ptr<CurlMulti> weak = multi;
    transfer->cancel_registration = cancel.on_cancel([weak, easy] {
      if (auto m = weak.lock()) m->cancel(easy);
    });
  }
  multi->start(std::move(transfer));
}

}  // namespace keel::llm
