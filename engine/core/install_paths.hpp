// Where taskfp finds the files it ships (configs, Slurm templates): <prefix>/share/taskfp beside
// the executable's <prefix>/bin, the same layout in the build tree (the build copies configs/
// into <build>/share/taskfp; the executable is <build>/engine/taskfp) as after
// `cmake --install`. No source path is compiled into the binary.
#pragma once

#include <string>

namespace taskfp {

/// `<folder above the executable's>/share/taskfp/<relative>`, e.g. data_file("configs/tasksets/
/// paper.yaml"); the path whether or not the file exists (callers report a missing one).
std::string data_file(const std::string& relative);

}  // namespace taskfp
