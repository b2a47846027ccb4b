// The CUDA plugin, libtaskfp_cuda.so: the kernels library's operations in a table
// (core/cuda_plugin.hpp). Linked with -Bsymbolic, so it always calls its own definitions.
#include "core/cuda_plugin.hpp"

extern "C" __attribute__((visibility("default"))) const taskfp::CudaPlugin* taskfp_cuda_plugin() {
  namespace cuda = taskfp::cuda;
  static const taskfp::CudaPlugin plugin = [] {
    taskfp::CudaPlugin p;
    p.probe = &cuda::probe;
    p.select_device = &cuda::select_device;
    p.gemm_abt = &cuda::gemm_abt;
    p.histogram_counts = &cuda::histogram_counts;
    p.log_softmax_rows = &cuda::log_softmax_rows;
    p.kl_terms_supported = &cuda::kl_terms_supported;
    p.kl_terms = &cuda::kl_terms;
    return p;
  }();
  return &plugin;
}
