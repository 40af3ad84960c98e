// The router on disk: the learnt state's JSON (inside RouterConfig::fitted) and save()/load(),
// which keep the utterance vectors so a restart does not embed again.
//
// File layout (little-endian):
//   "KEELRTR1"  u32 version  u32 reserved(0)  u64 header_bytes
//   header: JSON {"config": RouterConfig, "dimension", "embedder", "vectors": [n per route]}
//   payload: per utterance, u32 nnz, nnz × u32 index, nnz × f32 value
//   u64 checksum of everything before it

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/files.hpp"
#include "router/router_impl.hpp"
#include "vector/checksum.hpp"

namespace keel {

namespace router {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

Json calibration_to_json(const Calibration& c) {
  return c.fitted() ? Json(c.weights) : Json(nullptr);
}

Calibration calibration_from_json(const Json& json, const std::string& path, std::size_t features) {
  Calibration c;
  if (json.is_null()) return c;
  if (!json.is_array() || json.size() != features + 1)
    throw Error(Errc::parse, path + ": expected an array of " + std::to_string(features + 1) + " numbers");
  for (std::size_t i = 0; i < json.size(); ++i) {
    if (!json[i].is_number() || !std::isfinite(json[i].get<double>()))
      throw Error(Errc::parse, path + "[" + std::to_string(i) + "]: expected a finite number");
    c.weights.push_back(json[i].get<double>());
  }
  return c;
}

}  // namespace

std::string floats_to_base64(const std::vector<float>& values) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  const std::size_t n = values.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < n) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    if (i + 1 < n) v |= std::uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::vector<float> floats_from_base64(std::string_view text, const std::string& path) {
  if (text.size() % 4 != 0) throw Error(Errc::parse, path + ": base64 text of a bad length");
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++padding;
        continue;
      }
      v[k] = base64_value(c);
      if (v[k] < 0 || padding) throw Error(Errc::parse, path + ": not base64 text");
    }
    std::uint32_t word = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) |
                         (std::uint32_t(v[2]) << 6) | std::uint32_t(v[3]);
    bytes += static_cast<char>((word >> 16) & 0xff);
    if (padding < 2) bytes += static_cast<char>((word >> 8) & 0xff);
    if (padding < 1) bytes += static_cast<char>(word & 0xff);
  }
  if (bytes.size() % sizeof(float) != 0)
    throw Error(Errc::parse, path + ": the decoded bytes are not a whole number of floats");
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  for (float x : values) {
    if (!std::isfinite(x)) throw Error(Errc::parse, path + ": a weight is not a finite number");
  }
  return values;
}

Json learnt_to_json(const Learnt& learnt, std::size_t dimension, const HashingEmbedder* hashing) {
  Json out = {{"version", 1},
              {"dimension", dimension},
              {"threshold", learnt.threshold},
              {"calibration",
               {{"layer", calibration_to_json(learnt.layer_calibration)},
                {"similarity", calibration_to_json(learnt.similarity_calibration)}}}};
  if (hashing) out["embedder"] = hashing->to_json();
  else if (!learnt.embedder.is_null()) out["embedder"] = learnt.embedder;
  if (learnt.layer) {
    out["layer"] = {{"routes", learnt.layer_routes},
                    {"weights", floats_to_base64(learnt.layer->weights)},
                    {"bias", learnt.layer->bias}};
  }
  return out;
}

Learnt learnt_from_json(const Json& json, std::size_t dimension) {
  const std::string path = "fitted";
  if (!json.is_object()) throw Error(Errc::parse, path + ": expected an object");
  if (json.value("version", 0) != 1)
    throw Error(Errc::parse, path + ".version: expected 1 (written by another keel version?)");
  if (!json.contains("dimension") || !json["dimension"].is_number_unsigned() ||
      json["dimension"].get<std::size_t>() != dimension)
    throw Error(Errc::parse, path + ".dimension: the learnt state is for another embedding dimension than " +
                                 std::to_string(dimension));
  Learnt learnt;
  if (json.contains("threshold")) {
    if (!json["threshold"].is_number()) throw Error(Errc::parse, path + ".threshold: expected a number");
    learnt.threshold = json["threshold"].get<double>();
  }
  if (json.contains("embedder")) learnt.embedder = json["embedder"];
  if (json.contains("calibration")) {
    const Json& c = json["calibration"];
    if (!c.is_object()) throw Error(Errc::parse, path + ".calibration: expected an object");
    learnt.layer_calibration = calibration_from_json(c.value("layer", Json()), path + ".calibration.layer", 4);
    learnt.similarity_calibration =
        calibration_from_json(c.value("similarity", Json()), path + ".calibration.similarity", 2);
  }
  if (json.contains("layer") && !json["layer"].is_null()) {
    const Json& l = json["layer"];
    const std::string lp = path + ".layer";
    if (!l.is_object()) throw Error(Errc::parse, lp + ": expected an object");
    if (!l.contains("routes") || !l["routes"].is_array() || l["routes"].empty())
      throw Error(Errc::parse, lp + ".routes: expected a non-empty array of route names");
    for (std::size_t i = 0; i < l["routes"].size(); ++i) {
      if (!l["routes"][i].is_string())
        throw Error(Errc::parse, lp + ".routes[" + std::to_string(i) + "]: expected a string");
      learnt.layer_routes.push_back(l["routes"][i].get<std::string>());
    }
    const std::size_t classes = learnt.layer_routes.size();
    if (!l.contains("weights") || !l["weights"].is_string())
      throw Error(Errc::parse, lp + ".weights: expected base64 text");
    auto layer = std::make_shared<SoftmaxLayer>();
    layer->dim = dimension;
    layer->classes = classes;
    layer->weights = floats_from_base64(l["weights"].get<std::string>(), lp + ".weights");
    if (layer->weights.size() != dimension * classes)
      throw Error(Errc::parse, lp + ".weights: " + std::to_string(layer->weights.size()) +
                                   " weights, expected dimension × routes = " +
                                   std::to_string(dimension * classes));
    if (!l.contains("bias") || !l["bias"].is_array() || l["bias"].size() != classes)
      throw Error(Errc::parse, lp + ".bias: expected " + std::to_string(classes) + " numbers");
    for (const auto& b : l["bias"]) {
      if (!b.is_number()) throw Error(Errc::parse, lp + ".bias: expected numbers");
      layer->bias.push_back(b.get<float>());
    }
    learnt.layer = std::move(layer);
  }
  return learnt;
}

}  // namespace router

namespace {

constexpr char kMagic[8] = {'K', 'E', 'E', 'L', 'R', 'T', 'R', '1'};
constexpr std::uint32_t kVersion = 1;

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// Reads from a byte buffer with bounds checks: a short file is Error(parse), never a read past
// the end.
class Reader {
 public:
  Reader(const std::string& data, std::string path) : data_(data), path_(std::move(path)) {}
  template <typename T>
  T get() {
    T value;
    need(sizeof value);
    std::memcpy(&value, data_.data() + pos_, sizeof value);
    pos_ += sizeof value;
    return value;
  }
  void read(void* out, std::size_t bytes) {
    need(bytes);
    std::memcpy(out, data_.data() + pos_, bytes);
    pos_ += bytes;
  }
  std::string_view take(std::size_t bytes) {
    need(bytes);
    std::string_view view(data_.data() + pos_, bytes);
    pos_ += bytes;
    return view;
  }
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }

 private:
  void need(std::size_t bytes) const {
    if (bytes > data_.size() - pos_)
      throw Error(Errc::parse, path_ + ": the file is truncated (offset " + std::to_string(pos_) + ")");
  }
  const std::string& data_;
  std::string path_;
  std::size_t pos_ = 0;
};

std::string errno_text() { return std::strerror(errno); }

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Errc::io, "cannot open " + path + ": " + errno_text());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(Errc::io, "cannot read " + path);
  return data;
}

}  // namespace

void Router::save(const std::string& path) const {
  auto state = impl_->snapshot();
  RouterConfig config = this->config();
  Json header = {{"config", config.to_json()}, {"dimension", state->dimension}};
  header["embedder"] = impl_->hashing ? impl_->hashing->to_json() : Json(nullptr);
  Json counts = Json::array();
  for (const auto& route : state->routes) counts.push_back(route->vectors.size());
  header["vectors"] = std::move(counts);
  const std::string text = header.dump();

  std::string out;
  out.append(kMagic, sizeof kMagic);
  put(out, kVersion);
  put(out, std::uint32_t{0});
  put(out, static_cast<std::uint64_t>(text.size()));
  out += text;
  for (const auto& route : state->routes) {
    for (const auto& v : route->vectors) {
      put(out, static_cast<std::uint32_t>(v.index.size()));
      out.append(reinterpret_cast<const char*>(v.index.data()), v.index.size() * sizeof(std::uint32_t));
      out.append(reinterpret_cast<const char*>(v.value.data()), v.value.size() * sizeof(float));
    }
  }
  put(out, vector::checksum(out.data(), out.size()));
  detail::write_file_atomically(path, out);
}

Router Router::load(const std::string& path, Options options) {
  const std::string data = read_whole(path);
  if (data.size() < sizeof kMagic + 16 + 8 || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    throw Error(Errc::parse, path + ": not a saved keel router");
  std::uint64_t stored;
  std::memcpy(&stored, data.data() + data.size() - sizeof stored, sizeof stored);
  if (stored != vector::checksum(data.data(), data.size() - sizeof stored))
    throw Error(Errc::parse, path + ": the checksum does not match (a corrupt or truncated file)");

  Reader in(data, path);
  in.take(sizeof kMagic);
  const auto version = in.get<std::uint32_t>();
  if (version != kVersion)
    throw Error(Errc::parse, path + ": file version " + std::to_string(version) + ", this keel reads " +
                                 std::to_string(kVersion));
  in.get<std::uint32_t>();
  const auto header_bytes = in.get<std::uint64_t>();
  if (header_bytes > in.remaining()) throw Error(Errc::parse, path + ": the header is truncated");
  Json header = Json::parse(in.take(static_cast<std::size_t>(header_bytes)), nullptr, false);
  if (!header.is_object() || !header.contains("config") || !header.contains("vectors") ||
      !header["vectors"].is_array() || !header.contains("dimension") ||
      !header["dimension"].is_number_unsigned())
    throw Error(Errc::parse, path + ": the header is not the JSON keel writes");
  RouterConfig config;
  try {
    config = RouterConfig::from_json(header["config"]);
  } catch (const Error& e) {
    throw Error(Errc::parse, path + ": " + e.what());
  }
  const auto dimension = header["dimension"].get<std::size_t>();
  const Json& counts = header["vectors"];
  if (counts.size() != config.routes.size())
    throw Error(Errc::parse, path + ": vector counts for " + std::to_string(counts.size()) + " routes, the config has " +
                                 std::to_string(config.routes.size()));
  std::vector<std::vector<router::SparseVector>> vectors(config.routes.size());
  for (std::size_t r = 0; r < config.routes.size(); ++r) {
    if (!counts[r].is_number_unsigned() || counts[r].get<std::size_t>() != config.routes[r].utterances.size())
      throw Error(Errc::parse, path + ": route \"" + config.routes[r].name + "\" has " +
                                   std::to_string(config.routes[r].utterances.size()) +
                                   " utterances but a different number of vectors");
    vectors[r].resize(config.routes[r].utterances.size());
    for (auto& v : vectors[r]) {
      const auto nnz = in.get<std::uint32_t>();
      if (nnz > dimension) throw Error(Errc::parse, path + ": a vector has more coordinates than the dimension");
      v.index.resize(nnz);
      v.value.resize(nnz);
      in.read(v.index.data(), nnz * sizeof(std::uint32_t));
      in.read(v.value.data(), nnz * sizeof(float));
      for (std::uint32_t k = 0; k < nnz; ++k) {
        if (v.index[k] >= dimension || (k > 0 && v.index[k] <= v.index[k - 1]) || !std::isfinite(v.value[k]))
          throw Error(Errc::parse, path + ": a vector of route \"" + config.routes[r].name + "\" is corrupt");
      }
    }
  }
  if (in.remaining() != sizeof stored) throw Error(Errc::parse, path + ": unexpected bytes after the vectors");

  if (options.embedder && options.embedder->dimension() != dimension)
    throw Error(Errc::invalid_argument, "the embedder has dimension " + std::to_string(options.embedder->dimension()) +
                                            ", the saved router " + std::to_string(dimension));
  Json saved_embedder = header.value("embedder", Json());
  Router router;
  router.impl_ = std::make_unique<Impl>();
  router.impl_->options = std::move(options);
  router.impl_->build(std::move(config), saved_embedder.is_null() ? nullptr : &saved_embedder, &vectors);
  if (router.impl_->embedder->dimension() != dimension)
    throw Error(Errc::parse, path + ": the saved embedder has dimension " +
                                 std::to_string(router.impl_->embedder->dimension()) + ", the vectors " +
                                 std::to_string(dimension));
  return router;
}

bool Router::is_saved_router(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof kMagic] = {};
  return in.read(magic, sizeof magic) && std::memcmp(magic, kMagic, sizeof kMagic) == 0;
}

}  // namespace keel
