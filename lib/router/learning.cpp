#include "router/learning.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace keel::router {

SparseVector sparsify(const float* dense, std::size_t dim) {
  SparseVector out;
  for (std::size_t i = 0; i < dim; ++i) {
    if (dense[i] != 0.0f) {
      out.index.push_back(static_cast<std::uint32_t>(i));
      out.value.push_back(dense[i]);
    }
  }
  return out;
}

namespace {

void softmax(float* z, std::size_t n) {
  float top = *std::max_element(z, z + n);
  float sum = 0;
  for (std::size_t c = 0; c < n; ++c) {
    z[c] = std::exp(z[c] - top);
    sum += z[c];
  }
  float inv = 1.0f / sum;
  for (std::size_t c = 0; c < n; ++c) z[c] *= inv;
}

// z += scale * row, over `n` floats: the loop the compiler vectorises.
inline void axpy(float* __restrict z, const float* __restrict row, float scale, std::size_t n) {
  for (std::size_t c = 0; c < n; ++c) z[c] += scale * row[c];
}

}  // namespace

void SoftmaxLayer::predict(const SparseVector& q, std::vector<float>& out) const {
  out.assign(bias.begin(), bias.end());
  for (std::size_t k = 0; k < q.index.size(); ++k) {
    axpy(out.data(), weights.data() + static_cast<std::size_t>(q.index[k]) * classes, q.value[k],
         classes);
  }
  softmax(out.data(), classes);
}

SoftmaxLayer train_softmax(const std::vector<const SparseVector*>& samples,
                           const std::vector<std::uint32_t>& labels, std::size_t classes,
                           std::size_t dim, const LayerTraining& options) {
  SoftmaxLayer layer;
  layer.dim = dim;
  layer.classes = classes;
  layer.weights.assign(dim * classes, 0.0f);
  layer.bias.assign(classes, 0.0f);
  if (samples.empty() || classes == 0) return layer;

  // Weight decay multiplies every weight each step; keep that factor as one scalar (the true
  // weights are scale * stored) so a step costs only the sample's non-zero rows.
  double scale = 1.0;
  std::vector<std::size_t> order(samples.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  std::vector<float> z(classes), gradient(classes);
  const double steps = static_cast<double>(options.epochs) * static_cast<double>(samples.size());
  double step = 0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      const SparseVector& x = *samples[i];
      const double rate = options.learning_rate * (1.0 - 0.9 * step / steps);
      step += 1;
      std::copy(layer.bias.begin(), layer.bias.end(), z.begin());
      const float s = static_cast<float>(scale);
      for (std::size_t k = 0; k < x.index.size(); ++k) {
        axpy(z.data(), layer.weights.data() + static_cast<std::size_t>(x.index[k]) * classes,
             s * x.value[k], classes);
      }
      softmax(z.data(), classes);
      for (std::size_t c = 0; c < classes; ++c) gradient[c] = z[c];
      gradient[labels[i]] -= 1.0f;
      scale *= 1.0 - rate * options.l2;
      const float step_scale = static_cast<float>(-rate / scale);
      for (std::size_t k = 0; k < x.index.size(); ++k) {
        axpy(layer.weights.data() + static_cast<std::size_t>(x.index[k]) * classes,
             gradient.data(), step_scale * x.value[k], classes);
      }
      for (std::size_t c = 0; c < classes; ++c)
        layer.bias[c] -= static_cast<float>(rate) * gradient[c];
      if (scale < 1e-3) {
        for (float& w : layer.weights) w *= static_cast<float>(scale);
        scale = 1.0;
      }
    }
  }
  for (float& w : layer.weights) w *= static_cast<float>(scale);
  return layer;
}

double Calibration::operator()(const double* features, std::size_t n) const {
  if (weights.empty()) return 0;
  double z = weights[0];
  for (std::size_t i = 0; i < n && i + 1 < weights.size(); ++i) z += weights[i + 1] * features[i];
  return 1.0 / (1.0 + std::exp(-z));
}

Calibration fit_calibration(const std::vector<std::vector<double>>& features,
                            const std::vector<int>& correct) {
  Calibration out;
  if (features.empty()) return out;
  const std::size_t n = features.size(), m = features[0].size();
  // Standardise so one learning rate suits every feature, then fold the scaling back in.
  std::vector<double> mean(m, 0), sd(m, 0);
  for (const auto& f : features)
    for (std::size_t j = 0; j < m; ++j) mean[j] += f[j] / static_cast<double>(n);
  for (const auto& f : features)
    for (std::size_t j = 0; j < m; ++j) sd[j] += (f[j] - mean[j]) * (f[j] - mean[j]) / static_cast<double>(n);
  for (double& s : sd) s = s > 1e-12 ? std::sqrt(s) : 1.0;

  std::vector<double> w(m + 1, 0.0), g(m + 1);
  const double l2 = 1e-3;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::fill(g.begin(), g.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double z = w[0];
      for (std::size_t j = 0; j < m; ++j) z += w[j + 1] * (features[i][j] - mean[j]) / sd[j];
      double err = 1.0 / (1.0 + std::exp(-z)) - correct[i];
      g[0] += err;
      for (std::size_t j = 0; j < m; ++j) g[j + 1] += err * (features[i][j] - mean[j]) / sd[j];
    }
    for (std::size_t j = 0; j <= m; ++j) {
      g[j] = g[j] / static_cast<double>(n) + (j ? l2 * w[j] : 0.0);
      w[j] -= 1.0 * g[j];
    }
  }
  out.weights.assign(m + 1, 0.0);
  out.weights[0] = w[0];
  for (std::size_t j = 0; j < m; ++j) {
    out.weights[j + 1] = w[j + 1] / sd[j];
    out.weights[0] -= w[j + 1] * mean[j] / sd[j];
  }
  return out;
}

}  // namespace keel::router
