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
#define TASKFP_CUDA(call) check((call), #call, __FILE__, __LINE__)

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

__global__ void log_softmax_kernel(const double* h, std::size_t cols, double* out) {
  extern __shared__ double scratch[];
  const double* row = h + blockIdx.x * cols;
  double* dst = out + blockIdx.x * cols;
  double mx = -INFINITY;
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) mx = fmax(mx, row[c]);
  scratch[threadIdx.x] = mx;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) scratch[threadIdx.x] = fmax(scratch[threadIdx.x], scratch[threadIdx.x + s]);
    __syncthreads();
  }
  mx = scratch[0];
  __syncthreads();
  double sum = 0.0;
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) sum += exp(row[c] - mx);
  scratch[threadIdx.x] = sum;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) scratch[threadIdx.x] += scratch[threadIdx.x + s];
    __syncthreads();
  }
  const double lse = mx + log(scratch[0]);
  for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = row[c] - lse;
}

__global__ void add_into(double* dst, const double* src, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] += src[i];
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
  std::size_t budget = options.max_device_bytes;
  if (budget == 0) {
    std::size_t free_bytes = 0, total = 0;
    TASKFP_CUDA(cudaMemGetInfo(&free_bytes, &total));
    budget = free_bytes / 10 * 8;
  }
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

}  // namespace taskfp::cuda
