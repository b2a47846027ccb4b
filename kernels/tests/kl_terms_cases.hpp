// The KL family's terms (ops::KlTerms) checked against a plain oracle: each row preprocessed by
// hand, then summed per pair. Shared by the kernel tests (kernels/, built alone on GPU machines)
// and the backend test driver (tests/test_backend_ops.cpp, every backend through the engine).
// Header-only, GoogleTest assertions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <random>
#include <vector>

#include "taskfp_kernels/ops.hpp"

namespace taskfp::kl_terms_cases {

using ops::KlTerms;
using ops::RowPrep;

struct KlCase {
  RowPrep a_prep, b_prep;
  double alpha;
  bool clip, wa, wb;
  std::size_t budget = 0;  // device bytes (0: the device's default)
  bool same = false;       // both sides the same histograms (uploaded once, when memory allows)
  std::size_t chunk = 0;   // staging pieces (0: whole staging buffers)
};

// Every p-side preprocessing, every q side kl_terms takes, weights on either or both sides,
// clipping, both sides the same task set, device budgets that force blocks on both sides
// (60,000 bytes: a few tasks per block), and staging pieces smaller than a task (1,000 bytes)
// or holding two tasks (5,000 bytes).
inline const std::vector<KlCase>& all_cases() {
  static const std::vector<KlCase> cases = {
      {RowPrep::L1, RowPrep::Softmax, 0, false, false, false},
      {RowPrep::L1, RowPrep::Softmax, 0, false, true, false},
      {RowPrep::Softmax, RowPrep::Uniform, 0.25, false, false, true},
      {RowPrep::None, RowPrep::L1, 0, true, true, true},
      {RowPrep::Uniform, RowPrep::Softmax, 0.25, true, false, false},
      {RowPrep::L1, RowPrep::Softmax, 0, false, true, true, 60000},
      {RowPrep::L1, RowPrep::Softmax, 0, false, false, false, 0, true},
      {RowPrep::L1, RowPrep::Softmax, 0, false, true, true, 0, true, 1000},
      {RowPrep::Softmax, RowPrep::Softmax, 0, true, false, true, 60000, true},
      {RowPrep::L1, RowPrep::Softmax, 0, false, true, false, 60000, false, 1000},
      {RowPrep::Softmax, RowPrep::Softmax, 0, false, false, true, 0, false, 5000},
  };
  return cases;
}

inline std::vector<double> prepared(const double* h, std::size_t rows, std::size_t cols, RowPrep prep, double alpha,
                                    bool clip) {
  std::vector<double> out(h, h + rows * cols);
  for (std::size_t r = 0; r < rows; ++r) {
    double* x = out.data() + r * cols;
    if (prep == RowPrep::L1) {
      double norm = 0;
      for (std::size_t c = 0; c < cols; ++c) norm += std::abs(x[c]);
      for (std::size_t c = 0; c < cols; ++c) x[c] /= std::max(norm, 1e-12);
    } else if (prep == RowPrep::Softmax) {
      double mx = *std::max_element(x, x + cols), sum = 0;
      for (std::size_t c = 0; c < cols; ++c) sum += std::exp(x[c] - mx);
      for (std::size_t c = 0; c < cols; ++c) x[c] = std::exp(x[c] - mx) / sum;
    } else if (prep == RowPrep::Uniform) {
      for (std::size_t c = 0; c < cols; ++c) x[c] = alpha / static_cast<double>(cols) + (1 - alpha) * x[c];
    }
    if (clip)
      for (std::size_t c = 0; c < cols; ++c) x[c] = std::max(x[c], static_cast<double>(1.0f / 10000.0f));
  }
  return out;
}

// Runs one case through `run` (a backend's kl_terms) on 13 x 17 random tasks of 6 x 40 (30% of
// the bins empty) and compares: 1e-12 relative for p log p, 1e-9 for the cross terms (the
// GEMM's summation order).
inline void check(const KlCase& k, const std::function<void(const KlTerms&, double*, double*)>& run) {
  SCOPED_TRACE(testing::Message() << "p " << static_cast<char>(k.a_prep) << " q " << static_cast<char>(k.b_prep)
                                  << " clip " << k.clip << " wa " << k.wa << " wb " << k.wb << " same " << k.same
                                  << " budget " << k.budget << " chunk " << k.chunk);
  const std::size_t na = 13, nb = k.same ? na : 17, rows = 6, cols = 40, ne = rows * cols;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto histograms = [&](std::size_t n) {
    std::vector<std::vector<double>> out(n, std::vector<double>(ne));
    for (auto& t : out)
      for (std::size_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (std::size_t c = 0; c < cols; ++c) sum += t[r * cols + c] = u(rng) < 0.3 ? 0.0 : u(rng);
        for (std::size_t c = 0; c < cols; ++c) t[r * cols + c] /= sum > 0 ? sum : 1;
      }
    return out;
  };
  const auto a = histograms(na);
  const auto b = k.same ? a : histograms(nb);
  std::vector<double> wa(na * rows), wb(nb * rows);
  for (auto& w : wa) w = u(rng);
  for (auto& w : wb) w = u(rng);
  std::vector<const double*> ap, bp;
  for (const auto& t : a) ap.push_back(t.data());
  for (const auto& t : b) bp.push_back(t.data());
  if (k.same) bp = ap;  // the same pointers, as a full matrix of one task set passes them
  KlTerms req;
  req.na = na, req.nb = nb, req.rows = rows, req.cols = cols, req.a = ap.data(), req.b = bp.data();
  req.a_prep = k.a_prep, req.b_prep = k.b_prep, req.alpha = k.alpha, req.clip = k.clip;
  req.wa = k.wa ? wa.data() : nullptr, req.wb = k.wb ? wb.data() : nullptr;
  req.half = k.wa && k.wb ? 0.5 : 1.0;
  req.max_device_bytes = k.budget, req.chunk_bytes = k.chunk;
  std::vector<double> cross(na * nb, -1), plogp(na * rows, -1);
  run(req, cross.data(), plogp.data());
  for (std::size_t i = 0; i < na; ++i) {
    const auto p = prepared(a[i].data(), rows, cols, k.a_prep, k.alpha, k.clip);
    for (std::size_t r = 0; r < rows; ++r) {
      double t = 0;
      for (std::size_t c = 0; c < cols; ++c)
        if (p[r * cols + c] > 0) t += p[r * cols + c] * std::log(p[r * cols + c]);
      ASSERT_NEAR(plogp[i * rows + r], t, 1e-12 * (1 + std::abs(t))) << "task " << i << " row " << r;
    }
    for (std::size_t j = 0; j < nb; ++j) {
      const auto q = prepared(b[j].data(), rows, cols, k.b_prep, k.alpha, k.clip);
      double want = 0;
      for (std::size_t e = 0; e < ne; ++e) {
        const double w = (k.wa ? req.half * wa[i * rows + e / cols] : 0) + (k.wb ? req.half * wb[j * rows + e / cols] : 0);
        want += (k.wa || k.wb ? w : 1.0) * p[e] * std::log(q[e]);
      }
      ASSERT_NEAR(cross[i * nb + j], want, 1e-9 * (1 + std::abs(want))) << "pair " << i << "," << j;
    }
  }
}

}  // namespace taskfp::kl_terms_cases
