// The Embedder interface's shared behaviour.
#include "keel/llm.hpp"

namespace keel {

Embedder::~Embedder() = default;

std::vector<float> Embedder::embed(std::string_view text, const CallOptions& options) const {
  auto vectors = embed_batch({std::string(text)}, options);
  if (vectors.size() != 1) {
    throw Error(Errc::provider, "embedder returned " + std::to_string(vectors.size()) +
                                    " vectors for one text");
  }
  return std::move(vectors[0]);
}

Executor& Embedder::executor() const noexcept { return Executor::shared(); }

void Embedder::embed_batch_async(std::vector<std::string> texts, CallOptions options,
                                 Callback<std::vector<std::vector<float>>> done) const {
  executor().post([this, texts = std::move(texts), options = std::move(options),
                   done = std::move(done)] {
    if (options.cancel.cancelled()) {
      done(Error(Errc::cancelled, "embedding cancelled"));
      return;
    }
    done(capture([&] { return embed_batch(texts, options); }));
  });
}

}  // namespace keel
