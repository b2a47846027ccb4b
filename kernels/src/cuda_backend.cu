// CUDA backend: device probe, tiled float64 GEMM (cuBLAS), histc-compatible histograms and row
// log-softmax. Exactness: histogram arithmetic uses round-to-nearest intrinsics so nvcc cannot
// contract it into FMAs; results must equal the CPU path's bit for bit.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "taskfp_kernels/cuda_backend.hpp"

namespace taskfp::cuda {
namespace {

void check(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess)
    throw CudaError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                    cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string(call) + " failed at " + file + ":" + std::to_string(line) +
                    ": cuBLAS status " + std::to_string(static_cast<int>(s)));
}
// The file's name alone: __FILE__ would compile the build machine's source path into the plugin.
#define TASKFP_CUDA(call) check((call), #call, "cuda_backend.cu", __LINE__)

// Owning device buffer.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    if (n) TASKFP_CUDA(cudaMalloc(&ptr_, n * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), n_(o.n_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(n_, o.n_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  [[nodiscard]] std::size_t size() const { return n_; }

 private:
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
};

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { TASKFP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s) cudaStreamDestroy(s);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

struct Blas {
  cublasHandle_t h = nullptr;
  Blas() {
    TASKFP_CUDA(cublasCreate(&h));
    // Plain float64 arithmetic: never let cuBLAS pick reduced-precision tensor-core modes.
    TASKFP_CUDA(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
  }
  ~Blas() {
    if (h) cublasDestroy(h);
  }
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
};

__global__ void histogram_kernel(const float* x, std::size_t n, std::size_t d, const float* clip_lo,
                                 const float* clip_hi, const float* left, const float* right,
                                 int bins, unsigned long long* counts) {
  const std::size_t total = n * d;
  for (std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t f = idx % d;
    float v = x[idx];
    v = v < clip_lo[f] ? clip_lo[f] : v;  // torch.clip: max first, then min
    v = v > clip_hi[f] ? clip_hi[f] : v;
    const float l = left[f], r = right[f];
    if (!(v >= l && v <= r)) continue;
    const float scaled = __fmul_rn(__fdiv_rn(__fsub_rn(v, l), __fsub_rn(r, l)), static_cast<float>(bins));
    long long pos = static_cast<long long>(scaled);
    if (pos == bins) pos -= 1;
    atomicAdd(&counts[f * static_cast<std::size_t>(bins) + static_cast<std::size_t>(pos)], 1ull);
  }
}

// Block-wide reductions (blockDim.x a power of two, scratch of blockDim.x doubles), as a tree
// of pairwise steps. Every thread returns the result.
struct Add {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct Max {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};
template <class Op>
__device__ double block_reduce(double v, double* scratch, Op op) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) scratch[threadIdx.x] = op(scratch[threadIdx.x], scratch[threadIdx.x + s]);
    __syncthreads();
  }
  const double out = scratch[0];
  __syncthreads();
  return out;
}
__device__ double block_sum(double v, double* scratch) { return block_reduce(v, scratch, Add{}); }
__device__ double block_max(double v, double* scratch) { return block_reduce(v, scratch, Max{}); }

__global__ void log_softmax_kernel(const double* h, std::size_t cols, double* out) {
  extern __shared__ double scratch[];
  const double* row = h + blockIdx.x * cols;
  double* dst = out + blockIdx.x * cols;
  double mx = -INFINITY;
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) mx = fmax(mx, row[c]);
  mx = block_max(mx, scratch);
  double sum = 0.0;
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) sum += exp(row[c] - mx);
  const double lse = mx + log(block_sum(sum, scratch));
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = row[c] - lse;
}

__global__ void add_into(double* dst, const double* src, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] += src[i];
}


// The reference clips at torch's float32 1e-4 (engine: kClipEpsilon).
constexpr double kClip = static_cast<double>(1.0f / 10000.0f);

// One block per row of `cols` values, in place. p side (q_side = 0): preprocessing and clipping,
// and row_terms[row] = sum of p log p over p > 0. q side: log q, where q > 0 is guaranteed
// (kl_terms_supported); a softmax without clipping becomes h - logsumexp(h).
__global__ void prep_rows_kernel(double* x, std::size_t cols, int prep, double alpha, int clip,
                                 int q_side, double* row_terms) {
  extern __shared__ double scratch[];
  double* row = x + blockIdx.x * cols;
  if (prep == static_cast<int>(RowPrep::Softmax)) {
    double mx = -INFINITY;
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) mx = fmax(mx, row[c]);
    mx = block_max(mx, scratch);
    double sum = 0.0;
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) sum += exp(row[c] - mx);
    sum = block_sum(sum, scratch);
    if (q_side && !clip) {
      const double lse = mx + log(sum);
      for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] = row[c] - lse;
      return;
    }
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] = exp(row[c] - mx) / sum;
  } else if (prep == static_cast<int>(RowPrep::L1)) {
    double norm = 0.0;
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) norm += fabs(row[c]);
    norm = fmax(block_sum(norm, scratch), 1e-12);
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] = row[c] / norm;
  } else if (prep == static_cast<int>(RowPrep::Uniform)) {
    const double base = alpha * (1.0 / static_cast<double>(cols)), keep = 1.0 - alpha;
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] = base + keep * row[c];
  }
  if (clip)
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] = fmax(row[c], kClip);
  if (q_side) {
    for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] = log(row[c]);
    return;
  }
  double t = 0.0;
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x)
    if (row[c] > 0.0) t += row[c] * log(row[c]);
  t = block_sum(t, scratch);
  if (threadIdx.x == 0) row_terms[blockIdx.x] = t;
}

// dst[i] = w[i / cols] * src[i]: each row scaled by its feature's weight.
__global__ void scale_rows_kernel(double* dst, const double* src, const double* w, std::size_t n,
                                  std::size_t cols) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] = w[i / cols] * src[i];
}

// The device memory an operation may use: the caller's budget, or 80% of what is free.
std::size_t device_budget(std::size_t requested) {
  if (requested != 0) return requested;
  std::size_t free_bytes = 0, total = 0;
  TASKFP_CUDA(cudaMemGetInfo(&free_bytes, &total));
  return free_bytes / 10 * 8;
}

void require_device() {
  auto st = probe();
  if (!st.usable) throw CudaError("no usable CUDA device: " + st.description);
}

}  // namespace

DeviceStatus probe() {
  DeviceStatus st;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    st.description = cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky error
    return st;
  }
  if (count == 0) {
    st.description = "no CUDA device visible";
    return st;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    st.description = "cannot read the properties of device 0";
    return st;
  }
  st.usable = true;
  st.description = std::string(prop.name) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
                   std::to_string(prop.totalGlobalMem >> 20) + " MiB, compute capability " +
                   std::to_string(prop.major) + "." + std::to_string(prop.minor);
  return st;
}

int select_device(int local_rank) {
  int count = 0;
  TASKFP_CUDA(cudaGetDeviceCount(&count));
  if (count == 0) throw CudaError("select_device: no CUDA device visible");
  const int device = (local_rank < 0 ? 0 : local_rank) % count;
  TASKFP_CUDA(cudaSetDevice(device));
  return device;
}

void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double* c,
              double alpha, double beta, const GemmOptions& options) {
  require_device();
  if (m == 0 || n == 0) return;
  std::size_t budget = device_budget(options.max_device_bytes);
  const std::size_t c_bytes = 2 * m * n * sizeof(double);  // one partial C per stream
  if (budget <= c_bytes + 2 * (m + n) * sizeof(double))
    throw CudaError("gemm_abt: a device budget of " + std::to_string(budget) + " bytes cannot hold the " +
                    std::to_string(m) + " x " + std::to_string(n) + " result");
  // Two streams, each with an A tile (m x kt) and a B tile (n x kt).
  std::size_t kt = std::max<std::size_t>(1, std::min(k, (budget - c_bytes) / (2 * (m + n) * sizeof(double))));
  Stream streams[2];
  Blas blas;
  DeviceBuffer<double> ta[2], tb[2], tc[2];
  while (true) {
    try {
      for (int s = 0; s < 2; ++s) {
        ta[s] = DeviceBuffer<double>(m * kt);
        tb[s] = DeviceBuffer<double>(n * kt);
        tc[s] = DeviceBuffer<double>(m * n);
      }
      break;
    } catch (const CudaError&) {
      // Out of memory: thinner tiles, not a crash.
      cudaGetLastError();
      if (kt == 1) throw;
      kt = std::max<std::size_t>(1, kt / 2);
    }
  }
  for (int s = 0; s < 2; ++s) TASKFP_CUDA(cudaMemsetAsync(tc[s].get(), 0, m * n * sizeof(double), streams[s].s));
  const double one = 1.0;
  std::size_t tile = 0;
  for (std::size_t k0 = 0; k0 < k; k0 += kt, ++tile) {
    const int s = static_cast<int>(tile % 2);
    const std::size_t w = std::min(kt, k - k0);
    // Row-major tiles: rows of A (and B) restricted to columns [k0, k0 + w), packed with pitch w.
    TASKFP_CUDA(cudaMemcpy2DAsync(ta[s].get(), w * sizeof(double), a + k0, k * sizeof(double),
                                  w * sizeof(double), m, cudaMemcpyHostToDevice, streams[s].s));
    TASKFP_CUDA(cudaMemcpy2DAsync(tb[s].get(), w * sizeof(double), b + k0, k * sizeof(double),
                                  w * sizeof(double), n, cudaMemcpyHostToDevice, streams[s].s));
    TASKFP_CUDA(cublasSetStream(blas.h, streams[s].s));
    // Row-major C = A B^T is column-major C^T = B A^T: cuBLAS sees the row-major tiles as their
    // transposes, so op(B) = T and op(A) = N.
    TASKFP_CUDA(cublasDgemm(blas.h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                            static_cast<int>(w), &one, tb[s].get(), static_cast<int>(w), ta[s].get(),
                            static_cast<int>(w), &one, tc[s].get(), static_cast<int>(n)));
  }
  TASKFP_CUDA(cudaStreamSynchronize(streams[1].s));
  add_into<<<256, 256, 0, streams[0].s>>>(tc[0].get(), tc[1].get(), m * n);
  TASKFP_CUDA(cudaGetLastError());
  std::vector<double> result(m * n);
  TASKFP_CUDA(cudaMemcpyAsync(result.data(), tc[0].get(), m * n * sizeof(double), cudaMemcpyDeviceToHost,
                              streams[0].s));
  TASKFP_CUDA(cudaStreamSynchronize(streams[0].s));
  for (std::size_t i = 0; i < m * n; ++i) c[i] = alpha * result[i] + (beta == 0.0 ? 0.0 : beta * c[i]);
}

void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo, const float* clip_hi,
                      const float* left, const float* right, int bins, std::int64_t* counts) {
  require_device();
  if (bins < 1) throw CudaError("histogram_counts: bins must be positive");
  DeviceBuffer<float> dx(n * d), dlo(d), dhi(d), dl(d), dr(d);
  DeviceBuffer<unsigned long long> dc(d * static_cast<std::size_t>(bins));
  TASKFP_CUDA(cudaMemcpy(dx.get(), x, n * d * sizeof(float), cudaMemcpyHostToDevice));
  TASKFP_CUDA(cudaMemcpy(dlo.get(), clip_lo, d * sizeof(float), cudaMemcpyHostToDevice));
  TASKFP_CUDA(cudaMemcpy(dhi.get(), clip_hi, d * sizeof(float), cudaMemcpyHostToDevice));
  TASKFP_CUDA(cudaMemcpy(dl.get(), left, d * sizeof(float), cudaMemcpyHostToDevice));
  TASKFP_CUDA(cudaMemcpy(dr.get(), right, d * sizeof(float), cudaMemcpyHostToDevice));
  TASKFP_CUDA(cudaMemset(dc.get(), 0, dc.size() * sizeof(unsigned long long)));
  const std::size_t total = n * d;
  const int blocks = static_cast<int>(std::min<std::size_t>(4096, (total + 255) / 256));
  histogram_kernel<<<std::max(blocks, 1), 256>>>(dx.get(), n, d, dlo.get(), dhi.get(), dl.get(), dr.get(), bins,
                                                  dc.get());
  TASKFP_CUDA(cudaGetLastError());
  std::vector<unsigned long long> host(dc.size());
  TASKFP_CUDA(cudaMemcpy(host.data(), dc.get(), host.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
  for (std::size_t i = 0; i < host.size(); ++i) counts[i] = static_cast<std::int64_t>(host[i]);
}

void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out) {
  require_device();
  if (rows == 0 || cols == 0) return;
  DeviceBuffer<double> dh(rows * cols), dout(rows * cols);
  TASKFP_CUDA(cudaMemcpy(dh.get(), h, rows * cols * sizeof(double), cudaMemcpyHostToDevice));
  constexpr int kThreads = 256;
  log_softmax_kernel<<<static_cast<unsigned>(rows), kThreads, kThreads * sizeof(double)>>>(dh.get(), cols, dout.get());
  TASKFP_CUDA(cudaGetLastError());
  TASKFP_CUDA(cudaMemcpy(out, dout.get(), rows * cols * sizeof(double), cudaMemcpyDeviceToHost));
}

bool kl_terms_supported(RowPrep b_prep, double alpha, bool clip) {
  return clip || b_prep == RowPrep::Softmax || (b_prep == RowPrep::Uniform && alpha > 0.0);
}

namespace {

// Row-major C (m x n, leading dimension ldc) = alpha A (m x k) B^T (n x k) + beta C, all on the
// device: cuBLAS sees the row-major matrices as their transposes.
void device_gemm_abt(cublasHandle_t h, const double* a, std::size_t m, const double* b, std::size_t n,
                     std::size_t k, double* c, std::size_t ldc, double alpha, double beta) {
  TASKFP_CUDA(cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                          static_cast<int>(k), &alpha, b, static_cast<int>(k), a, static_cast<int>(k),
                          &beta, c, static_cast<int>(ldc)));
}

unsigned grid_for(std::size_t n) {
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(65535, (n + 255) / 256)));
}

}  // namespace

void kl_terms(const KlTerms& r, double* cross, double* plogp) {
  require_device();
  if (!kl_terms_supported(r.b_prep, r.alpha, r.clip))
    throw CudaError("kl_terms: the q side can be zero (no softmax, smoothing or clipping)");
  if (r.na == 0 || r.nb == 0) return;
  const std::size_t ne = r.rows * r.cols;
  if (ne == 0 || r.rows > 65535u * 65535u) throw CudaError("kl_terms: bad histogram shape");
  std::size_t budget = device_budget(r.max_device_bytes);
  const std::size_t per_b = ne * sizeof(double) * (r.wb ? 2 : 1) + r.rows * sizeof(double);
  const std::size_t per_a = ne * sizeof(double) * (r.wa ? 2 : 1) + 2 * r.rows * sizeof(double);
  // The whole q side when it leaves room for a useful block of p tasks; else halves of the budget.
  std::size_t nb_block = r.nb;
  if (r.nb * per_b + std::min<std::size_t>(r.na, 64) * (per_a + r.nb * sizeof(double)) > budget)
    nb_block = std::max<std::size_t>(1, std::min(r.nb, budget / 2 / per_b));
  Stream stream;
  Blas blas;
  TASKFP_CUDA(cublasSetStream(blas.h, stream.s));
  DeviceBuffer<double> qb, qbw, wbd, pa, paw, wad, terms, cd;
  std::size_t na_block = 0;
  while (true) {
    try {
      const std::size_t left = budget > nb_block * per_b ? budget - nb_block * per_b : 0;
      na_block = std::min(r.na, left / (per_a + nb_block * sizeof(double)));
      if (na_block == 0) throw CudaError("kl_terms: device budget too small");
      qb = DeviceBuffer<double>(nb_block * ne);
      if (r.wb) qbw = DeviceBuffer<double>(nb_block * ne), wbd = DeviceBuffer<double>(nb_block * r.rows);
      pa = DeviceBuffer<double>(na_block * ne);
      if (r.wa) paw = DeviceBuffer<double>(na_block * ne), wad = DeviceBuffer<double>(na_block * r.rows);
      terms = DeviceBuffer<double>(na_block * r.rows);
      cd = DeviceBuffer<double>(na_block * nb_block);
      break;
    } catch (const CudaError&) {
      // Out of memory: smaller blocks, not a crash.
      cudaGetLastError();
      qb = {}, qbw = {}, wbd = {}, pa = {}, paw = {}, wad = {}, terms = {}, cd = {};
      if (budget < 2 * per_b + 2 * per_a) throw;
      budget /= 2;
      nb_block = std::max<std::size_t>(1, std::min(nb_block, budget / 2 / per_b));
    }
  }
  constexpr int kThreads = 128;
  const std::size_t shared = kThreads * sizeof(double);
  // Uploads tasks [first, first + count) of one side and preprocesses them in place (q side: to
  // log q; p side: row terms into `row_terms`); with weights, also writes the weighted copy.
  auto load_side = [&](double* dst, const double* const* tasks, std::size_t first, std::size_t count,
                       RowPrep prep, bool q_side, double* row_terms, const double* w, double* w_dev,
                       double* weighted) {
    for (std::size_t t = 0; t < count; ++t)
      TASKFP_CUDA(cudaMemcpyAsync(dst + t * ne, tasks[first + t], ne * sizeof(double),
                                  cudaMemcpyHostToDevice, stream.s));
    prep_rows_kernel<<<static_cast<unsigned>(count * r.rows), kThreads, shared, stream.s>>>(
        dst, r.cols, static_cast<int>(prep), r.alpha, r.clip ? 1 : 0, q_side ? 1 : 0, row_terms);
    TASKFP_CUDA(cudaGetLastError());
    if (!w) return;
    TASKFP_CUDA(cudaMemcpyAsync(w_dev, w + first * r.rows, count * r.rows * sizeof(double),
                                cudaMemcpyHostToDevice, stream.s));
    scale_rows_kernel<<<grid_for(count * ne), 256, 0, stream.s>>>(weighted, dst, w_dev, count * ne, r.cols);
    TASKFP_CUDA(cudaGetLastError());
  };
  for (std::size_t j0 = 0; j0 < r.nb; j0 += nb_block) {
    const std::size_t nbj = std::min(nb_block, r.nb - j0);
    load_side(qb.get(), r.b, j0, nbj, r.b_prep, true, nullptr, r.wb, wbd.get(), qbw.get());
    for (std::size_t i0 = 0; i0 < r.na; i0 += na_block) {
      const std::size_t nai = std::min(na_block, r.na - i0);
      load_side(pa.get(), r.a, i0, nai, r.a_prep, false, terms.get(), r.wa, wad.get(), paw.get());
      if (j0 == 0)
        TASKFP_CUDA(cudaMemcpyAsync(plogp + i0 * r.rows, terms.get(), nai * r.rows * sizeof(double),
                                    cudaMemcpyDeviceToHost, stream.s));
      // The same GEMMs as the CPU path: (w p) log q, p (w log q), or p log q.
      double beta = 0.0;
      if (r.wa) {
        device_gemm_abt(blas.h, paw.get(), nai, qb.get(), nbj, ne, cd.get(), nbj, r.half, beta);
        beta = 1.0;
      }
      if (r.wb) {
        device_gemm_abt(blas.h, pa.get(), nai, qbw.get(), nbj, ne, cd.get(), nbj, r.half, beta);
        beta = 1.0;
      }
      if (!r.wa && !r.wb) device_gemm_abt(blas.h, pa.get(), nai, qb.get(), nbj, ne, cd.get(), nbj, 1.0, 0.0);
      TASKFP_CUDA(cudaMemcpy2DAsync(cross + i0 * r.nb + j0, r.nb * sizeof(double), cd.get(),
                                    nbj * sizeof(double), nbj * sizeof(double), nai,
                                    cudaMemcpyDeviceToHost, stream.s));
      // The next block overwrites pa and terms: wait for this one's copies.
      TASKFP_CUDA(cudaStreamSynchronize(stream.s));
    }
  }
}

}  // namespace taskfp::cuda
