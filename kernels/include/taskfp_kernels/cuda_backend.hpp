// The CUDA backend's operations behind plain C++ signatures (host pointers in and out, no CUDA
// headers), so the engine and the tests include this without nvcc. Every CUDA and cuBLAS call
// is checked; failures throw CudaError naming the call.
//
// Each device keeps, for the whole process, one context (created at its first operation): a
// cuBLAS handle on a compute stream, a copy stream, and page-locked staging buffers (4 x 64 MiB)
// through which pageable host memory is copied by several host threads and then DMA'd while the
// device computes; device buffers are allocated per operation. One operation runs at a time per
// device (the context is locked); the operations act on the calling thread's current device
// (select_device).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "taskfp_kernels/ops.hpp"

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
  /// Largest piece a host-to-device copy is cut into; 0: a whole staging buffer (64 MiB). Tests
  /// use small pieces to exercise the staging pipeline on small inputs.
  std::size_t chunk_bytes = 0;
};

/// C (m x n) = alpha * A (m x k) * B^T (n x k) + beta * C, all row-major host arrays, float64 on
/// the GPU (cuBLAS DGEMM). The inner dimension is streamed in tiles (two device buffers each
/// side), each tile copied while the previous tile's GEMM runs, so the operands need not fit at once.
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

using ops::KlTerms;
using ops::kl_terms_supported;
using ops::RowPrep;
/// The KL family's terms with everything on the GPU (ops::KlTerms): both sides' histograms are
/// uploaded raw, preprocessed by kernels (q side to log q; softmax without clipping as
/// h - logsumexp(h)), weighted, multiplied by cuBLAS DGEMM, and only the small results return.
/// Blocks of tasks on either side stream through device memory when the matrices do not fit;
/// p-side blocks are double-buffered, so one block's upload overlaps the previous block's GEMM.
/// When both sides name the same histograms (a full matrix of one task set) and memory allows,
/// they are uploaded once: the p side is copied on the device from the raw q side.
/// Only for q sides that cannot be zero (ops::kl_terms_supported); CudaError otherwise.
/// cross (na x nb, row-major) = sum_e w p_e log q_e per pair, with w the weights (wa, wb, both
/// halves, or 1); plogp (na x rows) = per feature, sum of p log p over the bins with p > 0.
void kl_terms(const KlTerms& request, double* cross, double* plogp);

using ops::CostMatrix;
using ops::SoftminPairRequest;
/// A pair of clouds in device memory for the Sinkhorn divergence's soft-min passes: both clouds
/// and their norms, and the four cost matrices (ops::CostMatrix) where they fit the budget
/// (request.max_device_bytes, 0: 80% of the free memory); otherwise one slab buffer through
/// which each pass computes the matrix again, as many rows at a time as fit. Made on the
/// calling thread's current device, used there. Opaque.
struct SoftminPair;
/// Uploads the request's clouds and norms and, where they fit, computes the held matrices with
/// cuBLAS DGEMM: C(p, q)_ij = (|p_i|^2 - 2 p_i.q_j + |q_j|^2) / 2 from the caller's norms. The
/// request's host arrays are not used after this returns. CudaError (out of memory included).
SoftminPair* open_softmin_pair(const SoftminPairRequest& request);
/// out_i = -eps * LSE_j(h_j - C_ij / eps) for every row i of cost matrix `which` (h: one value per
/// column, host; out: one per row, host). One block of threads per row: each thread keeps a
/// running maximum and sum over its columns (in order), the block combines them in a fixed tree,
/// so a device gives the same bits on every run. CudaError.
void softmin(const SoftminPair* pair, CostMatrix which, double eps, const double* h, double* out);
/// Whether the pair computes its matrices again on every pass.
bool softmin_pair_streamed(const SoftminPair* pair);
/// Frees the pair's device memory. Never throws.
void close_softmin_pair(SoftminPair* pair) noexcept;

}  // namespace taskfp::cuda
