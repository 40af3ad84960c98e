// Internal: what the router learns in fit() — a softmax (multinomial logistic) layer over the
// embeddings, a logistic calibration of confidence, and thresholds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace keel::router {

/// A sparse vector: the non-zero coordinates of an embedding.
struct SparseVector {
  std::vector<std::uint32_t> index;
  std::vector<float> value;
};

SparseVector sparsify(const float* dense, std::size_t dim);

/// logits = Wᵀ q + b. W is stored feature-major (dim rows of `classes` floats), so scoring a
/// sparse query touches only its non-zero rows and each row is one contiguous vector update.
struct SoftmaxLayer {
  std::size_t dim = 0;
  std::size_t classes = 0;
  std::vector<float> weights;  // dim × classes
  std::vector<float> bias;     // classes

  /// Probabilities for every class into `out` (classes floats).
  void predict(const SparseVector& q, std::vector<float>& out) const;
};

struct LayerTraining {
  int epochs = 30;
  double l2 = 1e-4;
  double learning_rate = 0.5;
  std::uint64_t seed = 42;
};

/// Trains on (vector, class) pairs by SGD with a decaying learning rate and L2 weight decay.
SoftmaxLayer train_softmax(const std::vector<const SparseVector*>& samples,
                           const std::vector<std::uint32_t>& labels, std::size_t classes,
                           std::size_t dim, const LayerTraining& options);

/// confidence = sigmoid(w0 + Σ wi·fi): the probability that the top route is right, learnt
/// from examples by logistic regression on standardised features.
struct Calibration {
  std::vector<double> weights;  // bias first; empty = not fitted

  double operator()(const double* features, std::size_t n) const;
  bool fitted() const noexcept { return !weights.empty(); }
};

Calibration fit_calibration(const std::vector<std::vector<double>>& features,
                            const std::vector<int>& correct);

}  // namespace keel::router
