# OpenBLAS kernel choice for the numerics tests (sourced). OpenBLAS picks its GEMM kernel for
# the CPU at load time, or takes the one OPENBLAS_CORETYPE names; results may differ between
# kernels in their last bits, never between ranks or threads of one kernel.

# The kernels this CPU can run, fastest first (x86-64 only; nothing elsewhere).
supported_blas_kernels() {
  [ "$(uname -m)" = x86_64 ] || return 0
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  [[ $flags == *" avx512_bf16 "* ]] && echo Cooperlake
  [[ $flags == *" avx512f "* && $flags == *" avx512vl "* ]] && echo SkylakeX
  [[ $flags == *" avx2 "* ]] && echo Haswell
  [[ $flags == *" avx "* ]] && echo Sandybridge
  echo Prescott
}

# select_blas_kernel MODE: env (the environment's kernel: OPENBLAS_CORETYPE, or the one
# scripts/test.sh saved in TASKFP_TEST_ENV_BLAS_KERNEL), unset (OpenBLAS's own choice for
# this CPU, as on a user's machine), alt1 / alt2 (two kernels other than the development
# machines' Haswell: SkylakeX or else Sandybridge, and Prescott), or a kernel name. Exports
# OPENBLAS_CORETYPE accordingly and sets BLAS_KERNEL to a description; returns 1 after printing
# why where this CPU cannot run the mode.
select_blas_kernel() {
  local mode=$1 want="" k own="OpenBLAS's choice for this CPU" kernels
  # The list first, then grep -q on it: `supported_blas_kernels | grep -q` under pipefail fails
  # at random (grep quits at its match, the function's next echo gets SIGPIPE).
  kernels=$(supported_blas_kernels)
  case "$mode" in
    env)  # scripts/test.sh clears the environment's kernel and passes it on here
      if [ -n "${TASKFP_TEST_ENV_BLAS_KERNEL:-}" ]; then export OPENBLAS_CORETYPE=$TASKFP_TEST_ENV_BLAS_KERNEL; fi
      BLAS_KERNEL="${OPENBLAS_CORETYPE:-$own} (environment)"
      return 0 ;;
    unset) unset OPENBLAS_CORETYPE; BLAS_KERNEL=$own; return 0 ;;
    alt1) for k in SkylakeX Sandybridge; do grep -qx "$k" <<<"$kernels" && { want=$k; break; }; done ;;
    alt2) grep -qx Prescott <<<"$kernels" && want=Prescott ;;
    *) grep -qx "$mode" <<<"$kernels" && want=$mode ;;
  esac
  if [ -z "$want" ]; then
    echo "skipped: this CPU ($(uname -m)) cannot run OpenBLAS kernel '$mode'"
    return 1
  fi
  export OPENBLAS_CORETYPE=$want
  BLAS_KERNEL=$want
}
