// The CUDA backend: every operation goes through the CUDA plugin's table (compute/cuda_plugin.hpp),
// loaded on first use. Where it cannot be loaded (no CUDA libraries on this machine) or no device
// is usable, compute::cuda() returns null and says why; the CPU backend goes on as without a GPU.
#include <fmt/format.h>

#include "compute/backend.hpp"
#include "core/error.hpp"

#ifdef TASKFP_HAVE_CUDA
#include "compute/cuda_plugin.hpp"
#include "core/plugin.hpp"
#endif

namespace taskfp::compute {

#ifdef TASKFP_HAVE_CUDA
namespace {

// Runs one plugin call; a CUDA failure becomes an Error naming the operation and the call.
template <class F>
void device_call(const char* op, F&& f) {
  try {
    f();
  } catch (const cuda::CudaError& e) {
    throw Error(fmt::format("CUDA backend, {}: {}", op, e.what()));
  }
}

// A pair of clouds in device memory (the plugin's handle), freed with the object.
class DeviceSoftminPair final : public SoftminPair {
 public:
  DeviceSoftminPair(const CudaPlugin& plugin, cuda::SoftminPair* pair) : p_(plugin), pair_(pair) {}
  ~DeviceSoftminPair() override { p_.close_softmin_pair(pair_); }
  DeviceSoftminPair(const DeviceSoftminPair&) = delete;
  DeviceSoftminPair& operator=(const DeviceSoftminPair&) = delete;
  void softmin(CostMatrix which, double eps, const double* h, double* out) const override {
    device_call("softmin", [&] { p_.softmin(pair_, which, eps, h, out); });
  }
  bool streamed() const override { return p_.softmin_pair_streamed(pair_); }

 private:
  const CudaPlugin& p_;
  cuda::SoftminPair* pair_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const CudaPlugin& plugin, std::string device) : p_(plugin), device_(std::move(device)) {}
  const char* name() const override { return "cuda"; }
  std::string description() const override { return device_; }
  bool is_host() const override { return false; }
  bool supports(Op) const override { return true; }

  void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double* c,
                double alpha, double beta, GemmTiles) const override {
    device_call("gemm_abt", [&] { p_.gemm_abt(a, m, b, n, k, c, alpha, beta, cuda::GemmOptions{}); });
  }
  void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo, const float* clip_hi,
                        const float* left, const float* right, int bins, std::int64_t* counts) const override {
    require(bins >= 1 && bins <= (1 << 24), "the number of bins must be in 1..2^24 (got {})", bins);
    device_call("histogram_counts",
                [&] { p_.histogram_counts(x, n, d, clip_lo, clip_hi, left, right, bins, counts); });
  }
  void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out) const override {
    device_call("log_softmax_rows", [&] { p_.log_softmax_rows(h, rows, cols, out); });
  }
  void kl_terms(const KlTerms& r, double* cross, double* plogp) const override {
    require(ops::kl_terms_supported(r.b_prep, r.alpha, r.clip),
            "kl_terms: the q side can be zero (no softmax, smoothing or clipping)");
    device_call("kl_terms", [&] { p_.kl_terms(r, cross, plogp); });
  }
  std::unique_ptr<SoftminPair> softmin_pair(const SoftminPairRequest& request) const override {
    cuda::SoftminPair* pair = nullptr;
    device_call("softmin_pair", [&] { pair = p_.open_softmin_pair(request); });
    return std::make_unique<DeviceSoftminPair>(p_, pair);
  }
  int select_device(int local_rank) const {
    int device = 0;
    device_call("select_device", [&] { device = p_.select_device(local_rank); });
    return device;
  }

 private:
  const CudaPlugin& p_;
  std::string device_;
};

struct Loaded {
  const CudaBackend* backend = nullptr;
  std::string why;  // when backend is null
};

const Loaded& loaded() {
  static const Loaded l = [] {
    Loaded out;
    std::string why;
    const auto* plugin = load_plugin<CudaPlugin>("libtaskfp_cuda.so", "TASKFP_CUDA_PLUGIN", "taskfp_cuda_plugin",
                                                 kCudaPluginVersion, why);
    if (!plugin) {
      out.why = "the CUDA plugin libtaskfp_cuda.so could not be loaded (" + why + ")";
      return out;
    }
    const auto status = plugin->probe();
    if (!status.usable) {
      out.why = "no usable CUDA device: " + status.description;
      return out;
    }
    out.backend = new CudaBackend(*plugin, status.description);  // kept for the process
    return out;
  }();
  return l;
}

}  // namespace

const Backend* cuda(std::string* why) {
  const auto& l = loaded();
  if (!l.backend && why) *why = l.why;
  return l.backend;
}

std::string bind_device(int local_rank) {
  const auto& l = loaded();
  if (!l.backend) throw InputError(fmt::format("cannot select a GPU for local rank {}: {}", local_rank, l.why));
  return fmt::format("GPU {}", l.backend->select_device(local_rank));
}

#else

const Backend* cuda(std::string* why) {
  if (why) *why = "this taskfp was built without CUDA (rebuild where nvcc is installed, or with -DTASKFP_WITH_CUDA=ON)";
  return nullptr;
}

std::string bind_device(int local_rank) {
  throw InputError(fmt::format("cannot select a GPU for local rank {}: built without CUDA", local_rank));
}

#endif

}  // namespace taskfp::compute
