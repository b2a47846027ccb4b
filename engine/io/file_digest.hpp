// What a file or folder holds, in a few bytes: to check that processes on different nodes (MPI
// ranks) read the same inputs before they compute anything from them.
#pragma once

#include <string>
#include <string_view>

namespace taskfp {

/// "<bytes> bytes, xxh3 <16 hex digits>" over the file's contents (xxHash's XXH3-64); for a
/// folder, over every regular file below it in name order, each with its relative path and size.
/// InputError naming the path when it cannot be read.
std::string file_digest(const std::string& path);

/// "xxh3 <16 hex digits>" of a text (XXH3-64): e.g. a result file's checksum over its content.
std::string text_digest(std::string_view text);

}  // namespace taskfp
