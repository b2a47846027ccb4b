// The operations every compute backend offers (engine/compute/backend.hpp): their names and
// argument types, shared by the CPU backend (engine/compute/) and the CUDA backend (kernels/,
// built by nvcc into the CUDA plugin). Plain C++: no CUDA and no engine headers.
#pragma once

#include <cstddef>

namespace taskfp::ops {

/// One operation of the backend table.
enum class Op {
  GemmAbt,          ///< C = alpha A B^T + beta C, float64
  HistogramCounts,  ///< torch.histc counts per feature, float32 values
  LogSoftmaxRows,   ///< h - logsumexp(h) per row, float64
  KlTerms,          ///< the KL family's cross and row terms, preprocessing included
  SinkhornSoftmin,  ///< the Sinkhorn divergence's soft-min passes over a pair's cost matrices
};
inline constexpr Op kAllOps[] = {Op::GemmAbt, Op::HistogramCounts, Op::LogSoftmaxRows, Op::KlTerms,
                                 Op::SinkhornSoftmin};
inline const char* op_name(Op op) {
  switch (op) {
    case Op::GemmAbt: return "gemm_abt";
    case Op::HistogramCounts: return "histogram_counts";
    case Op::LogSoftmaxRows: return "log_softmax_rows";
    case Op::KlTerms: return "kl_terms";
    case Op::SinkhornSoftmin: return "sinkhorn_softmin";
  }
  return "?";
}

/// Row preprocessing of the KL family (method.md section 4), the letters of the metric names'
/// PP: part: N = L1 (divide by max(sum |x|, 1e-12)), S = softmax, W = none, U = uniform
/// smoothing (alpha / cols + (1 - alpha) x).
enum class RowPrep : char { L1 = 'N', Softmax = 'S', None = 'W', Uniform = 'U' };

/// The KL family's cross and row terms for every pair of a p side (A) and a q side (B): both
/// sides' raw histograms are preprocessed (q side to log q), weighted, and multiplied.
struct KlTerms {
  std::size_t na = 0, nb = 0;      ///< tasks on the p side (A) and the q side (B)
  std::size_t rows = 0, cols = 0;  ///< per task: rows (features) x cols (bins)
  const double* const* a = nullptr;  ///< na pointers to rows x cols raw histograms (host)
  const double* const* b = nullptr;  ///< nb pointers, same layout
  RowPrep a_prep = RowPrep::L1, b_prep = RowPrep::Softmax;
  double alpha = 0.0;  ///< uniform smoothing
  bool clip = false;   ///< clip both sides at float32(1e-4) after preprocessing
  const double* wa = nullptr;  ///< na x rows weights of the p side's features, or null
  const double* wb = nullptr;  ///< nb x rows weights of the q side's features, or null
  double half = 1.0;           ///< factor of each weighted GEMM (0.5 when both sides weigh)
  std::size_t max_device_bytes = 0;  ///< device backends: 0 = 80% of the free device memory
  std::size_t chunk_bytes = 0;       ///< device backends: host-to-device pieces (0: 64 MiB)
};

/// True when q can never be 0 after preprocessing (softmax, uniform smoothing with alpha > 0,
/// or clipping): the only case kl_terms handles (elsewhere infinite entries need counting).
inline bool kl_terms_supported(RowPrep b_prep, double alpha, bool clip) {
  return clip || b_prep == RowPrep::Softmax || (b_prep == RowPrep::Uniform && alpha > 0.0);
}

/// Which of a Sinkhorn pair's four cost matrices: C(x, y) (n x m), C(y, x) (m x n), C(x, x)
/// (n x n), C(y, y) (m x m), with C(p, q)_ij = |p_i - q_j|^2 / 2 = (|p_i|^2 - 2 p_i.q_j + |q_j|^2) / 2
/// (GeomLoss's squared_distances / 2, no clamping).
enum class CostMatrix : int { XY = 0, YX = 1, XX = 2, YY = 3 };

/// Two point clouds whose cost matrices a backend keeps for the soft-min passes of the Sinkhorn
/// divergence (engine: distance/sinkhorn.hpp). Every pointer is a host array that must outlive
/// the pair made from the request.
struct SoftminPairRequest {
  const double* x = nullptr;  ///< n x d points, row-major
  const double* y = nullptr;  ///< m x d points, row-major
  std::size_t n = 0, m = 0, d = 0;
  const double* x_norms = nullptr;  ///< |x_i|^2 (n), summed by the caller so that every backend uses the same
  const double* y_norms = nullptr;  ///< |y_j|^2 (m)
  /// CPU: hold the cost matrices for the pair (else compute them again on every pass in slabs of
  /// slab_bytes); device backends decide from their memory and max_device_bytes.
  bool hold = true;
  const double* x_self = nullptr;  ///< CPU, held: C(x, x) already computed (n x n), or null
  const double* y_self = nullptr;  ///< CPU, held: C(y, y) (m x m), or null
  std::size_t slab_bytes = std::size_t{64} << 20;  ///< CPU: a streamed slab (whole 128-row tiles)
  std::size_t max_device_bytes = 0;  ///< device: memory the pair may use (0: 80% of the free memory)
};

}  // namespace taskfp::ops
