// Specifications of the scripted HTTP test double: driven with libcurl's easy interface where it
// can express the check, with raw sockets where it cannot (framing, garbage, RST, 1,000 clients).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <doctest/doctest.h>

#include "test_endpoint.hpp"

extern char** environ;

namespace {

using keel::testing::EndpointOptions;
using keel::testing::Fault;
using keel::testing::Provider;
using keel::testing::Reply;
using keel::testing::Script;
using keel::testing::SseEvent;
using keel::testing::TestEndpoint;
using keel::testing::WireToolCall;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// ---------------------------------------------------------------------------------------------
// libcurl

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};
const CurlGlobal curl_global;

struct HttpRequest {
  std::string url;
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;
  long timeout_ms = 5000;
};

struct HttpResponse {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::vector<std::string> header_lines;                          // every response, 1xx included
  std::vector<std::pair<Clock::time_point, std::string>> writes;  // one per write callback
  std::chrono::milliseconds elapsed{0};
  long new_connections = 0;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  response->body.append(data, size * count);
  response->writes.emplace_back(Clock::now(), std::string(data, size * count));
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  static_cast<HttpResponse*>(user)->header_lines.emplace_back(data, size * count);
  return size * count;
}

// Performs `request` on `easy` (reusing its connection cache).
HttpResponse perform(CURL* easy, const HttpRequest& request) {
  HttpResponse response;
  curl_slist* headers = nullptr;
  for (const auto& header : request.headers)
    headers = curl_slist_append(headers, header.c_str());
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");  // never send 127.0.0.1 through an env proxy
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  const auto start = Clock::now();
  response.code = curl_easy_perform(easy);
  response.elapsed = since(start);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &response.new_connections);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return response;
}

HttpResponse fetch(const HttpRequest& request) {
  CURL* easy = curl_easy_init();
  REQUIRE(easy != nullptr);
  auto response = perform(easy, request);
  curl_easy_cleanup(easy);
  return response;
}

HttpResponse get(const TestEndpoint& endpoint, const std::string& path, long timeout_ms = 5000) {
  return fetch({endpoint.base_url() + path, "GET", "", {}, timeout_ms});
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    connect_errno_ = connected_ ? 0 : errno;
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  int connect_errno() const { return connect_errno_; }

  void send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads until the peer closes (error() == 0), resets (ECONNRESET) or `timeout` (ETIMEDOUT).
  std::string read_until_close(std::chrono::milliseconds timeout = 5000ms) {
    return read_while([](const std::string&) { return true; }, timeout);
  }

  // Reads until `data` holds at least `count` bytes, the peer closes, or `timeout`.
  std::string read_at_least(size_t count, std::chrono::milliseconds timeout = 5000ms) {
    return read_while([count](const std::string& data) { return data.size() < count; }, timeout);
  }

  int error() const { return error_; }

 private:
  template <typename More>
  std::string read_while(More more, std::chrono::milliseconds timeout) {
    std::string data;
    const auto deadline = Clock::now() + timeout;
    error_ = ETIMEDOUT;
    while (more(data)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return data;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[16384];
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) {
        error_ = 0;
        return data;
      }
      if (n < 0) {
        error_ = errno;
        return data;
      }
      data.append(buffer, static_cast<size_t>(n));
    }
    error_ = -1;  // stopped because enough arrived
    return data;
  }

  int fd_;
  bool connected_ = false;
  int connect_errno_ = 0;
  int error_ = 0;
};

int status_of(const std::string& raw_response) {
  if (raw_response.rfind("HTTP/1.1 ", 0) != 0 || raw_response.size() < 12) return 0;
  return std::stoi(raw_response.substr(9, 3));
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

// ThreadSanitizer slows every socket call and handler several times over; the budget stays far
// below the 200 s a serialising server would need.
#if defined(__SANITIZE_THREAD__)
constexpr auto kThousandClientsBudget = 4000ms;
#else
constexpr auto kThousandClientsBudget = 1500ms;
#endif

void raise_descriptor_limit() {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("keel_test_endpoint_" + std::to_string(::getpid()) + "_" + name);
}

// The standalone program with pipes on its stdin and stdout.
struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;

  static Child spawn(const std::vector<std::string>& args) {
    int in[2];
    int out[2];
    int err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<std::string> storage = args;
    storage.insert(storage.begin(), KEEL_TEST_ENDPOINT_BIN);
    std::vector<char*> argv;
    for (auto& arg : storage)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    Child child;
    const int rc =
        posix_spawn(&child.pid, KEEL_TEST_ENDPOINT_BIN, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    REQUIRE(rc == 0);
    child.stdin_fd = in[1];
    child.stdout_fd = out[0];
    child.stderr_fd = err[0];
    return child;
  }

  std::string read_line(std::chrono::milliseconds timeout) const {
    std::string line;
    const auto deadline = Clock::now() + timeout;
    while (line.empty() || line.back() != '\n') {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{stdout_fd, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char c = 0;
      if (::read(stdout_fd, &c, 1) != 1) break;
      line += c;
    }
    return line;
  }

  // The exit status, or nullopt if the child is still running after `timeout` (then killed).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    int status = 0;
    while (Clock::now() < deadline) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

  // What the child wrote to stderr (call after it exited).
  std::string read_stderr() const {
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(stderr_fd, buffer, sizeof buffer)) > 0;) {
      text.append(buffer, static_cast<size_t>(n));
    }
    return text;
  }

  void close_stdin() {
    if (stdin_fd >= 0) ::close(stdin_fd);
    stdin_fd = -1;
  }

  ~Child() {
    close_stdin();
    if (stdout_fd >= 0) ::close(stdout_fd);
    if (stderr_fd >= 0) ::close(stderr_fd);
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

std::vector<Json> sse_payloads(const Reply& reply) {
  std::vector<Json> out;
  for (const auto& event : *reply.sse) {
    if (event.data != "[DONE]") out.push_back(Json::parse(event.data));
  }
  return out;
}

std::vector<std::string> sse_names(const Reply& reply) {
  std::vector<std::string> out;
  for (const auto& event : *reply.sse)
    out.push_back(event.event);
  return out;
}

}  // namespace

// -----------------------------------------------------------------------------------------------
// Serving scripts

TEST_CASE("a scripted JSON reply is served with its status, content type, headers and body") {
  TestEndpoint endpoint({Reply::json({{"answer", 42}}, 201).with_header("x-request-id", "req-1")});
  const auto response = get(endpoint, "/anything");
  REQUIRE(response.code == CURLE_OK);
  CHECK(response.status == 201);
  CHECK(Json::parse(response.body) == Json{{"answer", 42}});
  const auto has = [&](const std::string& line) {
    return std::find(response.header_lines.begin(), response.header_lines.end(), line + "\r\n") !=
           response.header_lines.end();
  };
  CHECK(has("Content-Type: application/json"));
  CHECK(has("x-request-id: req-1"));
  CHECK(endpoint.base_url() == "http://127.0.0.1:" + std::to_string(endpoint.port()));
}

TEST_CASE("two requests share one keep-alive connection") {
  TestEndpoint endpoint({Reply::openai_text("first"), Reply::openai_text("second")});
  CURL* easy = curl_easy_init();
  const auto first =
      perform(easy, {endpoint.base_url() + "/v1/chat/completions", "GET", "", {}, 5000});
  const auto second =
      perform(easy, {endpoint.base_url() + "/v1/chat/completions", "GET", "", {}, 5000});
  curl_easy_cleanup(easy);
  REQUIRE(first.code == CURLE_OK);
  REQUIRE(second.code == CURLE_OK);
  CHECK(first.new_connections == 1);
  CHECK(second.new_connections == 0);
  CHECK(Json::parse(first.body)["choices"][0]["message"]["content"] == "first");
  CHECK(Json::parse(second.body)["choices"][0]["message"]["content"] == "second");
}

TEST_CASE("pipelined requests on one connection are answered in order") {
  TestEndpoint endpoint({Reply::text("one"), Reply::text("two")});
  RawConnection connection(endpoint.port());
  REQUIRE(connection.connected());
  connection.send(
      "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  const auto raw = connection.read_until_close();
  CHECK(connection.error() == 0);
  CHECK(count_of(raw, "HTTP/1.1 200 OK") == 2);
  CHECK(raw.find("one") < raw.find("two"));
  CHECK(raw.find("Connection: keep-alive") < raw.find("Connection: close"));
}

TEST_CASE("replies are matched by a substring of the path") {
  TestEndpoint endpoint({Reply::openai_embeddings({{1.0f, 0.0f}}).matching("/embeddings"),
                         Reply::openai_text("chat").matching("/chat/completions")});
  const auto chat = get(endpoint, "/v1/chat/completions");
  const auto embeddings = get(endpoint, "/v1/embeddings");
  CHECK(Json::parse(chat.body)["object"] == "chat.completion");
  CHECK(Json::parse(embeddings.body)["object"] == "list");
  CHECK(endpoint.unused_replies() == 0);
}

TEST_CASE("a repeating reply is never used up") {
  TestEndpoint endpoint({Reply::text("again").matching("/a").repeated()});
  for (int i = 0; i < 5; ++i) {
    const auto response = get(endpoint, "/a");
    CHECK(response.status == 200);
    CHECK(response.body == "again");
  }
  CHECK(get(endpoint, "/b").status == 500);
}

TEST_CASE("an exhausted script answers 500 with a test_endpoint error") {
  TestEndpoint endpoint({Reply::text("only")});
  CHECK(get(endpoint, "/").body == "only");
  const auto response = get(endpoint, "/");
  CHECK(response.status == 500);
  CHECK(Json::parse(response.body) ==
        Json::parse(R"({"error": {"message": "test endpoint: script exhausted",
                                  "type": "test_endpoint"}})"));
}

TEST_CASE("the default reply answers when nothing in the script matches") {
  TestEndpoint endpoint;
  endpoint.set_default(Reply::error(404, "not_found_error", "no such model"));
  endpoint.push(Reply::text("pushed"));
  CHECK(get(endpoint, "/").body == "pushed");
  CHECK(get(endpoint, "/").status == 404);
  CHECK(get(endpoint, "/").status == 404);
}

TEST_CASE("reset replaces the script and forgets the recorded requests") {
  TestEndpoint endpoint({Reply::text("old")});
  CHECK(get(endpoint, "/").body == "old");
  endpoint.reset(Script{Reply::text("new")});
  CHECK(endpoint.requests().empty());
  CHECK(get(endpoint, "/").body == "new");
  CHECK(endpoint.requests().size() == 1);
}

TEST_CASE("delay_ms holds the status line back") {
  TestEndpoint endpoint({Reply::text("late").with_delay(300ms)});
  const auto response = get(endpoint, "/");
  CHECK(response.code == CURLE_OK);
  CHECK(response.elapsed >= 300ms);
  CHECK(response.elapsed < 1500ms);
}

// -----------------------------------------------------------------------------------------------
// Faults

TEST_CASE("fault close: the request is read, then the connection closes without a response") {
  TestEndpoint endpoint(
      {Reply::text("x").with_fault(Fault::close), Reply::text("x").with_fault(Fault::close)});
  const auto response = get(endpoint, "/v1/chat/completions");
  CHECK(response.code == CURLE_GOT_NOTHING);  // "Empty reply from server"
  CHECK(endpoint.requests().size() == 1);

  RawConnection connection(endpoint.port());
  connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(connection.read_until_close().empty());
  CHECK(connection.error() == 0);  // an orderly FIN
}

TEST_CASE("fault reset: the connection is aborted with RST") {
  TestEndpoint endpoint(
      {Reply::text("x").with_fault(Fault::reset), Reply::text("x").with_fault(Fault::reset)});
  const auto response = get(endpoint, "/");
  CHECK(response.code == CURLE_RECV_ERROR);  // "Recv failure: Connection reset by peer"

  RawConnection connection(endpoint.port());
  connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(connection.read_until_close().empty());
  CHECK(connection.error() == ECONNRESET);
}

TEST_CASE("fault stall: the client times out, then the server releases the connection") {
  TestEndpoint endpoint({Reply::text("never").with_fault(Fault::stall)});
  const auto response = get(endpoint, "/", 300);
  CHECK(response.code == CURLE_OPERATION_TIMEDOUT);
  CHECK(response.elapsed >= 250ms);  // curl's own clock is coarse
  CHECK(endpoint.requests().size() == 1);
  const auto start = Clock::now();
  while (endpoint.active_connections() > 0 && since(start) < 2s)
    std::this_thread::sleep_for(5ms);
  CHECK(endpoint.active_connections() == 0);
}

// What a client author must know: libcurl silently resends a request once when a connection it
// reused dies before any response byte (it cannot tell a fault from a stale keep-alive), so on a
// reused connection a close or reset fault costs one extra scripted reply instead of an error.
TEST_CASE("libcurl resends once when a reused connection closes or resets without a response") {
  for (const Fault fault : {Fault::close, Fault::reset}) {
    INFO("fault " << static_cast<int>(fault));
    TestEndpoint endpoint(
        {Reply::text("first"), Reply::text("x").with_fault(fault), Reply::text("second")});
    CURL* easy = curl_easy_init();
    const auto first = perform(easy, {endpoint.base_url() + "/", "GET", "", {}, 5000});
    const auto second = perform(easy, {endpoint.base_url() + "/", "GET", "", {}, 5000});
    curl_easy_cleanup(easy);
    CHECK(first.body == "first");
    CHECK(second.code == CURLE_OK);
    CHECK(second.body == "second");
    CHECK(endpoint.requests().size() == 3);
  }
}

TEST_CASE("fault truncate: headers and half the body arrive, then the connection closes") {
  TestEndpoint endpoint({Reply::text("0123456789").with_fault(Fault::truncate)});
  const auto response = get(endpoint, "/");
  CHECK(response.code == CURLE_PARTIAL_FILE);  // "transfer closed with 5 bytes remaining"
  CHECK(response.status == 200);
  CHECK(response.body == "01234");
}

TEST_CASE("fault truncate on a stream: the final events and the last chunk are missing") {
  TestEndpoint endpoint({Reply::events({{"", "one"}, {"", "two"}, {"", "three"}, {"", "four"}})
                             .with_fault(Fault::truncate)});
  const auto response = get(endpoint, "/");
  CHECK(response.code == CURLE_PARTIAL_FILE);
  CHECK(response.body == "data: one\n\ndata: two\n\n");
}

TEST_CASE("destroying the endpoint releases stalled and delayed connections at once") {
  auto endpoint = std::make_unique<TestEndpoint>(
      Script{Reply::text("x").with_fault(Fault::stall).matching("/stall"),
             Reply::text("x").with_delay(60s).matching("/slow")});
  RawConnection stalled(endpoint->port());
  RawConnection delayed(endpoint->port());
  stalled.send("GET /stall HTTP/1.1\r\nHost: t\r\n\r\n");
  delayed.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(endpoint->wait_for_requests(2, 2s));
  CHECK(endpoint->active_connections() == 2);
  const auto start = Clock::now();
  endpoint.reset();
  CHECK(since(start) < 1s);
  CHECK(stalled.read_until_close(2s).empty());
  CHECK(stalled.error() != ETIMEDOUT);
  CHECK(delayed.read_until_close(2s).empty());
  CHECK(delayed.error() != ETIMEDOUT);
}

// -----------------------------------------------------------------------------------------------
// Server-sent events

TEST_CASE("SSE events arrive in order, one chunk each, spaced by the interval") {
  TestEndpoint endpoint(
      {Reply::events({{"", "a"}, {"ping", "b"}, {"", "c"}, {"", "d"}}).with_sse_interval(100ms)});
  const auto response = get(endpoint, "/v1/chat/completions");
  REQUIRE(response.code == CURLE_OK);
  CHECK(response.body == "data: a\n\nevent: ping\ndata: b\n\ndata: c\n\ndata: d\n\n");
  REQUIRE(response.writes.size() == 4);  // no two events coalesced into one read
  CHECK(response.writes[1].second == "event: ping\ndata: b\n\n");
  for (size_t i = 1; i < response.writes.size(); ++i) {
    CHECK(response.writes[i].first - response.writes[i - 1].first >= 90ms);
  }
  CHECK(response.elapsed >= 300ms);
}

TEST_CASE("SSE replies are chunked text/event-stream with one event per chunk") {
  TestEndpoint endpoint({Reply::events({{"", "{\"x\":1}"}, {"message_stop", "multi\nline"}})});
  RawConnection connection(endpoint.port());
  connection.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  const auto raw = connection.read_until_close();
  const auto head_end = raw.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  const auto head = raw.substr(0, head_end);
  CHECK(head.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  const std::string first = "data: {\"x\":1}\n\n";
  const std::string second = "event: message_stop\ndata: multi\ndata: line\n\n";
  char size_line[32];
  std::string expected;
  for (const auto& payload : {first, second}) {
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", payload.size());
    expected += size_line + payload + "\r\n";
  }
  expected += "0\r\n\r\n";
  CHECK(raw.substr(head_end + 4) == expected);
}

// -----------------------------------------------------------------------------------------------
// Requests

TEST_CASE("requests are recorded with method, path, lower-cased headers and body") {
  TestEndpoint endpoint({Reply::openai_text("ok")});
  const auto before = std::chrono::system_clock::now();
  const auto response = fetch({endpoint.base_url() + "/v1/chat/completions?api-version=2024",
                               "POST",
                               R"({"model":"m","messages":[]})",
                               {"Authorization: Bearer sk-test", "X-Custom-Header: Value",
                                "Content-Type: application/json"}});
  REQUIRE(response.code == CURLE_OK);
  REQUIRE(endpoint.wait_for_requests(1, 1s));
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 1);
  const auto& request = requests[0];
  CHECK(request.method == "POST");
  CHECK(request.path == "/v1/chat/completions?api-version=2024");
  CHECK(request.headers.at("authorization") == "Bearer sk-test");
  CHECK(request.headers.at("x-custom-header") == "Value");
  CHECK(request.header("Content-Type") == "application/json");
  CHECK(request.body == R"({"model":"m","messages":[]})");
  CHECK(request.json_body()["model"] == "m");
  CHECK(request.received_at >= before);
  CHECK(request.received_at <= std::chrono::system_clock::now());
  CHECK_FALSE(endpoint.wait_for_requests(2, 50ms));
}

TEST_CASE("Expect: 100-continue gets 100 Continue before a 4 KiB body is sent") {
  TestEndpoint endpoint({Reply::openai_text("ok")});
  const std::string body(4096, 'k');
  // curl >= 7.69 only adds the header by itself above 1 MiB or for uploads of unknown size.
  const auto response = fetch({endpoint.base_url() + "/v1/chat/completions",
                               "POST",
                               body,
                               {"Content-Type: application/json", "Expect: 100-continue"},
                               5000});
  REQUIRE(response.code == CURLE_OK);
  CHECK(response.status == 200);
  const bool continued =
      std::any_of(response.header_lines.begin(), response.header_lines.end(),
                  [](const std::string& line) { return line.rfind("HTTP/1.1 100", 0) == 0; });
  CHECK(continued);
  CHECK(response.elapsed < 900ms);  // without the 100, curl waits 1 s before sending the body
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("expect") == "100-continue");
  CHECK(requests[0].body == body);
}

namespace {
struct UploadSource {
  std::vector<std::string> pieces;
  size_t next = 0;
};
size_t read_piece(char* buffer, size_t size, size_t count, void* user) {
  auto* source = static_cast<UploadSource*>(user);
  if (source->next == source->pieces.size()) return 0;
  const auto& piece = source->pieces[source->next++];
  const auto n = std::min(piece.size(), size * count);
  std::memcpy(buffer, piece.data(), n);
  return n;
}
}  // namespace

TEST_CASE("a chunked request body is decoded") {
  TestEndpoint endpoint({Reply::text("ok")});
  UploadSource source{{"{\"input\":", " [\"a\", ", "\"b\"]}"}};
  CURL* easy = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Transfer-Encoding: chunked");
  const std::string url = endpoint.base_url() + "/v1/embeddings";
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_piece);
  curl_easy_setopt(easy, CURLOPT_READDATA, &source);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
  HttpResponse response;
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response);
  const auto code = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
  REQUIRE(code == CURLE_OK);
  CHECK(response.body == "ok");
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("transfer-encoding") == "chunked");
  CHECK(requests[0].header("expect") == "100-continue");  // curl asks for uploads of unknown size
  CHECK(requests[0].body == R"({"input": ["a", "b"]})");
}

TEST_CASE("malformed requests get 400 and a close, and the server keeps serving") {
  TestEndpoint endpoint;
  endpoint.set_default(Reply::text("fine"));
  const std::vector<std::string> garbage = {
      "GARBAGE\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS ClientHello
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1\r\n folded: header\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX",
  };
  for (const auto& request : garbage) {
    CAPTURE(request);
    RawConnection connection(endpoint.port());
    connection.send(request);
    const auto raw = connection.read_until_close(3s);
    CHECK(status_of(raw) == 400);
    CHECK(raw.find("Connection: close") != std::string::npos);
    CHECK(connection.error() == 0);
  }
  {
    RawConnection connection(endpoint.port());
    connection.send("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    CHECK(status_of(connection.read_until_close(3s)) == 501);
  }
  {
    RawConnection connection(endpoint.port());
    connection.send("GET / HTTP/1.1\r\nX: " + std::string(70 * 1024, 'x'));
    CHECK(status_of(connection.read_until_close(3s)) == 431);
  }
  CHECK(endpoint.requests().empty());
  CHECK(get(endpoint, "/").body == "fine");
}

// -----------------------------------------------------------------------------------------------
// Load and ports

TEST_CASE("a thousand concurrent connections with 200 ms delays finish in well under 2 s") {
  raise_descriptor_limit();
  constexpr size_t kClients = 1000;
  TestEndpoint endpoint({Reply::openai_text("ok").with_delay(200ms).repeated()});

  struct Client {
    int fd = -1;
    std::string request;
    size_t sent = 0;
    std::string response;
    bool done = false;
  };
  std::vector<Client> clients(kClients);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(endpoint.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  const auto start = Clock::now();
  for (size_t i = 0; i < kClients; ++i) {
    auto& client = clients[i];
    client.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(client.fd >= 0);
    const int rc = ::connect(client.fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    REQUIRE((rc == 0 || errno == EINPROGRESS));
    client.request = "POST /v1/chat/completions?client=" + std::to_string(i) +
                     " HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
  }
  // All connections open before the first request, so the server must hold 1,000 at once.
  std::vector<pollfd> fds;
  for (const auto& client : clients)
    fds.push_back({client.fd, POLLOUT, 0});
  for (size_t connected = 0; connected < kClients && since(start) < 10s;) {
    REQUIRE(::poll(fds.data(), fds.size(), 100) >= 0);
    for (auto& pfd : fds) {
      if (pfd.revents == 0) continue;
      ++connected;
      pfd.fd = -pfd.fd - 1;  // poll ignores negative descriptors
    }
  }
  while (endpoint.active_connections() < kClients && since(start) < 10s) {
    std::this_thread::sleep_for(1ms);
  }
  const size_t held_open = endpoint.active_connections();

  size_t remaining = kClients;
  std::vector<size_t> index;
  while (remaining > 0 && since(start) < 10s) {
    fds.clear();
    index.clear();
    for (size_t i = 0; i < kClients; ++i) {
      if (clients[i].done) continue;
      const short events = clients[i].sent < clients[i].request.size() ? POLLOUT : POLLIN;
      fds.push_back({clients[i].fd, events, 0});
      index.push_back(i);
    }
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      auto& client = clients[index[k]];
      if (client.sent < client.request.size()) {
        const auto n = ::send(client.fd, client.request.data() + client.sent,
                              client.request.size() - client.sent, MSG_NOSIGNAL);
        if (n > 0) {
          client.sent += static_cast<size_t>(n);
        } else if (errno != EAGAIN) {
          client.done = true;
          --remaining;
        }
        continue;
      }
      char buffer[4096];
      for (;;) {
        const auto n = ::recv(client.fd, buffer, sizeof buffer, 0);
        if (n > 0) {
          client.response.append(buffer, static_cast<size_t>(n));
          continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        client.done = true;
        --remaining;
        break;
      }
    }
  }
  const auto elapsed = since(start);
  size_t ok = 0;
  for (auto& client : clients) {
    if (status_of(client.response) == 200 && client.response.find("\"ok\"") != std::string::npos) {
      ++ok;
    }
    ::close(client.fd);
  }
  MESSAGE("1000 clients (connect, request, 200 ms delay, response) served in " << elapsed.count()
                                                                               << " ms");
  CHECK(held_open == kClients);
  CHECK(ok == kClients);
  CHECK(elapsed >= 200ms);
  CHECK(elapsed < kThousandClientsBudget);  // one after the other would take 200 s
  CHECK(endpoint.requests().size() == kClients);
}

TEST_CASE("unused_port refuses connections") {
  const int port = TestEndpoint::unused_port();
  CHECK(port > 0);
  RawConnection raw(port);
  CHECK_FALSE(raw.connected());
  CHECK(raw.connect_errno() == ECONNREFUSED);
  const auto response =
      fetch({"http://127.0.0.1:" + std::to_string(port) + "/", "GET", "", {}, 2000});
  CHECK(response.code == CURLE_COULDNT_CONNECT);
}

TEST_CASE("a port given in the options is used") {
  const int port = TestEndpoint::unused_port();
  EndpointOptions options;
  options.port = port;
  TestEndpoint endpoint({Reply::text("here")}, options);
  CHECK(endpoint.port() == port);
  CHECK(get(endpoint, "/").body == "here");
  CHECK_THROWS_AS(TestEndpoint(Script{}, options), std::runtime_error);  // already taken
}

// -----------------------------------------------------------------------------------------------
// Wire formats

TEST_CASE("openai_text and openai_tool_calls follow the chat completions format") {
  const auto text = Json::parse(Reply::openai_text("Hello", 12, 3).body);
  CHECK(text["object"] == "chat.completion");
  CHECK(text["choices"][0]["index"] == 0);
  CHECK(text["choices"][0]["message"]["role"] == "assistant");
  CHECK(text["choices"][0]["message"]["content"] == "Hello");
  CHECK(text["choices"][0]["finish_reason"] == "stop");
  CHECK(text["usage"] ==
        Json{{"prompt_tokens", 12}, {"completion_tokens", 3}, {"total_tokens", 15}});

  const auto calls =
      Json::parse(Reply::openai_tool_calls({{"call_1", "get_weather", R"({"city":"Paris"})"},
                                            {"call_2", "get_time", "{}"}})
                      .body);
  const auto& message = calls["choices"][0]["message"];
  CHECK(message["content"].is_null());
  REQUIRE(message["tool_calls"].size() == 2);
  CHECK(message["tool_calls"][0] == Json::parse(R"({"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})"));
  CHECK(message["tool_calls"][1]["id"] == "call_2");
  CHECK(calls["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("openai stream helpers send deltas, finish_reason, usage and [DONE]") {
  const auto text = Reply::openai_stream_text({"Hel", "lo"});
  REQUIRE(text.sse);
  CHECK(text.sse->back().data == "[DONE]");
  const auto chunks = sse_payloads(text);
  REQUIRE(chunks.size() == 5);  // role, two pieces, finish, usage
  CHECK(chunks[0]["object"] == "chat.completion.chunk");
  CHECK(chunks[0]["choices"][0]["delta"]["role"] == "assistant");
  CHECK(chunks[1]["choices"][0]["delta"]["content"] == "Hel");
  CHECK(chunks[2]["choices"][0]["delta"]["content"] == "lo");
  CHECK(chunks[2]["choices"][0]["finish_reason"].is_null());
  CHECK(chunks[3]["choices"][0]["finish_reason"] == "stop");
  CHECK(chunks[4]["choices"].empty());
  CHECK(chunks[4]["usage"]["completion_tokens"] == 2);
  CHECK(sse_payloads(Reply::openai_stream_text({"x"}, false)).size() == 3);

  const auto tool = Reply::openai_stream_tool_call("call_9", "search", {"{\"q\":", "\"keel\"}"});
  const auto tool_chunks = sse_payloads(tool);
  const auto& first = tool_chunks[0]["choices"][0]["delta"]["tool_calls"][0];
  CHECK(first["index"] == 0);
  CHECK(first["id"] == "call_9");
  CHECK(first["type"] == "function");
  CHECK(first["function"]["name"] == "search");
  std::string arguments;
  for (const auto& chunk : tool_chunks) {
    if (chunk["choices"].empty()) continue;
    const auto& delta = chunk["choices"][0]["delta"];
    if (delta.contains("tool_calls")) {
      CHECK(delta["tool_calls"][0]["index"] == 0);
      arguments += delta["tool_calls"][0]["function"]["arguments"].get<std::string>();
    }
  }
  CHECK(arguments == R"({"q":"keel"})");
  CHECK(tool_chunks[3]["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("openai_embeddings follows the embeddings format") {
  const auto body = Json::parse(Reply::openai_embeddings({{0.5f, -1.0f}, {0.25f, 2.0f}}).body);
  CHECK(body["object"] == "list");
  REQUIRE(body["data"].size() == 2);
  CHECK(body["data"][1]["object"] == "embedding");
  CHECK(body["data"][1]["index"] == 1);
  CHECK(body["data"][1]["embedding"] == Json::array({0.25, 2.0}));
  CHECK(body["model"].is_string());
  CHECK(body["usage"]["prompt_tokens"].is_number_integer());
}

TEST_CASE("anthropic_text and anthropic_tool_use follow the Messages format") {
  const auto text = Json::parse(Reply::anthropic_text("Hi").body);
  CHECK(text["type"] == "message");
  CHECK(text["role"] == "assistant");
  CHECK(text["content"] == Json::parse(R"([{"type": "text", "text": "Hi"}])"));
  CHECK(text["stop_reason"] == "end_turn");
  CHECK(text["usage"] == Json{{"input_tokens", 10}, {"output_tokens", 5}});

  const auto tool = Json::parse(
      Reply::anthropic_tool_use("toolu_1", "lookup", {{"id", 7}}, "Let me check.").body);
  REQUIRE(tool["content"].size() == 2);
  CHECK(tool["content"][0]["text"] == "Let me check.");
  CHECK(tool["content"][1] == Json::parse(R"({"type": "tool_use", "id": "toolu_1",
                                               "name": "lookup", "input": {"id": 7}})"));
  CHECK(tool["stop_reason"] == "tool_use");
}

TEST_CASE("anthropic stream helpers send the documented event sequence") {
  const auto text = Reply::anthropic_stream_text({"Hel", "lo"});
  CHECK(sse_names(text) == std::vector<std::string>{"message_start", "content_block_start", "ping",
                                                    "content_block_delta", "content_block_delta",
                                                    "content_block_stop", "message_delta",
                                                    "message_stop"});
  const auto payloads = sse_payloads(text);
  for (size_t i = 0; i < payloads.size(); ++i)
    CHECK(payloads[i]["type"] == (*text.sse)[i].event);
  CHECK(payloads[0]["message"]["content"].empty());
  CHECK(payloads[1]["content_block"] == Json{{"type", "text"}, {"text", ""}});
  CHECK(payloads[3]["delta"] == Json{{"type", "text_delta"}, {"text", "Hel"}});
  CHECK(payloads[6]["delta"]["stop_reason"] == "end_turn");
  CHECK(payloads[6]["usage"]["output_tokens"].is_number_integer());

  const auto tool = Reply::anthropic_stream_tool_use("toolu_2", "search", {"{\"q\": ", "\"x\"}"});
  const auto tool_payloads = sse_payloads(tool);
  CHECK(tool_payloads[1]["content_block"] ==
        Json::parse(R"({"type": "tool_use", "id": "toolu_2", "name": "search", "input": {}})"));
  std::string partial;
  for (const auto& payload : tool_payloads) {
    if (payload["type"] == "content_block_delta") {
      CHECK(payload["delta"]["type"] == "input_json_delta");
      partial += payload["delta"]["partial_json"].get<std::string>();
    }
  }
  CHECK(Json::parse(partial) == Json{{"q", "x"}});
  CHECK(tool_payloads[tool_payloads.size() - 2]["delta"]["stop_reason"] == "tool_use");

  const auto failing = Reply::anthropic_stream_error({"partial"});
  CHECK(failing.sse->back().event == "error");
  CHECK(Json::parse(failing.sse->back().data) == Json::parse(R"({"type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"}})"));
}

TEST_CASE("error replies use each provider's error shape") {
  const auto openai = Reply::error(429, "rate_limit_exceeded", "slow down");
  CHECK(openai.status == 429);
  CHECK(Json::parse(openai.body)["error"]["type"] == "rate_limit_exceeded");
  CHECK(Json::parse(openai.body)["error"]["message"] == "slow down");
  const auto anthropic = Reply::error(529, "overloaded_error", "Overloaded", Provider::anthropic);
  CHECK(anthropic.status == 529);
  CHECK(Json::parse(anthropic.body) == Json::parse(R"({"type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"}})"));
}

// -----------------------------------------------------------------------------------------------
// Script JSON

TEST_CASE("Reply JSON round-trips and script_from_json accepts both script forms") {
  const Reply stream = Reply::anthropic_stream_text({"a"})
                           .with_sse_interval(5ms)
                           .with_delay(7ms)
                           .with_header("retry-after", "1")
                           .matching("/messages")
                           .repeated();
  CHECK(Reply::from_json(stream.to_json()) == stream);
  const Reply faulty = Reply::text("t", "text/plain", 503).with_fault(Fault::truncate);
  CHECK(Reply::from_json(faulty.to_json()) == faulty);

  const auto script = TestEndpoint::script_from_json(Json::parse(R"({
    "replies": [
      {"json": {"a": 1}, "status": 201, "match": "/x"},
      {"sse": ["one", {"event": "e", "data": {"k": 2}}], "sse_interval_ms": 10},
      {"openai_text": "hi", "delay_ms": 5},
      {"error": {"status": 429, "type": "rate_limit_error", "message": "m",
                 "provider": "anthropic"}, "headers": {"retry-after": "2"}}
    ],
    "default": {"body": "fallback", "content_type": "text/plain"}})"));
  REQUIRE(script.replies.size() == 4);
  CHECK(script.replies[0].status == 201);
  CHECK(script.replies[0].body == R"({"a":1})");
  CHECK(script.replies[0].match == "/x");
  CHECK(*script.replies[1].sse == std::vector<SseEvent>{{"", "one"}, {"e", R"({"k":2})"}});
  CHECK(script.replies[1].sse_interval == 10ms);
  CHECK(script.replies[2].body == Reply::openai_text("hi").body);
  CHECK(script.replies[2].delay == 5ms);
  CHECK(script.replies[3].status == 429);
  CHECK(script.replies[3].headers.at("retry-after") == "2");
  CHECK(Json::parse(script.replies[3].body)["type"] == "error");
  REQUIRE(script.default_reply);
  CHECK(script.default_reply->body == "fallback");

  const auto bare = TestEndpoint::script_from_json(
      Json::parse(R"([{"anthropic_stream_tool_use": {"id": "t", "name": "n",
                                                     "partial_json": ["{}"]}, "fault": "stall"}])"));
  REQUIRE(bare.replies.size() == 1);
  CHECK(bare.replies[0].fault == Fault::stall);
  CHECK(bare.replies[0].sse == Reply::anthropic_stream_tool_use("t", "n", {"{}"}).sse);
}

TEST_CASE("script_from_json names the path of what is wrong") {
  const auto problem = [](const char* text) {
    try {
      TestEndpoint::script_from_json(Json::parse(text));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(problem(R"({"replies": [{}, {"fault": "explode"}]})") ==
        "replies[1].fault: expected one of none, close, reset, stall, truncate");
  CHECK(problem(R"([{"delay_ms": -1}])") ==
        "replies[0].delay_ms: expected integer in [0, 3600000]");
  CHECK(problem(R"([{"bodyy": "x"}])") == "replies[0].bodyy: unknown key");
  CHECK(problem(R"([{"body": "x", "json": {}}])") ==
        "replies[0]: body, json and sse are mutually exclusive");
  CHECK(problem(R"({"default": {"sse": [{"event": "e"}]}})") == "default.sse[0].data: missing");
  CHECK(problem(R"({"replies": [], "extra": 1})") == "script.extra: unknown key");
  CHECK(problem(R"([{"openai_tool_calls": [{"id": "a", "name": 3, "arguments": "{}"}]}])") ==
        "replies[0].openai_tool_calls[0].name: expected string");
  CHECK(problem("42") ==
        R"(script: expected {"replies": [...], "default": {...}} or an array of replies)");
}

// -----------------------------------------------------------------------------------------------
// The standalone program

TEST_CASE("keel_test_endpoint prints its port line, serves, records and exits when stdin closes") {
  const auto script_path = temp_path("script.json");
  const auto record_path = temp_path("record.jsonl");
  std::filesystem::remove(record_path);
  std::ofstream(script_path) << R"({"replies": [{"openai_text": "from the program"}]})";

  Child child = Child::spawn({script_path.string(), "--record", record_path.string()});
  const auto line = child.read_line(10s);
  const auto parsed = Json::parse(line);
  const int port = parsed.at("port").get<int>();
  CHECK(line == "{\"port\": " + std::to_string(port) +
                    ", \"base_url\": \"http://127.0.0.1:" + std::to_string(port) + "\"}\n");

  const auto response = fetch({parsed.at("base_url").get<std::string>() + "/v1/chat/completions",
                               "POST",
                               R"({"model":"m"})",
                               {"Content-Type: application/json"}});
  REQUIRE(response.code == CURLE_OK);
  CHECK(Json::parse(response.body)["choices"][0]["message"]["content"] == "from the program");

  child.close_stdin();
  CHECK(child.wait_exit(5s) == std::optional<int>(0));

  std::ifstream record(record_path);
  std::string record_line;
  REQUIRE(std::getline(record, record_line));
  const auto recorded = Json::parse(record_line);
  CHECK(recorded["method"] == "POST");
  CHECK(recorded["path"] == "/v1/chat/completions");
  CHECK(recorded["headers"]["content-type"] == "application/json");
  CHECK(recorded["body"] == R"({"model":"m"})");
  CHECK_FALSE(std::getline(record, record_line));
  std::filesystem::remove(script_path);
  std::filesystem::remove(record_path);
}

TEST_CASE("keel_test_endpoint stops on SIGTERM and rejects bad arguments") {
  const auto script_path = temp_path("sigterm.json");
  std::ofstream(script_path) << R"([{"body": "x", "repeat": true}])";
  Child child = Child::spawn({script_path.string()});
  CHECK(Json::parse(child.read_line(10s)).contains("port"));
  ::kill(child.pid, SIGTERM);
  CHECK(child.wait_exit(5s) == std::optional<int>(0));

  Child no_script = Child::spawn({});
  CHECK(no_script.wait_exit(5s) == std::optional<int>(2));
  CHECK(no_script.read_stderr().find("usage: keel_test_endpoint SCRIPT.json") != std::string::npos);

  std::ofstream(script_path) << R"([{"fault": "explode"}])";
  Child bad_script = Child::spawn({script_path.string()});
  CHECK(bad_script.wait_exit(5s) == std::optional<int>(2));
  CHECK(bad_script.read_stderr().find("replies[0].fault: expected one of") != std::string::npos);
  std::filesystem::remove(script_path);
}
