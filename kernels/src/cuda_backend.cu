// CUDA backend: device probe, tiled float64 GEMM (cuBLAS), histc-compatible histograms, row
// log-softmax, the KL family's terms and the Sinkhorn divergence's soft-min passes. Exactness: histogram arithmetic uses round-to-nearest intrinsics so nvcc cannot
// contract it into FMAs; results must equal the CPU path's bit for bit.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "taskfp_kernels/cuda_backend.hpp"
#include "taskfp_kernels/online_lse.hpp"

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

struct Event {
  cudaEvent_t e = nullptr;
  Event() { TASKFP_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
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

// Packs `count` host pieces of `bytes_each` bytes (srcs[0], srcs[1], ...) one after the other
// into dst, with several host threads: one memory stream per thread is far from the memory
// bandwidth of a server. Each thread copies one contiguous range of dst.
void parallel_gather(char* dst, const char* const* srcs, std::size_t count, std::size_t bytes_each) {
  const std::size_t total = count * bytes_each;
  constexpr std::size_t kPerThread = std::size_t{1} << 20;
  const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t parts = std::min<std::size_t>({8, hw, (total + kPerThread - 1) / kPerThread});
  auto copy_range = [=](std::size_t begin, std::size_t end) {
    for (std::size_t at = begin; at < end;) {
      const std::size_t piece = at / bytes_each, within = at % bytes_each;
      const std::size_t n = std::min(bytes_each - within, end - at);
      std::memcpy(dst + at, srcs[piece] + within, n);
      at += n;
    }
  };
  if (parts <= 1) {
    copy_range(0, total);
    return;
  }
  const std::size_t each = (total + parts - 1) / parts;
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < parts && t * each < total; ++t)
    threads.emplace_back(copy_range, t * each, std::min(total, (t + 1) * each));
  copy_range(0, std::min(total, each));
  for (auto& t : threads) t.join();
}

// One device's resources for the whole process (faiss's GpuResources, ggml's backend context):
// a cuBLAS handle on the compute stream, a copy stream, and page-locked staging buffers. Host
// data reaches the device through the staging ring: a chunk is copied into a free staging
// buffer by host threads, then DMA'd on the copy stream, while the next chunk is copied and the
// compute stream works on earlier data. The mutex keeps one operation at a time on the device.
class DeviceContext {
 public:
  static constexpr int kStages = 4;
  static constexpr std::size_t kStageBytes = std::size_t{64} << 20;

  DeviceContext() {
    TASKFP_CUDA(cublasSetStream(blas_.h, compute_.s));
    for (auto& s : stage_) {
      if (cudaMallocHost(&s, kStageBytes) != cudaSuccess) {
        cudaGetLastError();  // no page-locked memory: plain (slower) copies from pageable memory
        for (auto& t : stage_)
          if (t) cudaFreeHost(t), t = nullptr;
        break;
      }
    }
  }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  cublasHandle_t blas() const { return blas_.h; }
  cudaStream_t compute() const { return compute_.s; }
  cudaStream_t copy() const { return copy_.s; }
  std::mutex& mutex() { return mutex_; }

  // Copies `rows` rows of `row_bytes` each from host memory (rows `src_pitch` bytes apart) to
  // the device, packed (rows `row_bytes` apart), on the copy stream; the copy starts after
  // `wait_for` (the last use of dst, or null) and the compute stream waits for its end.
  // `chunk_bytes` (0: a staging buffer) caps each piece.
  void upload(void* dst, const void* src, std::size_t rows, std::size_t row_bytes, std::size_t src_pitch,
              cudaEvent_t wait_for, std::size_t chunk_bytes) {
    if (rows == 0 || row_bytes == 0) return;
    if (wait_for) TASKFP_CUDA(cudaStreamWaitEvent(copy_.s, wait_for, 0));
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    const std::size_t chunk = std::min(kStageBytes, chunk_bytes ? chunk_bytes : kStageBytes);
    if (!stage_[0] || (src_pitch != row_bytes && row_bytes > chunk)) {
      // No staging (or rows wider than a stage): a plain copy from pageable memory.
      TASKFP_CUDA(cudaMemcpy2DAsync(d, row_bytes, s, src_pitch, row_bytes, rows, cudaMemcpyHostToDevice, copy_.s));
    } else if (src_pitch == row_bytes) {
      const std::size_t total = rows * row_bytes;
      for (std::size_t off = 0; off < total; off += chunk) {
        const std::size_t n = std::min(chunk, total - off);
        char* st = next_stage();
        const char* piece = s + off;
        parallel_gather(st, &piece, 1, n);
        send(d + off, st, n);
      }
    } else {
      const std::size_t per = std::max<std::size_t>(1, chunk / row_bytes);
      for (std::size_t r0 = 0; r0 < rows; r0 += per) {
        const std::size_t nr = std::min(per, rows - r0);
        char* st = next_stage();
        for (std::size_t r = 0; r < nr; ++r) std::memcpy(st + r * row_bytes, s + (r0 + r) * src_pitch, row_bytes);
        send(d + r0 * row_bytes, st, nr * row_bytes);
      }
    }
    TASKFP_CUDA(cudaEventRecord(uploaded_.e, copy_.s));
    TASKFP_CUDA(cudaStreamWaitEvent(compute_.s, uploaded_.e, 0));
  }

  // Copies `count` host pieces of `bytes_each` bytes (srcs[t], e.g. one task's histograms each)
  // to consecutive places from dst on, packing as many whole pieces into each staging buffer as
  // fit, so that small pieces travel in large DMAs. Same ordering as upload().
  void upload_gather(void* dst, const char* const* srcs, std::size_t count, std::size_t bytes_each,
                     cudaEvent_t wait_for, std::size_t chunk_bytes) {
    if (count == 0 || bytes_each == 0) return;
    const std::size_t chunk = std::min(kStageBytes, chunk_bytes ? chunk_bytes : kStageBytes);
    auto* d = static_cast<char*>(dst);
    if (!stage_[0] || bytes_each > chunk) {
      for (std::size_t t = 0; t < count; ++t)
        upload(d + t * bytes_each, srcs[t], 1, bytes_each, bytes_each, t == 0 ? wait_for : nullptr, chunk_bytes);
      return;
    }
    if (wait_for) TASKFP_CUDA(cudaStreamWaitEvent(copy_.s, wait_for, 0));
    const std::size_t per = chunk / bytes_each;
    for (std::size_t t0 = 0; t0 < count; t0 += per) {
      const std::size_t nt = std::min(per, count - t0);
      char* st = next_stage();
      parallel_gather(st, srcs + t0, nt, bytes_each);
      send(d + t0 * bytes_each, st, nt * bytes_each);
    }
    TASKFP_CUDA(cudaEventRecord(uploaded_.e, copy_.s));
    TASKFP_CUDA(cudaStreamWaitEvent(compute_.s, uploaded_.e, 0));
  }

 private:
  char* next_stage() {
    current_ = (current_ + 1) % kStages;
    TASKFP_CUDA(cudaEventSynchronize(stage_free_[current_].e));  // its last DMA has finished
    return stage_[current_];
  }
  void send(char* dst, const char* stage, std::size_t bytes) {
    TASKFP_CUDA(cudaMemcpyAsync(dst, stage, bytes, cudaMemcpyHostToDevice, copy_.s));
    TASKFP_CUDA(cudaEventRecord(stage_free_[current_].e, copy_.s));
  }

  Blas blas_;
  Stream compute_, copy_;
  Event stage_free_[kStages], uploaded_;
  char* stage_[kStages] = {};
  int current_ = 0;
  std::mutex mutex_;
};

// The calling thread's current device's context, created at its first use and kept until the
// process ends (never destroyed: the CUDA runtime may be torn down before static destructors).
DeviceContext& current_context() {
  static std::mutex guard;
  static std::map<int, DeviceContext*> contexts;
  int device = 0;
  TASKFP_CUDA(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(guard);
  auto& slot = contexts[device];
  if (!slot) slot = new DeviceContext();
  return *slot;
}

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
    // Without an NVIDIA driver the runtime reports an "insufficient" one: say which it is.
    if (e == cudaErrorInsufficientDriver) {
      void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
      st.description = driver ? std::string("the NVIDIA driver is older than this CUDA runtime needs (") +
                                    cudaGetErrorString(e) + ")"
                              : std::string("no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)");
      if (driver) dlclose(driver);
    } else {
      st.description = cudaGetErrorString(e);
    }
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

namespace {

// Row-major C (m x n, leading dimension ldc) = alpha A (m x k) B^T (n x k) + beta C, all on the
// device: cuBLAS sees the row-major matrices as their transposes, so op(B) = T and op(A) = N.
void device_gemm_abt(cublasHandle_t h, const double* a, std::size_t m, const double* b, std::size_t n,
                     std::size_t k, std::size_t lda, double* c, std::size_t ldc, double alpha, double beta) {
  TASKFP_CUDA(cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                          static_cast<int>(k), &alpha, b, static_cast<int>(lda), a, static_cast<int>(lda),
                          &beta, c, static_cast<int>(ldc)));
}

unsigned grid_for(std::size_t n) {
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(65535, (n + 255) / 256)));
}

// Copies device memory to pageable host memory on `stream` and waits for it.
void download(void* dst, const void* src, std::size_t bytes, cudaStream_t stream) {
  TASKFP_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  TASKFP_CUDA(cudaStreamSynchronize(stream));
}

}  // namespace

void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double* c,
              double alpha, double beta, const GemmOptions& options) {
  require_device();
  if (m == 0 || n == 0) return;
  auto& ctx = current_context();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::size_t budget = device_budget(options.max_device_bytes);
  const std::size_t c_bytes = m * n * sizeof(double);
  if (budget <= c_bytes + 2 * (m + n) * sizeof(double))
    throw CudaError("gemm_abt: a device budget of " + std::to_string(budget) + " bytes cannot hold the " +
                    std::to_string(m) + " x " + std::to_string(n) + " result");
  // Two tiles per side (m x kt and n x kt): one is copied while the other's GEMM runs.
  std::size_t kt = std::max<std::size_t>(1, std::min(k, (budget - c_bytes) / (2 * (m + n) * sizeof(double))));
  DeviceBuffer<double> ta[2], tb[2], tc;
  while (true) {
    try {
      tc = DeviceBuffer<double>(m * n);
      for (int s = 0; s < 2; ++s) {
        ta[s] = DeviceBuffer<double>(m * kt);
        tb[s] = DeviceBuffer<double>(n * kt);
      }
      break;
    } catch (const CudaError&) {
      // Out of memory: thinner tiles, not a crash.
      cudaGetLastError();
      ta[0] = {}, ta[1] = {}, tb[0] = {}, tb[1] = {}, tc = {};
      if (kt == 1) throw;
      kt = std::max<std::size_t>(1, kt / 2);
    }
  }
  Event used[2];  // the last GEMM that read each tile pair
  std::size_t tile = 0;
  for (std::size_t k0 = 0; k0 < k; k0 += kt, ++tile) {
    const int s = static_cast<int>(tile % 2);
    const std::size_t w = std::min(kt, k - k0);
    // Row-major tiles: rows of A (and B) restricted to columns [k0, k0 + w), packed with pitch w.
    ctx.upload(ta[s].get(), a + k0, m, w * sizeof(double), k * sizeof(double), tile >= 2 ? used[s].e : nullptr,
               options.chunk_bytes);
    ctx.upload(tb[s].get(), b + k0, n, w * sizeof(double), k * sizeof(double), nullptr, options.chunk_bytes);
    device_gemm_abt(ctx.blas(), ta[s].get(), m, tb[s].get(), n, w, w, tc.get(), n, 1.0, tile == 0 ? 0.0 : 1.0);
    TASKFP_CUDA(cudaEventRecord(used[s].e, ctx.compute()));
  }
  if (k == 0) TASKFP_CUDA(cudaMemsetAsync(tc.get(), 0, c_bytes, ctx.compute()));
  std::vector<double> result(m * n);
  download(result.data(), tc.get(), c_bytes, ctx.compute());
  for (std::size_t i = 0; i < m * n; ++i) c[i] = alpha * result[i] + (beta == 0.0 ? 0.0 : beta * c[i]);
}

void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo, const float* clip_hi,
                      const float* left, const float* right, int bins, std::int64_t* counts) {
  require_device();
  if (bins < 1) throw CudaError("histogram_counts: bins must be positive");
  auto& ctx = current_context();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  DeviceBuffer<float> dx(n * d), edges(4 * d);
  DeviceBuffer<unsigned long long> dc(d * static_cast<std::size_t>(bins));
  std::vector<float> host_edges(4 * d);
  std::copy(clip_lo, clip_lo + d, host_edges.begin());
  std::copy(clip_hi, clip_hi + d, host_edges.begin() + d);
  std::copy(left, left + d, host_edges.begin() + 2 * d);
  std::copy(right, right + d, host_edges.begin() + 3 * d);
  ctx.upload(dx.get(), x, 1, n * d * sizeof(float), n * d * sizeof(float), nullptr, 0);
  ctx.upload(edges.get(), host_edges.data(), 1, 4 * d * sizeof(float), 4 * d * sizeof(float), nullptr, 0);
  TASKFP_CUDA(cudaMemsetAsync(dc.get(), 0, dc.size() * sizeof(unsigned long long), ctx.compute()));
  const std::size_t total = n * d;
  const int blocks = static_cast<int>(std::min<std::size_t>(4096, (total + 255) / 256));
  const float* e = edges.get();
  histogram_kernel<<<std::max(blocks, 1), 256, 0, ctx.compute()>>>(dx.get(), n, d, e, e + d, e + 2 * d, e + 3 * d,
                                                                   bins, dc.get());
  TASKFP_CUDA(cudaGetLastError());
  std::vector<unsigned long long> host(dc.size());
  download(host.data(), dc.get(), host.size() * sizeof(unsigned long long), ctx.compute());
  for (std::size_t i = 0; i < host.size(); ++i) counts[i] = static_cast<std::int64_t>(host[i]);
}

void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out) {
  require_device();
  if (rows == 0 || cols == 0) return;
  auto& ctx = current_context();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  DeviceBuffer<double> dh(rows * cols), dout(rows * cols);
  ctx.upload(dh.get(), h, 1, rows * cols * sizeof(double), rows * cols * sizeof(double), nullptr, 0);
  constexpr int kThreads = 256;
  log_softmax_kernel<<<static_cast<unsigned>(rows), kThreads, kThreads * sizeof(double), ctx.compute()>>>(
      dh.get(), cols, dout.get());
  TASKFP_CUDA(cudaGetLastError());
  download(out, dout.get(), rows * cols * sizeof(double), ctx.compute());
}

void kl_terms(const KlTerms& r, double* cross, double* plogp) {
  require_device();
  if (!kl_terms_supported(r.b_prep, r.alpha, r.clip))
    throw CudaError("kl_terms: the q side can be zero (no softmax, smoothing or clipping)");
  if (r.na == 0 || r.nb == 0) return;
  const std::size_t ne = r.rows * r.cols;
  if (ne == 0 || r.rows > 65535u * 65535u) throw CudaError("kl_terms: bad histogram shape");
  auto& ctx = current_context();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::size_t budget = device_budget(r.max_device_bytes);
  const std::size_t per_b = ne * sizeof(double) * (r.wb ? 2 : 1) + r.rows * sizeof(double);
  // Per p-side task, twice (double buffering): histograms, weighted copy, row terms, weights, results.
  const std::size_t per_a = ne * sizeof(double) * (r.wa ? 2 : 1) + 2 * r.rows * sizeof(double);
  // A full matrix of one task set: both sides are the same histograms.
  const bool same = r.na == r.nb && (r.a == r.b || std::equal(r.a, r.a + r.na, r.b));
  // The whole q side when it leaves room for a useful block of p tasks; else halves of the budget.
  std::size_t nb_block = r.nb;
  const std::size_t useful = 2 * std::min<std::size_t>(r.na, 64) * (per_a + r.nb * sizeof(double));
  if (r.nb * per_b + useful > budget) nb_block = std::max<std::size_t>(1, std::min(r.nb, budget / 2 / per_b));
  // With both sides the same and all of it on the device, the raw histograms are kept there once
  // and the p side is copied from them instead of uploaded again.
  bool keep_raw = same && nb_block == r.nb && r.nb * (per_b + ne * sizeof(double)) + useful <= budget;
  DeviceBuffer<double> raw, qb, qbw, wbd, pa[2], paw[2], wad[2], terms[2], cd[2];
  std::size_t na_block = 0;
  while (true) {
    try {
      std::size_t used = nb_block * per_b + (keep_raw ? r.nb * ne * sizeof(double) : 0);
      const std::size_t left = budget > used ? budget - used : 0;
      na_block = std::min(r.na, left / (2 * (per_a + nb_block * sizeof(double))));
      if (na_block == 0) throw CudaError("kl_terms: device budget too small");
      if (keep_raw) raw = DeviceBuffer<double>(r.nb * ne);
      qb = DeviceBuffer<double>(nb_block * ne);
      if (r.wb) qbw = DeviceBuffer<double>(nb_block * ne), wbd = DeviceBuffer<double>(nb_block * r.rows);
      for (int p = 0; p < 2; ++p) {
        pa[p] = DeviceBuffer<double>(na_block * ne);
        if (r.wa) paw[p] = DeviceBuffer<double>(na_block * ne), wad[p] = DeviceBuffer<double>(na_block * r.rows);
        terms[p] = DeviceBuffer<double>(na_block * r.rows);
        cd[p] = DeviceBuffer<double>(na_block * nb_block);
      }
      break;
    } catch (const CudaError&) {
      // Out of memory (or too small a budget): smaller blocks, not a crash.
      cudaGetLastError();
      raw = {}, qb = {}, qbw = {}, wbd = {};
      for (int p = 0; p < 2; ++p) pa[p] = {}, paw[p] = {}, wad[p] = {}, terms[p] = {}, cd[p] = {};
      if (budget < 2 * per_b + 4 * per_a) throw;
      budget /= 2;
      nb_block = std::max<std::size_t>(1, std::min(nb_block, budget / 2 / per_b));
      keep_raw = keep_raw && r.nb * (per_b + ne * sizeof(double)) + useful <= budget && nb_block == r.nb;
    }
  }
  constexpr int kThreads = 128;
  const std::size_t shared = kThreads * sizeof(double);
  const cudaStream_t cs = ctx.compute();
  // Preprocesses `count` tasks in place (q side: to log q; p side: row terms into `row_terms`)
  // and, with weights, uploads them and writes the weighted copy.
  auto prepare = [&](double* x, std::size_t count, RowPrep prep, bool q_side, double* row_terms,
                     const double* w_host, double* w_dev, double* weighted, cudaEvent_t wait_for) {
    prep_rows_kernel<<<static_cast<unsigned>(count * r.rows), kThreads, shared, cs>>>(
        x, r.cols, static_cast<int>(prep), r.alpha, r.clip ? 1 : 0, q_side ? 1 : 0, row_terms);
    TASKFP_CUDA(cudaGetLastError());
    if (!w_host) return;
    ctx.upload(w_dev, w_host, 1, count * r.rows * sizeof(double), count * r.rows * sizeof(double), wait_for,
               r.chunk_bytes);
    scale_rows_kernel<<<grid_for(count * ne), 256, 0, cs>>>(weighted, x, w_dev, count * ne, r.cols);
    TASKFP_CUDA(cudaGetLastError());
  };
  // Uploads tasks [first, first + count) of one side through the staging ring, many tasks per DMA.
  auto upload_tasks = [&](double* dst, const double* const* tasks, std::size_t first, std::size_t count,
                          cudaEvent_t wait_for) {
    ctx.upload_gather(dst, reinterpret_cast<const char* const*>(tasks + first), count, ne * sizeof(double),
                      wait_for, r.chunk_bytes);
  };
  Event done[2];  // the results of the block in each buffer have been read by the host
  Event computed[2];  // the block in each buffer has its results on the device
  struct Pending {
    bool any = false;
    int p = 0;
    std::size_t i0 = 0, nai = 0, j0 = 0, nbj = 0;
  } pending;
  // Copies a computed block's results to the host (on the copy stream, after its GEMMs).
  auto finish = [&](const Pending& b) {
    if (!b.any) return;
    TASKFP_CUDA(cudaStreamWaitEvent(ctx.copy(), computed[b.p].e, 0));
    if (b.j0 == 0)
      TASKFP_CUDA(cudaMemcpyAsync(plogp + b.i0 * r.rows, terms[b.p].get(), b.nai * r.rows * sizeof(double),
                                  cudaMemcpyDeviceToHost, ctx.copy()));
    TASKFP_CUDA(cudaMemcpy2DAsync(cross + b.i0 * r.nb + b.j0, r.nb * sizeof(double), cd[b.p].get(),
                                  b.nbj * sizeof(double), b.nbj * sizeof(double), b.nai, cudaMemcpyDeviceToHost,
                                  ctx.copy()));
    TASKFP_CUDA(cudaEventRecord(done[b.p].e, ctx.copy()));
    TASKFP_CUDA(cudaStreamSynchronize(ctx.copy()));
  };
  std::size_t block = 0;
  for (std::size_t j0 = 0; j0 < r.nb; j0 += nb_block) {
    const std::size_t nbj = std::min(nb_block, r.nb - j0);
    // The q block is overwritten: everything queued on the device before must be done.
    finish(pending);
    pending.any = false;
    TASKFP_CUDA(cudaStreamSynchronize(cs));
    if (keep_raw) {
      upload_tasks(raw.get(), r.b, 0, r.nb, nullptr);
      TASKFP_CUDA(cudaMemcpyAsync(qb.get(), raw.get(), r.nb * ne * sizeof(double), cudaMemcpyDeviceToDevice, cs));
    } else {
      upload_tasks(qb.get(), r.b, j0, nbj, nullptr);
    }
    prepare(qb.get(), nbj, r.b_prep, true, nullptr, r.wb ? r.wb + j0 * r.rows : nullptr, wbd.get(), qbw.get(),
            nullptr);
    for (std::size_t i0 = 0; i0 < r.na; i0 += na_block, ++block) {
      const std::size_t nai = std::min(na_block, r.na - i0);
      const int p = static_cast<int>(block % 2);
      // The buffer's previous block must have been read back before it is overwritten.
      const cudaEvent_t free_after = block >= 2 ? done[p].e : nullptr;
      if (keep_raw) {
        if (free_after) TASKFP_CUDA(cudaStreamWaitEvent(cs, free_after, 0));
        TASKFP_CUDA(cudaMemcpyAsync(pa[p].get(), raw.get() + i0 * ne, nai * ne * sizeof(double),
                                    cudaMemcpyDeviceToDevice, cs));
      } else {
        upload_tasks(pa[p].get(), r.a, i0, nai, free_after);
      }
      prepare(pa[p].get(), nai, r.a_prep, false, terms[p].get(), r.wa ? r.wa + i0 * r.rows : nullptr,
              wad[p].get(), paw[p].get(), free_after);
      // The same GEMMs as the CPU path: (w p) log q, p (w log q), or p log q.
      double beta = 0.0;
      if (r.wa) {
        device_gemm_abt(ctx.blas(), paw[p].get(), nai, qb.get(), nbj, ne, ne, cd[p].get(), nbj, r.half, beta);
        beta = 1.0;
      }
      if (r.wb) {
        device_gemm_abt(ctx.blas(), pa[p].get(), nai, qbw.get(), nbj, ne, ne, cd[p].get(), nbj, r.half, beta);
        beta = 1.0;
      }
      if (!r.wa && !r.wb)
        device_gemm_abt(ctx.blas(), pa[p].get(), nai, qb.get(), nbj, ne, ne, cd[p].get(), nbj, 1.0, 0.0);
      TASKFP_CUDA(cudaEventRecord(computed[p].e, cs));
      // This block's GEMMs run while the previous block's results come back and the next block
      // is uploaded.
      finish(pending);
      pending = {true, p, i0, nai, j0, nbj};
    }
  }
  finish(pending);
  TASKFP_CUDA(cudaStreamSynchronize(cs));
}

// ---------------------------------------------------------------------------------------------
// The Sinkhorn divergence's soft-min pairs.

namespace {

// A Gram block to costs in place: c_ij = (np_i - 2 c_ij + nq_j) / 2 over rows x cols, in the
// CPU's order and roundings (no contraction: 2 c is exact, so an FMA would round alike anyway).
__global__ void cost_from_gram_kernel(double* c, const double* np, const double* nq, std::size_t rows,
                                      std::size_t cols) {
  const std::size_t total = rows * cols;
  for (std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t i = idx / cols, j = idx % cols;
    c[idx] = __dmul_rn(__dadd_rn(__dsub_rn(np[i], __dmul_rn(2.0, c[idx])), nq[j]), 0.5);
  }
}

// out[i] = -eps * LSE_j(h_j - c_ij / eps) for row i = blockIdx.x of a block of rows with `cols`
// costs each. The exponent is h_j - c_ij * (1 / eps) with one rounding, as the CPU's AVX2 path.
// Each thread runs over its columns in order keeping a running maximum and a sum scaled to it
// (ops::OnlineLse: one exp per entry), then the block combines the threads' pairs in a fixed
// tree: a fused, single-pass log-sum-exp whose bits do not change from run to run.
__global__ void softmin_rows_kernel(const double* c, std::size_t cols, const double* h, double inv_eps, double eps,
                                    double* out) {
  extern __shared__ double scratch[];
  const double* row = c + blockIdx.x * cols;
  ops::OnlineLse lse;
  for (std::size_t j = threadIdx.x; j < cols; j += blockDim.x) ops::lse_add(lse, fma(-row[j], inv_eps, h[j]));
  const double m = block_max(lse.max, scratch);
  const double s = block_sum(ops::lse_rescaled(lse, m), scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = -eps * (m + log(s));
}

constexpr int kSoftminThreads = 256;

}  // namespace

struct SoftminPair {
  int device = 0;
  std::size_t n = 0, m = 0, d = 0;
  DeviceBuffer<double> x, y, nx, ny;  // the clouds and their squared norms
  DeviceBuffer<double> held[4];       // the cost matrices, by ops::CostMatrix; empty when streamed
  bool streamed = false;
  std::size_t slab_rows = 0;  // streamed: rows of a matrix computed at a time
  DeviceBuffer<double> slab;  // streamed: slab_rows x max(n, m)
  DeviceBuffer<double> h, out;  // one pass's potentials in and out, max(n, m) each

  // Cost matrix `which` as (p, |p|^2, rows) x (q, |q|^2, cols).
  struct Side {
    const double *p, *np;
    std::size_t rows;
    const double *q, *nq;
    std::size_t cols;
  };
  Side side(CostMatrix which) const {
    switch (which) {
      case CostMatrix::XY: return {x.get(), nx.get(), n, y.get(), ny.get(), m};
      case CostMatrix::YX: return {y.get(), ny.get(), m, x.get(), nx.get(), n};
      case CostMatrix::XX: return {x.get(), nx.get(), n, x.get(), nx.get(), n};
      case CostMatrix::YY: return {y.get(), ny.get(), m, y.get(), ny.get(), m};
    }
    throw CudaError("softmin: unknown cost matrix");
  }
};

namespace {

// Rows [r0, r0 + count) of a side's cost matrix into dst (count x cols): a DGEMM, then the costs.
void compute_costs(const DeviceContext& ctx, const SoftminPair::Side& s, std::size_t d, std::size_t r0,
                   std::size_t count, double* dst) {
  device_gemm_abt(ctx.blas(), s.p + r0 * d, count, s.q, s.cols, d, d, dst, s.cols, 1.0, 0.0);
  cost_from_gram_kernel<<<grid_for(count * s.cols), 256, 0, ctx.compute()>>>(dst, s.np + r0, s.nq, count, s.cols);
  TASKFP_CUDA(cudaGetLastError());
}

}  // namespace

SoftminPair* open_softmin_pair(const SoftminPairRequest& r) {
  require_device();
  if (r.n == 0 || r.m == 0 || r.d == 0 || !r.x || !r.y || !r.x_norms || !r.y_norms)
    throw CudaError("softmin pair: empty clouds or missing norms");
  if (std::max(r.n, r.m) > static_cast<std::size_t>(INT32_MAX) || r.d > static_cast<std::size_t>(INT32_MAX))
    throw CudaError("softmin pair: clouds past 2^31 points or dimensions (cuBLAS sizes are int)");
  auto& ctx = current_context();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  auto pair = std::make_unique<SoftminPair>();
  TASKFP_CUDA(cudaGetDevice(&pair->device));
  pair->n = r.n, pair->m = r.m, pair->d = r.d;
  const std::size_t big = std::max(r.n, r.m), b = sizeof(double);
  const std::size_t budget = device_budget(r.max_device_bytes);
  const std::size_t base = b * ((r.n + r.m) * r.d + 2 * (r.n + r.m) + 2 * big);
  const std::size_t held = b * (2 * r.n * r.m + r.n * r.n + r.m * r.m);
  if (base + b * big > budget)
    throw CudaError("softmin pair: a device budget of " + std::to_string(budget) + " bytes cannot hold clouds of " +
                    std::to_string(r.n) + " and " + std::to_string(r.m) + " points of " + std::to_string(r.d) +
                    " dimensions and one row of costs");
  pair->x = DeviceBuffer<double>(r.n * r.d);
  pair->y = DeviceBuffer<double>(r.m * r.d);
  pair->nx = DeviceBuffer<double>(r.n);
  pair->ny = DeviceBuffer<double>(r.m);
  pair->h = DeviceBuffer<double>(big);
  pair->out = DeviceBuffer<double>(big);
  ctx.upload(pair->x.get(), r.x, 1, r.n * r.d * b, r.n * r.d * b, nullptr, 0);
  ctx.upload(pair->y.get(), r.y, 1, r.m * r.d * b, r.m * r.d * b, nullptr, 0);
  ctx.upload(pair->nx.get(), r.x_norms, 1, r.n * b, r.n * b, nullptr, 0);
  ctx.upload(pair->ny.get(), r.y_norms, 1, r.m * b, r.m * b, nullptr, 0);
  bool hold = base + held <= budget;
  if (hold) {
    try {
      for (int w = 0; w < 4; ++w) {
        const auto s = pair->side(static_cast<CostMatrix>(w));
        pair->held[w] = DeviceBuffer<double>(s.rows * s.cols);
        compute_costs(ctx, s, r.d, 0, s.rows, pair->held[w].get());
      }
    } catch (const CudaError&) {
      // Out of memory after all (others use the device too): stream instead.
      cudaGetLastError();
      TASKFP_CUDA(cudaStreamSynchronize(ctx.compute()));
      for (auto& m : pair->held) m = {};
      hold = false;
    }
  }
  if (!hold) {
    pair->streamed = true;
    std::size_t rows = std::min(big, std::max<std::size_t>(1, (budget - base) / (b * big)));
    while (true) {
      try {
        pair->slab = DeviceBuffer<double>(rows * big);
        break;
      } catch (const CudaError&) {
        cudaGetLastError();
        if (rows == 1) throw;
        rows = std::max<std::size_t>(1, rows / 2);
      }
    }
    pair->slab_rows = rows;
  }
  TASKFP_CUDA(cudaStreamSynchronize(ctx.compute()));
  return pair.release();
}

void softmin(const SoftminPair* pair, CostMatrix which, double eps, const double* h, double* out) {
  if (!pair) throw CudaError("softmin: no pair");
  if (!(eps > 0.0)) throw CudaError("softmin: eps must be positive");
  int device = 0;
  TASKFP_CUDA(cudaGetDevice(&device));
  if (device != pair->device)
    throw CudaError("softmin: the pair lives on device " + std::to_string(pair->device) + ", not on the current device " +
                    std::to_string(device));
  auto& ctx = current_context();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  const auto s = pair->side(which);
  ctx.upload(pair->h.get(), h, 1, s.cols * sizeof(double), s.cols * sizeof(double), nullptr, 0);
  const double inv_eps = 1.0 / eps;
  const std::size_t shared = kSoftminThreads * sizeof(double);
  if (!pair->streamed) {
    softmin_rows_kernel<<<static_cast<unsigned>(s.rows), kSoftminThreads, shared, ctx.compute()>>>(
        pair->held[static_cast<int>(which)].get(), s.cols, pair->h.get(), inv_eps, eps, pair->out.get());
    TASKFP_CUDA(cudaGetLastError());
  } else {
    for (std::size_t r0 = 0; r0 < s.rows; r0 += pair->slab_rows) {
      const std::size_t count = std::min(pair->slab_rows, s.rows - r0);
      compute_costs(ctx, s, pair->d, r0, count, pair->slab.get());
      softmin_rows_kernel<<<static_cast<unsigned>(count), kSoftminThreads, shared, ctx.compute()>>>(
          pair->slab.get(), s.cols, pair->h.get(), inv_eps, eps, pair->out.get() + r0);
      TASKFP_CUDA(cudaGetLastError());
    }
  }
  download(out, pair->out.get(), s.rows * sizeof(double), ctx.compute());
}

bool softmin_pair_streamed(const SoftminPair* pair) { return pair && pair->streamed; }

void close_softmin_pair(SoftminPair* pair) noexcept { delete pair; }

}  // namespace taskfp::cuda
