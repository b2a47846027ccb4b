// The CUDA plugin, libtaskfp_cuda.so: the kernels library's operations in a table
// (compute/cuda_plugin.hpp). The engine defines no taskfp::cuda symbols, so the plugin's calls
// always reach its own definitions.
#include "compute/cuda_plugin.hpp"

extern "C" __attribute__((visibility("default"))) const taskfp::CudaPlugin* taskfp_cuda_plugin() {
  namespace cuda = taskfp::cuda;
  static const taskfp::CudaPlugin plugin = [] {
    taskfp::CudaPlugin p;
    p.probe = &cuda::probe;
    p.select_device = &cuda::select_device;
    p.gemm_abt = &cuda::gemm_abt;
    p.histogram_counts = &cuda::histogram_counts;
    p.log_softmax_rows = &cuda::log_softmax_rows;
    p.kl_terms = &cuda::kl_terms;
    p.open_softmin_pair = &cuda::open_softmin_pair;
    p.softmin = &cuda::softmin;
    p.softmin_pair_streamed = &cuda::softmin_pair_streamed;
    p.close_softmin_pair = &cuda::close_softmin_pair;
    return p;
  }();
  return &plugin;
}
