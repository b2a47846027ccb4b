// The CUDA backend's operations behind plain C++ signatures (host pointers in and out, no CUDA
// headers), so the engine and the tests include this without nvcc. Every CUDA and cuBLAS call
// is checked; failures throw CudaError naming the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace taskfp::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DeviceStatus {
  bool usable = false;
  std::string description;  ///< the device ("NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB"), or why none
};
/// Whether a CUDA device can be used (driver present, a device visible). Never throws.
DeviceStatus probe();

/// Makes device local_rank % (visible devices) this thread's current device (one GPU per rank
/// on a node) and returns its index. CudaError without a device.
int select_device(int local_rank);

struct GemmOptions {
  /// Device memory the operands may use; 0: 80% of the free memory. Smaller budgets give more,
  /// thinner tiles (and a failed allocation halves the tile and retries).
  std::size_t max_device_bytes = 0;
};

/// C (m x n) = alpha * A (m x k) * B^T (n x k) + beta * C, all row-major host arrays, float64 on
/// the GPU (cuBLAS DGEMM). The inner dimension is streamed in tiles through two CUDA streams,
/// so copies of one tile overlap the GEMM of the other and the operands need not fit at once.
void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k,
              double* c, double alpha, double beta, const GemmOptions& options = {});

/// torch.histc counts of an n x d float32 matrix (row-major): per feature f, each value clipped
/// to [clip_lo[f], clip_hi[f]] and binned as int((x - left) / (right - left) * bins) in float32
/// (no FMA), the right edge folded into bin bins - 1. counts: d x bins, row-major.
void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo,
                      const float* clip_hi, const float* left, const float* right, int bins,
                      std::int64_t* counts);

/// out[r] = h[r] - logsumexp(h[r]) for each row of a rows x cols float64 matrix (log of the
/// softmax, the q side of bKLD).
void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out);

/// Row preprocessing of the KL family (method.md section 4), as the CPU path's preprocess_row:
/// L1 (divide by max(sum |x|, 1e-12)), softmax, none, uniform smoothing (alpha / cols + (1 -
/// alpha) x).
enum class RowPrep : int { L1 = 0, Softmax = 1, None = 2, Uniform = 3 };

/// The KL family's cross and row terms with everything on the GPU: both sides' histograms are
/// uploaded raw, preprocessed by kernels (q side to log q; softmax without clipping as
/// h - logsumexp(h)), weighted, multiplied by cuBLAS DGEMM, and only the small results return.
/// Blocks of tasks on either side stream through device memory when the matrices do not fit.
struct KlTerms {
  std::size_t na = 0, nb = 0;    ///< tasks on the p side (A) and the q side (B)
  std::size_t rows = 0, cols = 0;  ///< per task: rows (features) x cols (bins)
  const double* const* a = nullptr;  ///< na pointers to rows x cols raw histograms (host)
  const double* const* b = nullptr;  ///< nb pointers, same layout
  RowPrep a_prep = RowPrep::L1, b_prep = RowPrep::Softmax;
  double alpha = 0.0;  ///< uniform smoothing
  bool clip = false;   ///< clip both sides at 1e-4 after preprocessing
  const double* wa = nullptr;  ///< na x rows weights of the p side's features, or null
  const double* wb = nullptr;  ///< nb x rows weights of the q side's features, or null
  double half = 1.0;           ///< factor of each weighted GEMM (0.5 when both sides weigh)
  std::size_t max_device_bytes = 0;  ///< 0: 80% of the free device memory
};
/// True when q can never be 0 after preprocessing (softmax, uniform smoothing with alpha > 0,
/// or clipping): the only case kl_terms handles (elsewhere infinite entries need counting).
bool kl_terms_supported(RowPrep b_prep, double alpha, bool clip);
/// cross (na x nb, row-major) = sum_e w p_e log q_e per pair, with w the weights (wa, wb, both
/// halves, or 1); plogp (na x rows) = per feature, sum of p log p over the bins with p > 0.
void kl_terms(const KlTerms& request, double* cross, double* plogp);

}  // namespace taskfp::cuda
