// The scripted HTTP test double behind test_endpoint.hpp: reply values and their JSON form, the
// provider wire-format helpers, a small strict HTTP/1.1 request parser, and the Asio server.
#include "test_endpoint.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include <asio.hpp>

namespace keel::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;
constexpr std::size_t kMaxChunkLineBytes = 4096;
constexpr int kListenBacklog = 4096;
constexpr std::int64_t kCreated = 1700000000;  // fixed, so replies are reproducible
constexpr const char* kChatId = "chatcmpl-keel-test";
constexpr const char* kMessageId = "msg_keel_test";
constexpr const char* kModel = "keel-test-model";
constexpr const char* kEmbeddingModel = "keel-test-embedding";

// ---------------------------------------------------------------------------------------------
// Small text helpers

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// True if the comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = trim(value.substr(0, comma));
    if (lower(item) == token) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

const std::string* find_header(const std::map<std::string, std::string>& headers,
                               std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (lower(name) == lower_name) return &value;
  }
  return nullptr;
}

// Dumps JSON that may hold user text; invalid UTF-8 becomes U+FFFD instead of throwing.
std::string serialize(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

constexpr std::pair<int, const char*> kReasonPhrases[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {413, "Content Too Large"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {529, "Overloaded"},
};

const char* reason_phrase(int status) {
  for (const auto& [code, phrase] : kReasonPhrases) {
    if (code == status) return phrase;
  }
  return "Status";  // clients must not depend on the phrase (RFC 9112 4)
}

// ---------------------------------------------------------------------------------------------
// JSON form of replies: typed getters that name the path of what is wrong.

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::invalid_argument((path.empty() ? std::string("reply") : path) + ": " + problem);
}

std::string at(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string at(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string get_string(const Json& j, const std::string& path) {
  if (!j.is_string()) fail(path, "expected string");
  return j.get<std::string>();
}

std::int64_t get_integer(const Json& j, const std::string& path, std::int64_t min,
                         std::int64_t max) {
  if (!j.is_number_integer()) fail(path, "expected integer");
  const auto value = j.get<std::int64_t>();
  if (value < min || value > max) {
    fail(path, "expected integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value;
}

std::vector<std::string> get_strings(const Json& j, const std::string& path) {
  if (!j.is_array()) fail(path, "expected array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j.size(); ++i)
    out.push_back(get_string(j[i], at(path, i)));
  return out;
}

const Json& get_member(const Json& object, std::string_view key, const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end()) fail(at(path, key), "missing");
  return *it;
}

void check_keys(const Json& object, std::initializer_list<std::string_view> allowed,
                const std::string& path) {
  if (!object.is_object()) fail(path, "expected object");
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      fail(at(path, item.key()), "unknown key");
    }
  }
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

Fault parse_fault(const Json& j, const std::string& path) {
  const std::string name = get_string(j, path);
  if (name == "none") return Fault::none;
  if (name == "close") return Fault::close;
  if (name == "reset") return Fault::reset;
  if (name == "stall") return Fault::stall;
  if (name == "truncate") return Fault::truncate;
  fail(path, "expected one of none, close, reset, stall, truncate");
}

const char* fault_name(Fault fault) {
  switch (fault) {
    case Fault::none:
      return "none";
    case Fault::close:
      return "close";
    case Fault::reset:
      return "reset";
    case Fault::stall:
      return "stall";
    case Fault::truncate:
      return "truncate";
  }
  return "none";
}

SseEvent parse_sse_event(const Json& j, const std::string& path) {
  if (j.is_string()) return SseEvent{"", j.get<std::string>()};
  check_keys(j, {"event", "data"}, path);
  SseEvent event;
  if (j.contains("event")) {
    event.event = get_string(j["event"], at(path, "event"));
    if (has_line_break(event.event)) fail(at(path, "event"), "must be one line");
  }
  const Json& data = get_member(j, "data", path);
  event.data = data.is_string() ? data.get<std::string>() : serialize(data);
  return event;
}

std::vector<std::vector<float>> parse_vectors(const Json& j, const std::string& path) {
  if (!j.is_array()) fail(path, "expected array of arrays of numbers");
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto row_path = at(path, i);
    if (!j[i].is_array()) fail(row_path, "expected array of numbers");
    std::vector<float> row;
    for (std::size_t k = 0; k < j[i].size(); ++k) {
      if (!j[i][k].is_number()) fail(at(row_path, k), "expected number");
      row.push_back(j[i][k].get<float>());
    }
    out.push_back(std::move(row));
  }
  return out;
}

constexpr std::array<std::string_view, 11> kHelperKeys = {"openai_text",
                                                          "openai_tool_calls",
                                                          "openai_stream_text",
                                                          "openai_stream_tool_call",
                                                          "openai_embeddings",
                                                          "anthropic_text",
                                                          "anthropic_tool_use",
                                                          "anthropic_stream_text",
                                                          "anthropic_stream_tool_use",
                                                          "anthropic_stream_error",
                                                          "error"};

Reply reply_from_helper(std::string_view key, const Json& arg, const std::string& path) {
  if (key == "openai_text") return Reply::openai_text(get_string(arg, path));
  if (key == "openai_tool_calls") {
    if (!arg.is_array()) fail(path, "expected array of {id, name, arguments}");
    std::vector<WireToolCall> calls;
    for (std::size_t i = 0; i < arg.size(); ++i) {
      const auto call_path = at(path, i);
      check_keys(arg[i], {"id", "name", "arguments"}, call_path);
      const Json& arguments = get_member(arg[i], "arguments", call_path);
      calls.push_back(WireToolCall{
          get_string(get_member(arg[i], "id", call_path), at(call_path, "id")),
          get_string(get_member(arg[i], "name", call_path), at(call_path, "name")),
          arguments.is_string() ? arguments.get<std::string>() : serialize(arguments)});
    }
    return Reply::openai_tool_calls(std::move(calls));
  }
  if (key == "openai_stream_text") return Reply::openai_stream_text(get_strings(arg, path));
  if (key == "openai_stream_tool_call") {
    check_keys(arg, {"id", "name", "arguments"}, path);
    return Reply::openai_stream_tool_call(
        get_string(get_member(arg, "id", path), at(path, "id")),
        get_string(get_member(arg, "name", path), at(path, "name")),
        get_strings(get_member(arg, "arguments", path), at(path, "arguments")));
  }
  if (key == "openai_embeddings") return Reply::openai_embeddings(parse_vectors(arg, path));
  if (key == "anthropic_text") return Reply::anthropic_text(get_string(arg, path));
  if (key == "anthropic_tool_use") {
    check_keys(arg, {"id", "name", "input", "text_before"}, path);
    return Reply::anthropic_tool_use(
        get_string(get_member(arg, "id", path), at(path, "id")),
        get_string(get_member(arg, "name", path), at(path, "name")), get_member(arg, "input", path),
        arg.contains("text_before") ? get_string(arg["text_before"], at(path, "text_before"))
                                    : std::string());
  }
  if (key == "anthropic_stream_text") return Reply::anthropic_stream_text(get_strings(arg, path));
  if (key == "anthropic_stream_tool_use") {
    check_keys(arg, {"id", "name", "partial_json"}, path);
    return Reply::anthropic_stream_tool_use(
        get_string(get_member(arg, "id", path), at(path, "id")),
        get_string(get_member(arg, "name", path), at(path, "name")),
        get_strings(get_member(arg, "partial_json", path), at(path, "partial_json")));
  }
  if (key == "anthropic_stream_error") {
    check_keys(arg, {"pieces", "type", "message"}, path);
    return Reply::anthropic_stream_error(
        arg.contains("pieces") ? get_strings(arg["pieces"], at(path, "pieces"))
                               : std::vector<std::string>{},
        arg.contains("type") ? get_string(arg["type"], at(path, "type")) : "overloaded_error",
        arg.contains("message") ? get_string(arg["message"], at(path, "message")) : "Overloaded");
  }
  // key == "error"
  check_keys(arg, {"status", "type", "message", "provider"}, path);
  Provider provider = Provider::openai;
  if (arg.contains("provider")) {
    const auto name = get_string(arg["provider"], at(path, "provider"));
    if (name == "anthropic") {
      provider = Provider::anthropic;
    } else if (name != "openai") {
      fail(at(path, "provider"), "expected one of openai, anthropic");
    }
  }
  return Reply::error(
      static_cast<int>(get_integer(get_member(arg, "status", path), at(path, "status"), 100, 599)),
      get_string(get_member(arg, "type", path), at(path, "type")),
      get_string(get_member(arg, "message", path), at(path, "message")), provider);
}

Reply reply_from_json(const Json& j, const std::string& path) {
  if (!j.is_object()) fail(path, "expected object");
  Reply reply;
  const char* helper = nullptr;
  for (const auto key : kHelperKeys) {
    const auto it = j.find(key);
    if (it == j.end()) continue;
    if (helper != nullptr) {
      fail(at(path, key), std::string("only one helper key per reply (also ") + helper + ")");
    }
    helper = key.data();
    reply = reply_from_helper(key, *it, at(path, key));
  }
  int payloads = 0;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& value = item.value();
    const std::string key_path = at(path, key);
    if (key == "status") {
      reply.status = static_cast<int>(get_integer(value, key_path, 100, 599));
    } else if (key == "headers") {
      if (!value.is_object()) fail(key_path, "expected object of strings");
      reply.headers.clear();
      for (const auto& header : value.items()) {
        const auto header_path = at(key_path, header.key());
        if (!is_token(header.key())) fail(header_path, "not a valid header name");
        const auto header_value = get_string(header.value(), header_path);
        if (has_line_break(header_value)) fail(header_path, "must be one line");
        reply.headers[header.key()] = header_value;
      }
    } else if (key == "content_type") {
      reply.content_type = get_string(value, key_path);
      if (has_line_break(reply.content_type)) fail(key_path, "must be one line");
    } else if (key == "body") {
      ++payloads;
      reply.body = get_string(value, key_path);
      reply.sse.reset();
    } else if (key == "json") {
      ++payloads;
      reply.body = serialize(value);
      reply.sse.reset();
    } else if (key == "sse") {
      ++payloads;
      if (!value.is_array()) fail(key_path, "expected array of events");
      std::vector<SseEvent> events;
      for (std::size_t i = 0; i < value.size(); ++i) {
        events.push_back(parse_sse_event(value[i], at(key_path, i)));
      }
      reply.sse = std::move(events);
      reply.body.clear();
      if (!j.contains("content_type")) reply.content_type = "text/event-stream";
    } else if (key == "sse_interval_ms") {
      reply.sse_interval = std::chrono::milliseconds(get_integer(value, key_path, 0, 3600000));
    } else if (key == "delay_ms") {
      reply.delay = std::chrono::milliseconds(get_integer(value, key_path, 0, 3600000));
    } else if (key == "fault") {
      reply.fault = parse_fault(value, key_path);
    } else if (key == "match") {
      reply.match = get_string(value, key_path);
    } else if (key == "repeat") {
      if (!value.is_boolean()) fail(key_path, "expected boolean");
      reply.repeat = value.get<bool>();
    } else if (std::find(kHelperKeys.begin(), kHelperKeys.end(), key) == kHelperKeys.end()) {
      fail(key_path, "unknown key");
    }
  }
  if (payloads > 1) fail(path, "body, json and sse are mutually exclusive");
  return reply;
}

// ---------------------------------------------------------------------------------------------
// Wire-format builders

Json openai_chunk(Json delta, Json finish_reason) {
  Json choice = Json::object();
  choice["index"] = 0;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = std::move(finish_reason);
  Json chunk = Json::object();
  chunk["id"] = kChatId;
  chunk["object"] = "chat.completion.chunk";
  chunk["created"] = kCreated;
  chunk["model"] = kModel;
  chunk["system_fingerprint"] = nullptr;
  chunk["choices"] = Json::array({std::move(choice)});
  return chunk;
}

Json openai_usage(int prompt_tokens, int completion_tokens) {
  Json usage = Json::object();
  usage["prompt_tokens"] = prompt_tokens;
  usage["completion_tokens"] = completion_tokens;
  usage["total_tokens"] = prompt_tokens + completion_tokens;
  return usage;
}

// The last chunk of a stream with stream_options.include_usage: no choices, only usage.
Json openai_usage_chunk(int completion_tokens) {
  Json chunk = Json::object();
  chunk["id"] = kChatId;
  chunk["object"] = "chat.completion.chunk";
  chunk["created"] = kCreated;
  chunk["model"] = kModel;
  chunk["system_fingerprint"] = nullptr;
  chunk["choices"] = Json::array();
  chunk["usage"] = openai_usage(10, completion_tokens);
  return chunk;
}

Json openai_completion(Json message, const char* finish_reason, int prompt_tokens,
                       int completion_tokens) {
  Json choice = Json::object();
  choice["index"] = 0;
  choice["message"] = std::move(message);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  Json completion = Json::object();
  completion["id"] = kChatId;
  completion["object"] = "chat.completion";
  completion["created"] = kCreated;
  completion["model"] = kModel;
  completion["choices"] = Json::array({std::move(choice)});
  completion["usage"] = openai_usage(prompt_tokens, completion_tokens);
  completion["system_fingerprint"] = nullptr;
  return completion;
}

Json anthropic_usage(int input_tokens, int output_tokens) {
  Json usage = Json::object();
  usage["input_tokens"] = input_tokens;
  usage["output_tokens"] = output_tokens;
  return usage;
}

Json anthropic_message(Json content, Json stop_reason, Json usage) {
  Json message = Json::object();
  message["id"] = kMessageId;
  message["type"] = "message";
  message["role"] = "assistant";
  message["model"] = kModel;
  message["content"] = std::move(content);
  message["stop_reason"] = std::move(stop_reason);
  message["stop_sequence"] = nullptr;
  message["usage"] = std::move(usage);
  return message;
}

Json text_block(const std::string& text) {
  Json block = Json::object();
  block["type"] = "text";
  block["text"] = text;
  return block;
}

SseEvent anthropic_event(const char* type, Json payload) {
  payload["type"] = type;
  return SseEvent{type, serialize(payload)};
}

SseEvent anthropic_message_start() {
  Json payload = Json::object();
  payload["message"] = anthropic_message(Json::array(), nullptr, anthropic_usage(10, 1));
  return anthropic_event("message_start", std::move(payload));
}

SseEvent anthropic_block_start(int index, Json block) {
  Json payload = Json::object();
  payload["index"] = index;
  payload["content_block"] = std::move(block);
  return anthropic_event("content_block_start", std::move(payload));
}

SseEvent anthropic_block_delta(int index, Json delta) {
  Json payload = Json::object();
  payload["index"] = index;
  payload["delta"] = std::move(delta);
  return anthropic_event("content_block_delta", std::move(payload));
}

SseEvent anthropic_block_stop(int index) {
  Json payload = Json::object();
  payload["index"] = index;
  return anthropic_event("content_block_stop", std::move(payload));
}

SseEvent anthropic_message_delta(const char* stop_reason, int output_tokens) {
  Json delta = Json::object();
  delta["stop_reason"] = stop_reason;
  delta["stop_sequence"] = nullptr;
  Json usage = Json::object();
  usage["output_tokens"] = output_tokens;
  Json payload = Json::object();
  payload["delta"] = std::move(delta);
  payload["usage"] = std::move(usage);
  return anthropic_event("message_delta", std::move(payload));
}

Json anthropic_error_object(const std::string& type, const std::string& message) {
  Json error = Json::object();
  error["type"] = type;
  error["message"] = message;
  Json payload = Json::object();
  payload["type"] = "error";
  payload["error"] = std::move(error);
  return payload;
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 request parsing (RFC 9112), strict: anything odd is a 400, never a crash.

enum class Parse { incomplete, complete, invalid };

struct ParsedRequest {
  ReceivedRequest request;
  int version_minor = 1;
  bool keep_alive = true;
};

struct HeadParse {
  Parse status = Parse::incomplete;
  std::size_t consumed = 0;
  std::string problem;
};

HeadParse invalid_head(std::string problem) {
  return {Parse::invalid, 0, std::move(problem)};
}

// Rejects bytes that cannot appear in a request line, so binary garbage gets its 400 at once.
bool request_line_bytes_ok(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      if (i + 1 < s.size() && s[i + 1] != '\n') return false;
    } else if (c < 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

HeadParse parse_head(std::string_view buf, ParsedRequest& out) {
  std::size_t start = 0;
  while (buf.substr(start, 2) == "\r\n")
    start += 2;  // RFC 9112 2.2: ignore leading CRLFs
  const auto line_end = buf.find("\r\n", start);
  if (line_end == std::string_view::npos) {
    const auto partial = buf.substr(start);
    if (!request_line_bytes_ok(partial)) return invalid_head("malformed request line");
    if (partial.size() > kMaxHeadBytes) return invalid_head("request line too long");
    return {};
  }
  const auto line = buf.substr(start, line_end - start);
  if (!request_line_bytes_ok(line)) return invalid_head("malformed request line");
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return invalid_head("malformed request line");
  const auto method = line.substr(0, sp1);
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = line.substr(sp2 + 1);
  if (!is_token(method)) return invalid_head("malformed method");
  if (target.empty()) return invalid_head("empty request target");
  if (version == "HTTP/1.1") {
    out.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    out.version_minor = 0;
  } else {
    return invalid_head("unsupported HTTP version");
  }

  const auto head_end = buf.find("\r\n\r\n", line_end);
  if (head_end == std::string_view::npos) return {};

  out.request.method = std::string(method);
  out.request.path = std::string(target);
  for (std::size_t pos = line_end + 2; pos < head_end + 2;) {
    const auto next = buf.find("\r\n", pos);
    const auto field = buf.substr(pos, next - pos);
    pos = next + 2;
    if (field.front() == ' ' || field.front() == '\t') return invalid_head("obsolete line folding");
    const auto colon = field.find(':');
    if (colon == std::string_view::npos) return invalid_head("header line without a colon");
    const auto name = field.substr(0, colon);
    if (!is_token(name)) return invalid_head("malformed header name");
    const auto value = trim(field.substr(colon + 1));
    for (const char ch : value) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7f) return invalid_head("control character in header");
    }
    auto [it, inserted] = out.request.headers.emplace(lower(name), std::string(value));
    if (!inserted) it->second += ", " + std::string(value);
  }

  const auto header_of = [&](const char* name) -> std::string_view {
    const auto it = out.request.headers.find(name);
    return it == out.request.headers.end() ? std::string_view() : std::string_view(it->second);
  };
  const auto connection = header_of("connection");
  out.keep_alive = out.version_minor == 1 ? !lists_token(connection, "close")
                                          : lists_token(connection, "keep-alive");
  return {Parse::complete, head_end + 4, {}};
}

struct Framing {
  enum class Kind { none, length, chunked } kind = Kind::none;
  std::size_t length = 0;
  int error_status = 0;  // non-zero: reject with this status
  std::string problem;
};

Framing framing_of(const ReceivedRequest& request) {
  Framing framing;
  const auto te = request.headers.find("transfer-encoding");
  const auto cl = request.headers.find("content-length");
  if (te != request.headers.end()) {
    if (cl != request.headers.end()) {
      return {Framing::Kind::none, 0, 400, "both Transfer-Encoding and Content-Length"};
    }
    if (lower(trim(te->second)) != "chunked") {
      return {Framing::Kind::none, 0, 501, "unsupported Transfer-Encoding " + te->second};
    }
    framing.kind = Framing::Kind::chunked;
    return framing;
  }
  if (cl != request.headers.end()) {
    const std::string_view digits = trim(cl->second);
    if (digits.empty() || digits.size() > 18 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return {Framing::Kind::none, 0, 400, "malformed Content-Length"};
    }
    framing.length = std::stoull(std::string(digits));
    if (framing.length > kMaxBodyBytes) {
      return {Framing::Kind::none, 0, 413, "body larger than 64 MiB"};
    }
    framing.kind = Framing::Kind::length;
  }
  return framing;
}

// Decodes a chunked body incrementally: feed() consumes what it can and keeps its place.
class ChunkedDecoder {
 public:
  struct Step {
    Parse status = Parse::incomplete;
    std::size_t consumed = 0;
    int error_status = 400;
    std::string problem;
  };

  Step feed(std::string_view in, std::string& body) {
    std::size_t pos = 0;
    const auto invalid = [&](int status, std::string problem) {
      return Step{Parse::invalid, pos, status, std::move(problem)};
    };
    for (;;) {
      switch (state_) {
        case State::size_line: {
          const auto end = in.find("\r\n", pos);
          if (end == std::string_view::npos) {
            if (in.size() - pos > kMaxChunkLineBytes)
              return invalid(400, "chunk size line too long");
            return {Parse::incomplete, pos, 0, {}};
          }
          const auto line = in.substr(pos, end - pos);
          std::size_t i = 0;
          std::size_t size = 0;
          for (; i < line.size(); ++i) {
            const char c = line[i];
            int digit = -1;
            if (c >= '0' && c <= '9') digit = c - '0';
            if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
            if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
            if (digit < 0) break;
            if (size > kMaxBodyBytes) return invalid(413, "body larger than 64 MiB");
            size = size * 16 + static_cast<std::size_t>(digit);
          }
          const auto rest = trim(line.substr(i));
          if (i == 0 || (!rest.empty() && rest.front() != ';')) {
            return invalid(400, "malformed chunk size");
          }
          if (body.size() + size > kMaxBodyBytes) return invalid(413, "body larger than 64 MiB");
          pos = end + 2;
          remaining_ = size;
          state_ = size == 0 ? State::trailers : State::data;
          break;
        }
        case State::data: {
          const auto take = std::min(remaining_, in.size() - pos);
          body.append(in.substr(pos, take));
          pos += take;
          remaining_ -= take;
          if (remaining_ > 0) return {Parse::incomplete, pos, 0, {}};
          state_ = State::data_end;
          break;
        }
        case State::data_end: {
          if (in.size() - pos < 2) return {Parse::incomplete, pos, 0, {}};
          if (in.substr(pos, 2) != "\r\n") return invalid(400, "chunk data not followed by CRLF");
          pos += 2;
          state_ = State::size_line;
          break;
        }
        case State::trailers: {
          const auto end = in.find("\r\n", pos);
          if (end == std::string_view::npos) {
            if (in.size() - pos > kMaxChunkLineBytes) return invalid(400, "trailer too long");
            return {Parse::incomplete, pos, 0, {}};
          }
          trailer_bytes_ += end - pos;
          if (trailer_bytes_ > kMaxHeadBytes) return invalid(431, "trailers too large");
          const bool last = end == pos;
          pos = end + 2;
          if (last) return {Parse::complete, pos, 0, {}};
          break;
        }
      }
    }
  }

 private:
  enum class State { size_line, data, data_end, trailers };
  State state_ = State::size_line;
  std::size_t remaining_ = 0;
  std::size_t trailer_bytes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Response serialisation

bool status_has_no_body(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

bool reply_closes(const Reply& reply) {
  const auto* connection = find_header(reply.headers, "connection");
  return connection != nullptr && lists_token(*connection, "close");
}

// Content-Length framing when `content_length` is set, chunked otherwise.
std::string response_head(const Reply& reply, bool keep_alive,
                          std::optional<std::size_t> content_length) {
  std::string out =
      "HTTP/1.1 " + std::to_string(reply.status) + " " + reason_phrase(reply.status) + "\r\n";
  if (find_header(reply.headers, "content-type") == nullptr) {
    const std::string& type = reply.sse ? std::string("text/event-stream") : reply.content_type;
    if (!type.empty()) out += "Content-Type: " + type + "\r\n";
  }
  if (content_length) {
    if (!status_has_no_body(reply.status)) {
      out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
    }
  } else {
    out += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n";
  }
  if (find_header(reply.headers, "connection") == nullptr) {
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  }
  for (const auto& [name, value] : reply.headers)
    out += name + ": " + value + "\r\n";
  out += "\r\n";
  return out;
}

std::string format_sse(const SseEvent& event) {
  std::string out;
  if (!event.event.empty()) out += "event: " + event.event + "\n";
  std::string_view data = event.data;
  for (;;) {
    const auto newline = data.find('\n');
    out += "data: ";
    out += data.substr(0, newline);
    out += "\n";
    if (newline == std::string_view::npos) break;
    data.remove_prefix(newline + 1);
  }
  out += "\n";
  return out;
}

std::string as_chunk(std::string_view payload) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string size;
  for (std::size_t n = payload.size(); n > 0; n /= 16)
    size.insert(size.begin(), kHex[n % 16]);
  if (size.empty()) size = "0";
  return size + "\r\n" + std::string(payload) + "\r\n";
}

std::string error_body(const std::string& message) {
  Json error = Json::object();
  error["message"] = message;
  error["type"] = "test_endpoint";
  Json body = Json::object();
  body["error"] = std::move(error);
  return serialize(body);
}

Reply exhausted_reply() {
  Reply reply;
  reply.status = 500;
  reply.body = error_body("test endpoint: script exhausted");
  return reply;
}

using asio::ip::tcp;

auto redirect(asio::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer timer;  // delays, SSE intervals and lingering closes
  std::array<char, 8192> buffer{};
};

struct ReadOutcome {
  enum class Kind { request, closed, rejected } kind = Kind::closed;
  int status = 0;
  std::string problem;
};

}  // namespace

// -----------------------------------------------------------------------------------------------
// Reply

Reply Reply::from_json(const nlohmann::json& j) {
  return reply_from_json(j, "");
}

nlohmann::json Reply::to_json() const {
  Json j = Json::object();
  j["status"] = status;
  j["content_type"] = content_type;
  if (!headers.empty()) j["headers"] = headers;
  if (sse) {
    Json event_list = Json::array();
    for (const auto& event : *sse) {
      if (event.event.empty()) {
        event_list.push_back(event.data);
      } else {
        Json e = Json::object();
        e["event"] = event.event;
        e["data"] = event.data;
        event_list.push_back(std::move(e));
      }
    }
    j["sse"] = std::move(event_list);
  } else {
    j["body"] = body;
  }
  if (sse_interval.count() != 0) j["sse_interval_ms"] = sse_interval.count();
  if (delay.count() != 0) j["delay_ms"] = delay.count();
  if (fault != Fault::none) j["fault"] = fault_name(fault);
  if (!match.empty()) j["match"] = match;
  if (repeat) j["repeat"] = true;
  return j;
}

Reply Reply::with_status(int new_status) const {
  Reply copy = *this;
  copy.status = new_status;
  return copy;
}

Reply Reply::with_header(std::string name, std::string value) const {
  Reply copy = *this;
  copy.headers[std::move(name)] = std::move(value);
  return copy;
}

Reply Reply::with_delay(std::chrono::milliseconds new_delay) const {
  Reply copy = *this;
  copy.delay = new_delay;
  return copy;
}

Reply Reply::with_sse_interval(std::chrono::milliseconds interval) const {
  Reply copy = *this;
  copy.sse_interval = interval;
  return copy;
}

Reply Reply::with_fault(Fault new_fault) const {
  Reply copy = *this;
  copy.fault = new_fault;
  return copy;
}

Reply Reply::matching(std::string path_substring) const {
  Reply copy = *this;
  copy.match = std::move(path_substring);
  return copy;
}

Reply Reply::repeated() const {
  Reply copy = *this;
  copy.repeat = true;
  return copy;
}

Reply Reply::json(const nlohmann::json& body_json, int status_code) {
  Reply reply;
  reply.status = status_code;
  reply.body = serialize(body_json);
  return reply;
}

Reply Reply::text(std::string text_body, std::string type, int status_code) {
  Reply reply;
  reply.status = status_code;
  reply.content_type = std::move(type);
  reply.body = std::move(text_body);
  return reply;
}

Reply Reply::events(std::vector<SseEvent> event_list) {
  Reply reply;
  reply.content_type = "text/event-stream";
  reply.sse = std::move(event_list);
  return reply;
}

Reply Reply::openai_text(std::string text_content, int prompt_tokens, int completion_tokens) {
  Json message = Json::object();
  message["role"] = "assistant";
  message["content"] = std::move(text_content);
  message["refusal"] = nullptr;
  return Reply::json(
      openai_completion(std::move(message), "stop", prompt_tokens, completion_tokens));
}

Reply Reply::openai_tool_calls(std::vector<WireToolCall> calls) {
  Json tool_calls = Json::array();
  for (auto& call : calls) {
    Json function = Json::object();
    function["name"] = std::move(call.name);
    function["arguments"] = std::move(call.arguments);
    Json entry = Json::object();
    entry["id"] = std::move(call.id);
    entry["type"] = "function";
    entry["function"] = std::move(function);
    tool_calls.push_back(std::move(entry));
  }
  Json message = Json::object();
  message["role"] = "assistant";
  message["content"] = nullptr;
  message["tool_calls"] = std::move(tool_calls);
  message["refusal"] = nullptr;
  return Reply::json(openai_completion(std::move(message), "tool_calls", 10, 5));
}

Reply Reply::openai_stream_text(std::vector<std::string> pieces, bool include_usage) {
  std::vector<SseEvent> out;
  Json first = Json::object();
  first["role"] = "assistant";
  first["content"] = "";
  out.push_back({"", serialize(openai_chunk(std::move(first), nullptr))});
  for (auto& piece : pieces) {
    Json delta = Json::object();
    delta["content"] = std::move(piece);
    out.push_back({"", serialize(openai_chunk(std::move(delta), nullptr))});
  }
  out.push_back({"", serialize(openai_chunk(Json::object(), "stop"))});
  if (include_usage) {
    out.push_back({"", serialize(openai_usage_chunk(static_cast<int>(pieces.size())))});
  }
  out.push_back({"", "[DONE]"});
  return Reply::events(std::move(out));
}

Reply Reply::openai_stream_tool_call(std::string id, std::string name,
                                     std::vector<std::string> argument_pieces, bool include_usage) {
  const auto tool_delta = [](Json call) {
    call["index"] = 0;
    Json delta = Json::object();
    delta["tool_calls"] = Json::array({std::move(call)});
    return delta;
  };
  std::vector<SseEvent> out;
  Json function = Json::object();
  function["name"] = std::move(name);
  function["arguments"] = "";
  Json call = Json::object();
  call["id"] = std::move(id);
  call["type"] = "function";
  call["function"] = std::move(function);
  Json first = tool_delta(std::move(call));
  first["role"] = "assistant";
  first["content"] = nullptr;
  out.push_back({"", serialize(openai_chunk(std::move(first), nullptr))});
  for (auto& piece : argument_pieces) {
    Json piece_function = Json::object();
    piece_function["arguments"] = std::move(piece);
    Json piece_call = Json::object();
    piece_call["function"] = std::move(piece_function);
    out.push_back({"", serialize(openai_chunk(tool_delta(std::move(piece_call)), nullptr))});
  }
  out.push_back({"", serialize(openai_chunk(Json::object(), "tool_calls"))});
  if (include_usage) {
    out.push_back({"", serialize(openai_usage_chunk(static_cast<int>(argument_pieces.size())))});
  }
  out.push_back({"", "[DONE]"});
  return Reply::events(std::move(out));
}

Reply Reply::openai_embeddings(const std::vector<std::vector<float>>& vectors) {
  Json data = Json::array();
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    Json item = Json::object();
    item["object"] = "embedding";
    item["index"] = i;
    item["embedding"] = vectors[i];
    data.push_back(std::move(item));
  }
  const int tokens = static_cast<int>(vectors.size()) * 8;
  Json usage = Json::object();
  usage["prompt_tokens"] = tokens;
  usage["total_tokens"] = tokens;
  Json body_json = Json::object();
  body_json["object"] = "list";
  body_json["data"] = std::move(data);
  body_json["model"] = kEmbeddingModel;
  body_json["usage"] = std::move(usage);
  return Reply::json(body_json);
}

Reply Reply::anthropic_text(std::string text_content, int input_tokens, int output_tokens) {
  return Reply::json(anthropic_message(Json::array({text_block(text_content)}), "end_turn",
                                       anthropic_usage(input_tokens, output_tokens)));
}

Reply Reply::anthropic_tool_use(std::string id, std::string name, nlohmann::json input,
                                std::string text_before) {
  Json content = Json::array();
  if (!text_before.empty()) content.push_back(text_block(text_before));
  Json block = Json::object();
  block["type"] = "tool_use";
  block["id"] = std::move(id);
  block["name"] = std::move(name);
  block["input"] = std::move(input);
  content.push_back(std::move(block));
  return Reply::json(anthropic_message(std::move(content), "tool_use", anthropic_usage(10, 5)));
}

Reply Reply::anthropic_stream_text(std::vector<std::string> pieces) {
  std::vector<SseEvent> out;
  out.push_back(anthropic_message_start());
  out.push_back(anthropic_block_start(0, text_block("")));
  out.push_back(anthropic_event("ping", Json::object()));
  for (auto& piece : pieces) {
    Json delta = Json::object();
    delta["type"] = "text_delta";
    delta["text"] = std::move(piece);
    out.push_back(anthropic_block_delta(0, std::move(delta)));
  }
  out.push_back(anthropic_block_stop(0));
  out.push_back(anthropic_message_delta("end_turn", static_cast<int>(pieces.size())));
  out.push_back(anthropic_event("message_stop", Json::object()));
  return Reply::events(std::move(out));
}

Reply Reply::anthropic_stream_tool_use(std::string id, std::string name,
                                       std::vector<std::string> partial_json_pieces) {
  std::vector<SseEvent> out;
  out.push_back(anthropic_message_start());
  Json block = Json::object();
  block["type"] = "tool_use";
  block["id"] = std::move(id);
  block["name"] = std::move(name);
  block["input"] = Json::object();
  out.push_back(anthropic_block_start(0, std::move(block)));
  for (auto& piece : partial_json_pieces) {
    Json delta = Json::object();
    delta["type"] = "input_json_delta";
    delta["partial_json"] = std::move(piece);
    out.push_back(anthropic_block_delta(0, std::move(delta)));
  }
  out.push_back(anthropic_block_stop(0));
  out.push_back(anthropic_message_delta("tool_use", static_cast<int>(partial_json_pieces.size())));
  out.push_back(anthropic_event("message_stop", Json::object()));
  return Reply::events(std::move(out));
}

Reply Reply::anthropic_stream_error(std::vector<std::string> pieces_before, std::string error_type,
                                    std::string message) {
  std::vector<SseEvent> out;
  out.push_back(anthropic_message_start());
  out.push_back(anthropic_block_start(0, text_block("")));
  for (auto& piece : pieces_before) {
    Json delta = Json::object();
    delta["type"] = "text_delta";
    delta["text"] = std::move(piece);
    out.push_back(anthropic_block_delta(0, std::move(delta)));
  }
  out.push_back(SseEvent{"error", serialize(anthropic_error_object(error_type, message))});
  return Reply::events(std::move(out));
}

Reply Reply::error(int status_code, std::string type, std::string message, Provider provider) {
  if (provider == Provider::anthropic) {
    return Reply::json(anthropic_error_object(type, message), status_code);
  }
  Json detail = Json::object();
  detail["message"] = std::move(message);
  detail["type"] = std::move(type);
  detail["param"] = nullptr;
  detail["code"] = nullptr;
  Json body_json = Json::object();
  body_json["error"] = std::move(detail);
  return Reply::json(body_json, status_code);
}

// -----------------------------------------------------------------------------------------------
// ReceivedRequest

std::string ReceivedRequest::header(std::string_view name) const {
  const auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

nlohmann::json ReceivedRequest::json_body() const {
  return Json::parse(body);
}

nlohmann::json ReceivedRequest::to_json() const {
  Json j = Json::object();
  j["method"] = method;
  j["path"] = path;
  j["headers"] = headers;
  j["body"] = body;
  j["received_at_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(received_at.time_since_epoch()).count();
  return j;
}

// -----------------------------------------------------------------------------------------------
// The server

struct TestEndpoint::Impl {
  Impl(Script script, EndpointOptions endpoint_options)
      : options(std::move(endpoint_options)),
        replies(std::move(script.replies)),
        taken(replies.size(), false),
        fallback(std::move(script.default_reply)) {}

  EndpointOptions options;

  // Shared with the callers' threads, guarded by `mutex`.
  mutable std::mutex mutex;
  mutable std::condition_variable request_recorded;
  std::vector<Reply> replies;
  std::vector<bool> taken;
  std::optional<Reply> fallback;
  std::vector<ReceivedRequest> received;

  std::atomic<std::size_t> active{0};
  int port = 0;

  // Server thread only (after construction).
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::set<std::shared_ptr<Connection>> connections;
  bool stopping = false;
  std::thread thread;

  void listen() {
    try {
      const tcp::endpoint endpoint(asio::ip::address_v4::loopback(),
                                   static_cast<unsigned short>(options.port));
      acceptor.open(endpoint.protocol());
      acceptor.set_option(tcp::acceptor::reuse_address(true));
      acceptor.bind(endpoint);
      acceptor.listen(kListenBacklog);
      port = acceptor.local_endpoint().port();
    } catch (const std::exception& e) {
      throw std::runtime_error("test endpoint: cannot listen on 127.0.0.1:" +
                               std::to_string(options.port) + ": " + e.what());
    }
    asio::co_spawn(io, accept_loop(), asio::detached);
    thread = std::thread([this] {
      for (;;) {
        try {
          io.run();
          return;
        } catch (...) {
          // Coroutines catch their own exceptions; keep serving whatever escapes anyway.
        }
      }
    });
  }

  // Runs on the server thread: closing every socket ends every coroutine, so run() returns.
  void stop_all() {
    stopping = true;
    asio::error_code ignored;
    acceptor.close(ignored);
    for (const auto& connection : connections) {
      connection->timer.cancel();
      connection->socket.close(ignored);
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      asio::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(redirect(ec));
      if (stopping || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors or similar: back off instead of spinning.
        asio::steady_timer backoff(io, 10ms);
        co_await backoff.async_wait(redirect(ec));
        if (stopping) co_return;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto connection = std::make_shared<Connection>(std::move(socket));
      connections.insert(connection);
      ++active;
      asio::co_spawn(io, serve(connection), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<Connection> connection) {
    std::string inbuf;
    try {
      for (;;) {
        ParsedRequest request;
        const ReadOutcome outcome = co_await read_request(*connection, inbuf, request);
        if (outcome.kind == ReadOutcome::Kind::closed) break;
        if (outcome.kind == ReadOutcome::Kind::rejected) {
          co_await reject(connection, outcome.status, outcome.problem);
          break;
        }
        record(request.request);
        const Reply reply = take_reply(request.request.path);
        if (!co_await respond(*connection, request, reply)) break;
      }
    } catch (...) {
      // One connection's trouble (a throwing on_request callback, bad_alloc) never stops the
      // server.
    }
    asio::error_code ignored;
    connection->timer.cancel();
    connection->socket.shutdown(tcp::socket::shutdown_send, ignored);
    connection->socket.close(ignored);
    connections.erase(connection);
    --active;
  }

  asio::awaitable<ReadOutcome> read_request(Connection& c, std::string& inbuf, ParsedRequest& out) {
    using Kind = ReadOutcome::Kind;
    asio::error_code ec;
    for (;;) {
      const HeadParse head = parse_head(inbuf, out);
      if (head.status == Parse::complete) {
        inbuf.erase(0, head.consumed);
        break;
      }
      if (head.status == Parse::invalid) co_return ReadOutcome{Kind::rejected, 400, head.problem};
      if (inbuf.size() > kMaxHeadBytes) {
        co_return ReadOutcome{Kind::rejected, 431, "request head larger than 64 KiB"};
      }
      const std::size_t n = co_await c.socket.async_read_some(asio::buffer(c.buffer), redirect(ec));
      if (ec) co_return ReadOutcome{};  // closed, possibly mid-request: nothing to answer
      inbuf.append(c.buffer.data(), n);
    }

    const Framing framing = framing_of(out.request);
    if (framing.error_status != 0) {
      co_return ReadOutcome{Kind::rejected, framing.error_status, framing.problem};
    }
    const bool has_body = framing.kind == Framing::Kind::chunked ||
                          (framing.kind == Framing::Kind::length && framing.length > 0);
    const auto expect = out.request.headers.find("expect");
    if (has_body && inbuf.empty() && out.version_minor == 1 &&
        expect != out.request.headers.end() && lists_token(expect->second, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await asio::async_write(c.socket, asio::buffer(kContinue), redirect(ec));
      if (ec) co_return ReadOutcome{};
    }

    if (framing.kind == Framing::Kind::length) {
      while (inbuf.size() < framing.length) {
        const std::size_t n =
            co_await c.socket.async_read_some(asio::buffer(c.buffer), redirect(ec));
        if (ec) co_return ReadOutcome{};
        inbuf.append(c.buffer.data(), n);
      }
      out.request.body = inbuf.substr(0, framing.length);
      inbuf.erase(0, framing.length);
    } else if (framing.kind == Framing::Kind::chunked) {
      ChunkedDecoder decoder;
      for (;;) {
        auto step = decoder.feed(inbuf, out.request.body);
        inbuf.erase(0, step.consumed);
        if (step.status == Parse::complete) break;
        if (step.status == Parse::invalid) {
          co_return ReadOutcome{Kind::rejected, step.error_status, step.problem};
        }
        const std::size_t n =
            co_await c.socket.async_read_some(asio::buffer(c.buffer), redirect(ec));
        if (ec) co_return ReadOutcome{};
        inbuf.append(c.buffer.data(), n);
      }
    }
    out.request.received_at = std::chrono::system_clock::now();
    co_return ReadOutcome{Kind::request, 0, {}};
  }

  // Answers a request the parser refused, then closes without destroying the answer: the client
  // may still be sending, and closing with unread data would turn the FIN into an RST.
  asio::awaitable<void> reject(std::shared_ptr<Connection> connection, int status,
                               std::string problem) {
    Reply reply;
    reply.status = status;
    reply.body = error_body("test endpoint: malformed request: " + problem);
    const std::string response = response_head(reply, false, reply.body.size()) + reply.body;
    asio::error_code ec;
    co_await asio::async_write(connection->socket, asio::buffer(response), redirect(ec));
    if (ec || stopping) co_return;
    connection->socket.shutdown(tcp::socket::shutdown_send, ec);
    connection->timer.expires_after(1s);
    connection->timer.async_wait([connection](asio::error_code wait_ec) {
      if (!wait_ec) connection->socket.close(wait_ec);
    });
    for (std::size_t drained = 0; drained < kMaxBodyBytes;) {
      drained += co_await connection->socket.async_read_some(asio::buffer(connection->buffer),
                                                             redirect(ec));
      if (ec) break;
    }
  }

  asio::awaitable<bool> wait(Connection& c, std::chrono::milliseconds duration) {
    if (stopping) co_return false;
    if (duration.count() <= 0) co_return true;
    asio::error_code ec;
    c.timer.expires_after(duration);
    co_await c.timer.async_wait(redirect(ec));
    co_return !ec && !stopping;
  }

  // Sends `reply` (or its fault). Returns true if the connection stays open for another request.
  asio::awaitable<bool> respond(Connection& c, const ParsedRequest& request, const Reply& reply) {
    asio::error_code ec;
    if (!co_await wait(c, reply.delay)) co_return false;
    switch (reply.fault) {
      case Fault::close:
        c.socket.shutdown(tcp::socket::shutdown_both, ec);
        co_return false;
      case Fault::reset:
        c.socket.set_option(asio::socket_base::linger(true, 0), ec);
        c.socket.close(ec);
        co_return false;
      case Fault::stall:
        // Read and drop whatever arrives until the client gives up or the server stops.
        for (;;) {
          co_await c.socket.async_read_some(asio::buffer(c.buffer), redirect(ec));
          if (ec) co_return false;
        }
      case Fault::none:
      case Fault::truncate:
        break;
    }
    const bool truncate = reply.fault == Fault::truncate;
    const bool keep_alive = request.keep_alive && !truncate && !reply_closes(reply);

    if (reply.sse) {
      co_await asio::async_write(c.socket, asio::buffer(response_head(reply, keep_alive, {})),
                                 redirect(ec));
      if (ec) co_return false;
      const auto& events = *reply.sse;
      const std::size_t count = truncate ? events.size() / 2 : events.size();
      for (std::size_t i = 0; i < count; ++i) {
        if (i > 0 && !co_await wait(c, reply.sse_interval)) co_return false;
        co_await asio::async_write(c.socket, asio::buffer(as_chunk(format_sse(events[i]))),
                                   redirect(ec));
        if (ec) co_return false;
      }
      if (truncate) {
        c.socket.shutdown(tcp::socket::shutdown_send, ec);
        co_return false;
      }
      static constexpr std::string_view kLastChunk = "0\r\n\r\n";
      co_await asio::async_write(c.socket, asio::buffer(kLastChunk), redirect(ec));
      co_return !ec && keep_alive;
    }

    std::string response = response_head(reply, keep_alive, reply.body.size());
    if (request.request.method != "HEAD" && !status_has_no_body(reply.status)) {
      response += truncate ? reply.body.substr(0, reply.body.size() / 2) : reply.body;
    }
    co_await asio::async_write(c.socket, asio::buffer(response), redirect(ec));
    if (ec) co_return false;
    if (truncate) c.socket.shutdown(tcp::socket::shutdown_send, ec);
    co_return keep_alive;
  }

  void record(const ReceivedRequest& request) {
    {
      const std::lock_guard lock(mutex);
      received.push_back(request);
    }
    request_recorded.notify_all();
    if (options.on_request) options.on_request(request);
  }

  Reply take_reply(const std::string& path) {
    const std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < replies.size(); ++i) {
      if (taken[i]) continue;
      const Reply& candidate = replies[i];
      if (!candidate.match.empty() && path.find(candidate.match) == std::string::npos) continue;
      if (!candidate.repeat) taken[i] = true;
      return candidate;
    }
    return fallback ? *fallback : exhausted_reply();
  }
};

TestEndpoint::TestEndpoint(Script script, EndpointOptions options)
    : impl_(std::make_unique<Impl>(std::move(script), std::move(options))) {
  impl_->listen();
}

TestEndpoint::~TestEndpoint() {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->stop_all(); });
  impl->thread.join();
}

int TestEndpoint::port() const {
  return impl_->port;
}

std::string TestEndpoint::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}

void TestEndpoint::push(Reply reply) {
  const std::lock_guard lock(impl_->mutex);
  impl_->replies.push_back(std::move(reply));
  impl_->taken.push_back(false);
}

void TestEndpoint::set_default(Reply reply) {
  const std::lock_guard lock(impl_->mutex);
  impl_->fallback = std::move(reply);
}

void TestEndpoint::reset(Script script) {
  const std::lock_guard lock(impl_->mutex);
  impl_->replies = std::move(script.replies);
  impl_->taken.assign(impl_->replies.size(), false);
  impl_->fallback = std::move(script.default_reply);
  impl_->received.clear();
}

std::vector<ReceivedRequest> TestEndpoint::requests() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->received;
}

bool TestEndpoint::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->request_recorded.wait_for(lock, timeout,
                                          [&] { return impl_->received.size() >= count; });
}

std::size_t TestEndpoint::active_connections() const {
  return impl_->active.load();
}

std::size_t TestEndpoint::unused_replies() const {
  const std::lock_guard lock(impl_->mutex);
  std::size_t unused = 0;
  for (std::size_t i = 0; i < impl_->replies.size(); ++i) {
    if (!impl_->taken[i] && !impl_->replies[i].repeat) ++unused;
  }
  return unused;
}

int TestEndpoint::unused_port() {
  asio::io_context io;
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const int port = socket.local_endpoint().port();
  socket.close();  // bound but never listening: connecting now is refused
  return port;
}

Script TestEndpoint::script_from_json(const nlohmann::json& j) {
  Script script;
  const Json* list = &j;
  if (j.is_object()) {
    check_keys(j, {"replies", "default"}, "script");
    if (j.contains("default")) script.default_reply = reply_from_json(j["default"], "default");
    if (!j.contains("replies")) return script;
    list = &j["replies"];
    if (!list->is_array()) fail("replies", "expected array of replies");
  } else if (!j.is_array()) {
    fail("script", "expected {\"replies\": [...], \"default\": {...}} or an array of replies");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    script.replies.push_back(reply_from_json((*list)[i], at("replies", i)));
  }
  return script;
}

}  // namespace keel::testing
