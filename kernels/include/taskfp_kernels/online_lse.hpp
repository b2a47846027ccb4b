// The one-pass log-sum-exp of the CUDA backend's soft-min kernel (kernels/src/cuda_backend.cu),
// in a header that host code compiles too, so that tests check the arithmetic on a machine
// without a GPU (tests/test_backend_ops.cpp emulates a block of threads with it).
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define TASKFP_HOST_DEVICE __host__ __device__
#else
#define TASKFP_HOST_DEVICE
#endif

namespace taskfp::ops {

/// A running log-sum-exp over one thread's values: the largest value so far and the sum of
/// exp(v - max) over the values seen. log-sum-exp = max + log(sum).
struct OnlineLse {
  double max = -INFINITY;
  double sum = 0.0;
};

/// Adds a finite value: one exp per value (the sum is rescaled when the maximum grows).
TASKFP_HOST_DEVICE inline void lse_add(OnlineLse& s, double v) {
  if (v > s.max) {
    s.sum = s.sum * exp(s.max - v) + 1.0;
    s.max = v;
  } else {
    s.sum += exp(v - s.max);
  }
}

/// A thread's sum rescaled to the block's maximum `m` (0 for a thread that saw no value); the
/// block's log-sum-exp is m + log(sum of these).
TASKFP_HOST_DEVICE inline double lse_rescaled(const OnlineLse& s, double m) {
  return s.max == -INFINITY ? 0.0 : s.sum * exp(s.max - m);
}

}  // namespace taskfp::ops
