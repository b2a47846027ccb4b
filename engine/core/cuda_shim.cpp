// taskfp::cuda for the engine: every operation forwards to the CUDA plugin (core/cuda_plugin.hpp),
// loaded on first use. Where it cannot be loaded (no CUDA libraries on this machine), probe()
// says why and the operations throw CudaError; the CPU paths go on as without a GPU.
#ifdef TASKFP_HAVE_CUDA
#include <fmt/format.h>

#include <string>

#include "core/cuda_plugin.hpp"
#include "core/plugin.hpp"

namespace taskfp::cuda {
namespace {

struct Loaded {
  const CudaPlugin* plugin = nullptr;
  std::string why;  // when plugin is null
};

const Loaded& loaded() {
  static const Loaded l = [] {
    Loaded out;
    out.plugin = load_plugin<CudaPlugin>("libtaskfp_cuda.so", "TASKFP_CUDA_PLUGIN",
                                         "taskfp_cuda_plugin", kCudaPluginVersion, out.why);
    if (!out.plugin) out.why = "the CUDA plugin libtaskfp_cuda.so could not be loaded (" + out.why + ")";
    return out;
  }();
  return l;
}

const CudaPlugin& plugin() {
  const auto& l = loaded();
  if (!l.plugin) throw CudaError(l.why);
  return *l.plugin;
}

}  // namespace

DeviceStatus probe() {
  const auto& l = loaded();
  if (!l.plugin) return {false, l.why};
  return l.plugin->probe();
}

int select_device(int local_rank) { return plugin().select_device(local_rank); }

void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double* c,
              double alpha, double beta, const GemmOptions& options) {
  plugin().gemm_abt(a, m, b, n, k, c, alpha, beta, options);
}

void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo, const float* clip_hi,
                      const float* left, const float* right, int bins, std::int64_t* counts) {
  plugin().histogram_counts(x, n, d, clip_lo, clip_hi, left, right, bins, counts);
}

void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out) {
  plugin().log_softmax_rows(h, rows, cols, out);
}

bool kl_terms_supported(RowPrep b_prep, double alpha, bool clip) {
  const auto& l = loaded();
  return l.plugin && l.plugin->kl_terms_supported(b_prep, alpha, clip);
}

void kl_terms(const KlTerms& request, double* cross, double* plogp) { plugin().kl_terms(request, cross, plogp); }

}  // namespace taskfp::cuda
#endif
