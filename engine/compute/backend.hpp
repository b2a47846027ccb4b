// Compute backends: one table of operations (ops::Op in taskfp_kernels/ops.hpp) with a CPU
// implementation (BLAS, OpenMP) and a CUDA implementation (the CUDA plugin libtaskfp_cuda.so:
// cuBLAS and taskfp's kernels, with per device a cuBLAS handle, streams and page-locked staging
// buffers kept for the whole run), chosen once per command from --backend. Distances and
// fingerprints and the Sinkhorn divergence call a Backend instead of branching on the build or
// the device. Modelled on ggml's backend table and faiss's GpuResources.
//
// Every array is a row-major host array; results come back to host memory. Errors: InputError
// for arguments the operation does not take (a q side that can be zero for kl_terms, bins < 1),
// Error for a device failure (the message names the CUDA call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "taskfp_kernels/ops.hpp"

namespace taskfp::compute {

using ops::CostMatrix;
using ops::KlTerms;
using ops::Op;
using ops::RowPrep;
using ops::SoftminPairRequest;

/// How the CPU backend cuts a GEMM: a fixed grid of tile_m x tile_n tiles of C (0: one BLAS
/// call), so that every entry comes from the same BLAS call whatever the thread and MPI rank
/// counts. Device backends ignore it.
struct GemmTiles {
  std::size_t m = 0, n = 0;
};

/// A pair of point clouds with its four cost matrices (ops::CostMatrix) kept by a backend for the
/// Sinkhorn divergence's soft-min passes: the CPU holds them in host memory or computes them
/// again slab by slab on every pass (SoftminPairRequest::hold); a device keeps the clouds and,
/// where they fit, the matrices in its memory (else slabs of rows, computed again per pass).
class SoftminPair {
 public:
  virtual ~SoftminPair() = default;
  /// GeomLoss's softmin over the rows of cost matrix `which`: out_i = -eps * LSE_j(h_j - C_ij / eps),
  /// with h (host, one value per column) and out (host, one per row). Each row's log-sum-exp is
  /// taken in one fixed order: the same bits on every run of a backend.
  virtual void softmin(CostMatrix which, double eps, const double* h, double* out) const = 0;
  /// Whether the matrices are computed again on every pass (they did not fit).
  virtual bool streamed() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// "cpu" or "cuda".
  virtual const char* name() const = 0;
  /// What runs it, for logs: "CPU, 16 threads" or the device ("NVIDIA H200, 132 SMs, ...").
  virtual std::string description() const = 0;
  /// True for the CPU: results are computed in host memory, by taskfp's own threads.
  virtual bool is_host() const = 0;
  /// Whether the operation is implemented here (every backend today has all of ops::kAllOps).
  virtual bool supports(Op op) const = 0;

  /// C (m x n) = alpha * A (m x k) * B^T (n x k) + beta * C, float64.
  virtual void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k,
                        double* c, double alpha, double beta, GemmTiles tiles = {}) const = 0;
  /// torch.histc counts of an n x d float32 matrix: per feature f, each value clipped to
  /// [clip_lo[f], clip_hi[f]] and binned as int((x - left) / (right - left) * bins) in float32
  /// (no FMA), the right edge folded into bin bins - 1, values outside [left, right] dropped.
  /// counts: d x bins. Every backend gives the same counts, bit for bit.
  virtual void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo,
                                const float* clip_hi, const float* left, const float* right, int bins,
                                std::int64_t* counts) const = 0;
  /// out[r] = h[r] - logsumexp(h[r]) for each row of a rows x cols float64 matrix.
  virtual void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out) const = 0;
  /// The KL family's terms (ops::KlTerms): cross (na x nb) = sum_e w p_e log q_e per pair, with
  /// w the weights (wa, wb, both times `half`, or 1); plogp (na x rows) = per feature, the sum
  /// of p log p over the bins with p > 0. Only where ops::kl_terms_supported (InputError else).
  virtual void kl_terms(const KlTerms& request, double* cross, double* plogp) const = 0;
  /// The clouds of `request` and their cost matrices, made ready for soft-min passes (their GEMMs
  /// run here: tiles of 128 x 128 on the CPU, cuBLAS on a device). The request's arrays must
  /// outlive the pair. Error for a device failure (out of device memory included).
  virtual std::unique_ptr<SoftminPair> softmin_pair(const SoftminPairRequest& request) const = 0;
};

/// The CPU backend (always available).
const Backend& cpu();

/// The CUDA backend, or null when there is none; `why` then says why (built without CUDA, the
/// plugin or the CUDA libraries cannot be loaded, no usable device).
const Backend* cuda(std::string* why = nullptr);

/// --backend auto|cpu|cuda -> a backend, chosen once per command. auto: CUDA when a device is
/// usable, else the CPU. InputError when cuda is asked for and none is usable (the message says
/// why), or for another name. `note` receives a line for the log (which device, or why the CPU).
const Backend& select(const std::string& choice, std::string* note = nullptr);

/// Makes GPU local_rank % (visible GPUs) the CUDA backend's device for this process (one GPU
/// per MPI rank on a node) and names it ("GPU 1"). InputError without a CUDA backend.
std::string bind_device(int local_rank);

}  // namespace taskfp::compute
