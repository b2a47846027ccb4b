// The KL family as GEMMs (method.md "Algebra"), and Jensen-Shannon per pair.
//
// For a pair with p-side task A and q-side task B (A = target, B = source; swapped by -I):
//   sum_e w_e p_e log(p_e / q_e) = sum_e w_e p_e log p_e  -  sum_e w_e p_e log q_e
// The first term is a row term of A (or a small d-length GEMM when the weights follow B), the
// second one GEMM over all pairs: (w ⊙ P_A) · (log Q_B)^T, or P_A · (w ⊙ log Q_B)^T. "Both"
// weights are the average of the two and split into one GEMM per side. Everything runs in
// float64. Terms with p = 0 count 0 (the reference's nan_to_num); p > 0 = q gives +inf in the
// reference (then NaN after loading): a 0/1 GEMM counts such entries and they are reported NaN.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>

#include "core/big_buffer.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "distance/kl_family.hpp"
#include "distance/rows.hpp"

namespace taskfp {
namespace {

// Row-major rows x cols of doubles left uninitialized: every element is written before it is
// read, and zero-filling hundreds of megabytes first would cost as much as the GEMM.
struct FreeDeleter {
  void operator()(double* p) const { std::free(p); }
};
struct Rows {
  std::unique_ptr<double[], FreeDeleter> data;  // huge pages from 2 MiB (core/big_buffer.hpp)
  std::size_t rows = 0, cols = 0;
  Rows() = default;
  Rows(std::size_t r, std::size_t c)
      : data(static_cast<double*>(big_allocate(r * c * sizeof(double)))), rows(r), cols(c) {}
  double* row(std::size_t i) { return data.get() + i * cols; }
  const double* row(std::size_t i) const { return data.get() + i * cols; }
};

// Matrix sides as the GEMMs see them: one row per task, the task's rows flattened.
struct Layout {
  std::size_t rows = 0;  // rows per task (d for histograms, 1 for means)
  std::size_t cols = 0;  // values per row
  [[nodiscard]] std::size_t elements() const { return rows * cols; }
  // The feature (weight index) of flattened element e.
  [[nodiscard]] std::size_t feature(std::size_t r, std::size_t c) const { return rows == 1 ? c : r; }
};

Matrix<double> weights_for(const FingerprintSet& fps, const std::vector<std::string>& names,
                           const MetricSpec& spec) {
  const double alpha = spec.alpha.value_or(0.0);
  Matrix<double> w(names.size(), fps.dim());
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto v = feature_weights(fps.at(names[i]), spec.weight_prep, alpha);
    std::copy(v.begin(), v.end(), w.row(i).begin());
  }
  return w;
}

// log q of one task's preprocessed rows, masked to 0 where q == 0 (reported through `zero`).
// For a softmax without clipping, log q = h - logsumexp(h) per row: no per-element log, and more
// accurate than the log of the softmax (method.md "A better GEMM").
void log_q_row(const double* h, std::size_t cols, Prep prep, double alpha, bool clip, double* out,
               std::vector<double>& scratch, bool& zero) {
  if (prep == Prep::Softmax && !clip) {
    double mx = h[0];
    for (std::size_t c = 1; c < cols; ++c) mx = std::max(mx, h[c]);
    double sum = 0.0;
    for (std::size_t c = 0; c < cols; ++c) sum += std::exp(h[c] - mx);
    const double lse = mx + std::log(sum);
    for (std::size_t c = 0; c < cols; ++c) out[c] = h[c] - lse;
    return;
  }
  scratch.assign(h, h + cols);
  preprocess_row(scratch, prep, alpha);
  for (std::size_t c = 0; c < cols; ++c) {
    double q = clip ? std::max(scratch[c], kClipEpsilon) : scratch[c];
    if (q > 0.0) {
      out[c] = std::log(q);
    } else {
      out[c] = 0.0;
      zero = true;
    }
  }
}

}  // namespace

DistanceMatrix kld_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                          const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, KldPhases* phases,
                          const compute::Backend& backend) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  double gemm_seconds = 0;
  // The big GEMMs: C (m x n, contiguous rows) = alpha A B^T + beta C, on the chosen backend.
  // On the CPU in the fixed tile grid of core/blas.hpp: source rows in tiles of kSourceTile
  // (the granule of MPI ranks' shares), targets in tiles of kTargetTile, so that every entry
  // comes from the same BLAS call whatever the thread and rank counts.
  const std::size_t tile_a = spec.invert ? blas::kSourceTile : blas::kTargetTile;
  const std::size_t tile_b = spec.invert ? blas::kTargetTile : blas::kSourceTile;
  const compute::GemmTiles tiles{tile_a, tile_b};
  auto timed_gemm = [&](const double* a, std::size_t m, const double* b, std::size_t n,
                        std::size_t k, double* c, double alpha, double beta) {
    auto g0 = Clock::now();
    backend.gemm_abt(a, m, b, n, k, c, alpha, beta, tiles);
    gemm_seconds += std::chrono::duration<double>(Clock::now() - g0).count();
  };
  const double alpha = spec.alpha.value_or(0.0);
  // A: the tasks on the p side of KL(p || q); B: the q side.
  const auto& a_names = spec.invert ? sources : targets;
  const auto& b_names = spec.invert ? targets : sources;
  const Prep a_prep = spec.invert ? spec.source_prep : spec.target_prep;
  const Prep b_prep = spec.invert ? spec.target_prep : spec.source_prep;
  const std::size_t na = a_names.size(), nb = b_names.size(), d = fps.dim();
  std::vector<const TaskFingerprint*> a_fp, b_fp;
  for (const auto& n : a_names) a_fp.push_back(&fps.at(n));
  for (const auto& n : b_names) b_fp.push_back(&fps.at(n));
  const auto first = task_rows_view(*a_fp.front(), spec.bins);
  const Layout lay{first.rows, first.cols};
  const std::size_t ne = lay.elements();

  const bool a_weighted = spec.weight_by == WeightBy::Both ||
                          (spec.weight_by == WeightBy::Target && !spec.invert) ||
                          (spec.weight_by == WeightBy::Source && spec.invert);
  const bool b_weighted = spec.weight_by == WeightBy::Both ||
                          (spec.weight_by == WeightBy::Source && !spec.invert) ||
                          (spec.weight_by == WeightBy::Target && spec.invert);
  const double half = spec.weight_by == WeightBy::Both ? 0.5 : 1.0;
  Matrix<double> wa, wb;
  if (a_weighted) wa = weights_for(fps, a_names, spec);
  if (b_weighted) wb = weights_for(fps, b_names, spec);

  Matrix<double> cross;  // sum_e w_e p_e log q_e
  Matrix<double> plogp;  // sum over each feature's elements of p log p
  Matrix<double> bad;    // where nonzero: an infinite entry (p > 0 where q = 0)
  bool on_device = false;
  // On a device, histogram layouts whose q side cannot be zero run entirely there (preprocessing
  // too); the rest computes its rows here and sends only the GEMMs. The CPU backend's kl_terms is
  // the plain reference; the path below is the CPU's fast one (zero bins counted, fixed tiles).
  if (!backend.is_host() && lay.rows > 1 && ops::kl_terms_supported(b_prep, alpha, spec.clip)) {
    on_device = true;
    cross = Matrix<double>::uninitialized(na, nb);
    plogp = Matrix<double>::uninitialized(na, d);
    std::vector<const double*> ap(na), bp(nb);
    for (std::size_t i = 0; i < na; ++i) ap[i] = task_rows_view(*a_fp[i], spec.bins).data;
    for (std::size_t j = 0; j < nb; ++j) bp[j] = task_rows_view(*b_fp[j], spec.bins).data;
    compute::KlTerms r;
    r.na = na, r.nb = nb, r.rows = lay.rows, r.cols = lay.cols, r.a = ap.data(), r.b = bp.data();
    r.a_prep = a_prep, r.b_prep = b_prep, r.alpha = alpha, r.clip = spec.clip;
    r.wa = a_weighted ? wa.data.data() : nullptr;
    r.wb = b_weighted ? wb.data.data() : nullptr;
    r.half = half;
    const auto g0 = Clock::now();
    backend.kl_terms(r, cross.data.data(), plogp.data.data());
    gemm_seconds += std::chrono::duration<double>(Clock::now() - g0).count();
  }
  if (!on_device) {
    // q side: log q for every task (and w * log q when the weights follow q's task).
    Rows logq(nb, ne), logq_w;
    if (b_weighted) logq_w = Rows(nb, ne);
    std::vector<char> has_zero(nb, 0);
  #pragma omp parallel
    {
      std::vector<double> scratch;
  #pragma omp for schedule(dynamic, 1)
      for (std::size_t j = 0; j < nb; ++j) {
        const auto v = task_rows_view(*b_fp[j], spec.bins);
        bool zero = false;
        for (std::size_t r = 0; r < lay.rows; ++r)
          log_q_row(v.data + r * lay.cols, lay.cols, b_prep, alpha, spec.clip,
                    logq.row(j) + r * lay.cols, scratch, zero);
        has_zero[j] = zero;
        if (b_weighted) {
          const double* src = logq.row(j);
          double* dst = logq_w.row(j);
          for (std::size_t r = 0; r < lay.rows; ++r)
            for (std::size_t c = 0; c < lay.cols; ++c)
              dst[r * lay.cols + c] = wb(j, lay.feature(r, c)) * src[r * lay.cols + c];
        }
      }
    }
    bool any_zero = std::any_of(has_zero.begin(), has_zero.end(), [](char z) { return z != 0; });
    // Where q is zero (only without softmax, smoothing or clipping on q): p > 0 there makes the
    // pair infinite. Counted by a GEMM of indicators.
    Rows q_zero;
    if (any_zero) {
      q_zero = Rows(nb, ne);
  #pragma omp parallel
      {
        std::vector<double> scratch;
  #pragma omp for schedule(dynamic, 1)
        for (std::size_t j = 0; j < nb; ++j) {
          const auto v = task_rows_view(*b_fp[j], spec.bins);
          double* dst = q_zero.row(j);
          for (std::size_t r = 0; r < lay.rows; ++r) {
            scratch.assign(v.data + r * lay.cols, v.data + (r + 1) * lay.cols);
            preprocess_row(scratch, b_prep, alpha);
            for (std::size_t c = 0; c < lay.cols; ++c)
              dst[r * lay.cols + c] = scratch[c] <= 0.0 ? 1.0 : 0.0;
          }
        }
      }
    }

    // p side, streamed in blocks of tasks through reused buffers.
    cross = Matrix<double>(na, nb, 0.0);
    plogp = Matrix<double>(na, d, 0.0);
    if (any_zero) bad = Matrix<double>(na, nb, 0.0);
    // Host buffers of up to 256 MiB (CPU) or 2 GiB (a device: fewer, larger GEMMs, each of
    // which uploads the whole q side).
    const std::size_t budget = !backend.is_host() ? std::size_t{2} << 30 : std::size_t{256} << 20;
    // Whole tiles per block: block starts are tile starts.
    const std::size_t fit = budget / (ne * sizeof(double) * 2 + 1) / tile_a * tile_a;
    const std::size_t block = std::min<std::size_t>(na, std::max<std::size_t>(tile_a, fit));
    Rows p(block, ne), p_w, pos;
    if (a_weighted) p_w = Rows(block, ne);
    if (any_zero) pos = Rows(block, ne);
    for (std::size_t i0 = 0; i0 < na; i0 += block) {
      const std::size_t rows = std::min(block, na - i0);
  #pragma omp parallel
      {
        std::vector<double> positive(lay.cols);
  #pragma omp for schedule(dynamic, 1)
        for (std::size_t i = 0; i < rows; ++i) {
          const auto v = task_rows_view(*a_fp[i0 + i], spec.bins);
          double* dst = p.row(i);
          double* terms = plogp.row(i0 + i).data();
          for (std::size_t r = 0; r < lay.rows; ++r) {
            double* x = dst + r * lay.cols;
            std::copy(v.data + r * lay.cols, v.data + (r + 1) * lay.cols, x);
            preprocess_row({x, lay.cols}, a_prep, alpha);
            if (spec.clip)
              for (std::size_t c = 0; c < lay.cols; ++c) x[c] = std::max(x[c], kClipEpsilon);
            // Terms with p = 0 count 0, as the reference's nan_to_num makes them.
            if (lay.rows == 1) {  // a mean vector: one term per feature
              for (std::size_t c = 0; c < lay.cols; ++c)
                if (x[c] > 0.0) terms[c] += x[c] * std::log(x[c]);
              continue;
            }
            // One feature's terms, summed in column order over its positive values, gathered
            // branch-free first: a branch per bin mispredicts where a third of the bins are empty
            // (7.5 instead of 4.2 ns per bin, bench/RESULTS.md).
            std::size_t k = 0;
            for (std::size_t c = 0; c < lay.cols; ++c) {
              positive[k] = x[c];
              k += x[c] > 0.0 ? 1 : 0;
            }
            double sum = terms[r];
            for (std::size_t j = 0; j < k; ++j) sum += positive[j] * std::log(positive[j]);
            terms[r] = sum;
          }
          if (a_weighted)
            for (std::size_t r = 0; r < lay.rows; ++r)
              for (std::size_t c = 0; c < lay.cols; ++c)
                p_w.row(i)[r * lay.cols + c] = wa(i0 + i, lay.feature(r, c)) * dst[r * lay.cols + c];
          if (any_zero)
            for (std::size_t e = 0; e < ne; ++e) pos.row(i)[e] = dst[e] > 0.0 ? 1.0 : 0.0;
        }
      }
      double* cross_rows = cross.data.data() + i0 * nb;
      if (a_weighted) timed_gemm(p_w.row(0), rows, logq.row(0), nb, ne, cross_rows, half, 1.0);
      if (b_weighted) timed_gemm(p.row(0), rows, logq_w.row(0), nb, ne, cross_rows, half, 1.0);
      if (!a_weighted && !b_weighted) timed_gemm(p.row(0), rows, logq.row(0), nb, ne, cross_rows, 1.0, 0.0);
      if (any_zero) timed_gemm(pos.row(0), rows, q_zero.row(0), nb, ne, bad.data.data() + i0 * nb, 1.0, 0.0);
    }
  }

  // Row terms and denominators.
  Matrix<double> self(na, nb, 0.0);
  Matrix<double> denom(na, nb, a_weighted || b_weighted ? 0.0 : static_cast<double>(d));
  if (!a_weighted && !b_weighted) {
    for (std::size_t i = 0; i < na; ++i) {
      double s = 0.0;
      for (double v : plogp.row(i)) s += v;
      for (std::size_t j = 0; j < nb; ++j) self(i, j) = s;
    }
  }
  if (a_weighted) {
    for (std::size_t i = 0; i < na; ++i) {
      double s = 0.0;
      for (std::size_t f = 0; f < d; ++f) s += wa(i, f) * plogp(i, f);
      const double ws = weight_sum(wa.row(i));
      for (std::size_t j = 0; j < nb; ++j) {
        self(i, j) += half * s;
        denom(i, j) += half * ws;
      }
    }
  }
  if (b_weighted) {
    blas::tiled_gemm_abt(plogp.data.data(), d, wb.data.data(), d, na, nb, d, self.data.data(), nb,
                         half, 1.0, tile_a, tile_b);
    for (std::size_t j = 0; j < nb; ++j) {
      const double ws = weight_sum(wb.row(j));
      for (std::size_t i = 0; i < na; ++i) denom(i, j) += half * ws;
    }
  }

  if (phases) {
    phases->gemm = gemm_seconds;
    phases->prepare = std::chrono::duration<double>(Clock::now() - t0).count() - gemm_seconds;
  }
  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size());
  std::size_t infinite = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      const std::size_t i = spec.invert ? s : t, j = spec.invert ? t : s;
      double v = (self(i, j) - cross(i, j)) / denom(i, j);
      if (!bad.empty() && bad(i, j) > 0.0) {
        v = std::numeric_limits<double>::quiet_NaN();
        if (sources[s] != targets[t]) ++infinite;
      }
      out.values(s, t) = sources[s] == targets[t] ? 0.0 : v;
    }
  }
  if (infinite > 0)
    out.warnings.push_back(fmt::format(
        "{}: {} entries are infinite (a bin with p > 0 has q = 0: the source is neither softmaxed, "
        "smoothed nor clipped) and are reported as NaN",
        spec.name, infinite));
  return out;
}

DistanceMatrix js_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                         const std::vector<std::string>& sources,
                         const std::vector<std::string>& targets, const ProgressFn& progress) {
  const double alpha = spec.alpha.value_or(0.0);
  auto prepared = [&](const std::vector<std::string>& names, Prep prep) {
    std::vector<Matrix<double>> out(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      out[i] = task_rows(fps.at(names[i]), spec.bins);
      preprocess_rows(out[i], prep, alpha);
    }
    return out;
  };
  const auto tp = prepared(targets, spec.target_prep);
  const auto sq = prepared(sources, spec.source_prep);
  const Layout lay{tp.front().rows, tp.front().cols};
  Matrix<double> ws, wt;
  if (spec.weight_by == WeightBy::Source || spec.weight_by == WeightBy::Both)
    ws = weights_for(fps, sources, spec);
  if (spec.weight_by == WeightBy::Target || spec.weight_by == WeightBy::Both)
    wt = weights_for(fps, targets, spec);
  const std::size_t d = fps.dim();

  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size());
  std::size_t done = 0;
#pragma omp parallel
  {
    std::vector<double> kl_feature(d);
    std::vector<double> w(d, 1.0);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t s = 0; s < sources.size(); ++s) {
      for (std::size_t t = 0; t < targets.size(); ++t) {
        if (sources[s] == targets[t]) {
          out.values(s, t) = 0.0;
          continue;
        }
        for (std::size_t f = 0; f < d; ++f) {
          switch (spec.weight_by) {
            case WeightBy::Source: w[f] = ws(s, f); break;
            case WeightBy::Target: w[f] = wt(t, f); break;
            case WeightBy::Both: w[f] = 0.5 * (ws(s, f) + wt(t, f)); break;
            case WeightBy::None: break;
          }
        }
        const double* p = tp[t].data.data();
        const double* q = sq[s].data.data();
        std::fill(kl_feature.begin(), kl_feature.end(), 0.0);
        for (std::size_t e = 0; e < lay.elements(); ++e) {
          double pe = p[e], qe = q[e];
          double m = (pe + qe) / 2;
          if (spec.clip) {
            pe = std::max(pe, kClipEpsilon);
            qe = std::max(qe, kClipEpsilon);
            m = std::max(m, kClipEpsilon);
          }
          double term = 0.0;
          if (pe > 0.0) term += pe * std::log(pe / m);
          if (qe > 0.0) term += qe * std::log(qe / m);
          kl_feature[lay.feature(e / lay.cols, e % lay.cols)] += term;
        }
        double num = 0.0, den = 0.0;
        for (std::size_t f = 0; f < d; ++f) {
          num += w[f] * kl_feature[f];
          den += w[f];
        }
        out.values(s, t) = num / den;
      }
#pragma omp critical
      if (progress) progress(++done, sources.size());
    }
  }
  return out;
}

}  // namespace taskfp
