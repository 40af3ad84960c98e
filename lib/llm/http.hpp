// Internal: an asynchronous HTTP client on libcurl's multi interface, driven by the executor's
// Asio event loop (curl's socket and timer callbacks become Asio waits on a strand), so many
// requests in flight need no thread each. One curl multi handle per executor: transfers share
// its connection pool. TLS verification is on; proxies come from the environment
// (https_proxy, HTTPS_PROXY, no_proxy) as libcurl reads them. libcurl itself is loaded by the
// first http_send of the process (llm/curl_library.hpp), not when libkeel.so is.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "keel/executor.hpp"
#include "keel/result.hpp"

namespace keel::llm {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::chrono::milliseconds timeout{0};  // the whole transfer; 0 = none
  std::chrono::milliseconds connect_timeout{10000};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;  // all of it, except the parts handed to a streaming handler
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// Receives body bytes of a 2xx response as they arrive (on the event loop). Returning false
/// aborts the transfer (the completion then carries the error the handler reported through
/// its own state). Non-2xx bodies are not streamed: they go to HttpResponse::body.
using BodyHandler = std::function<bool(std::string_view chunk)>;

/// Sends a request; `done` runs once on an executor thread. Network failures are keel errors
/// with ErrorDetails (connect failures unavailable, timeouts timeout, resets io; all
/// retryable); HTTP error statuses are not errors here — the caller reads the status. When
/// libcurl cannot be loaded, `done` gets an unavailable, non-retryable error that says so.
void http_send(Executor& executor, HttpRequest request, BodyHandler on_body,
               CancellationToken cancel, Callback<HttpResponse> done);

/// The host part of a URL, for messages (never the path or query, which may hold keys).
std::string url_host(const std::string& url);

}  // namespace keel::llm
