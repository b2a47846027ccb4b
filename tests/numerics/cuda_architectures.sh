#!/usr/bin/env bash
# The CUDA objects carry Hopper machine code: every .cu file of the build is compiled with
# code=sm_90 (H100/H200 run it natively, not by JIT from PTX of an older architecture), as the
# build's compile commands record them (compile_commands.json; this toolkit has no cuobjdump to
# read the objects themselves). Also prints the other targets (sm_80, compute_90 PTX by default).
# Usage: cuda_architectures.sh <build folder>
set -euo pipefail
BUILD=$1
json="$BUILD/compile_commands.json"
[ -s "$json" ] || { echo "FAIL: $json is missing (CMAKE_EXPORT_COMPILE_COMMANDS is on in the project)"; exit 1; }
/usr/bin/python3 - "$json" <<'PY'
import json, re, sys
entries = [e for e in json.load(open(sys.argv[1])) if e["file"].endswith(".cu")]
if not entries:
    sys.exit("FAIL: no CUDA sources in the build")
bad = []
for e in entries:
    command = e.get("command") or " ".join(e.get("arguments", []))
    codes = sorted({c for group in re.findall(r"(?<=,)code=\[?([a-z_0-9,]+)", command) for c in group.split(",") if c})
    print(f"{e['file'].split('/')[-1]}: {', '.join(codes) or 'no --generate-code (nvcc default)'}")
    if "sm_90" not in codes:
        bad.append(e["file"])
if bad:
    sys.exit("FAIL: built without sm_90 machine code: " + ", ".join(bad) +
             " (configure with -DCMAKE_CUDA_ARCHITECTURES='90-real;80-real;90-virtual')")
print(f"ok: {len(entries)} CUDA sources carry sm_90 machine code")
PY
