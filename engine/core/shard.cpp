// Parsing --shard i/n and Slurm array variables.
#include "core/shard.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

#include "core/error.hpp"

namespace taskfp {

// "i/n" (from --shard, else from a Slurm array's variables) as {i, n}; {0, 1} when neither.
std::pair<int, int> shard_of(std::string spec) {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (spec.empty() && id && count) spec = std::string(id) + "/" + count;
  if (spec.empty()) return {0, 1};
  const auto malformed = [&] { return InputError(fmt::format("--shard takes i/n, e.g. 3/16 (got '{}')", spec)); };
  const auto slash = spec.find('/');
  if (slash == std::string::npos) throw malformed();
  int shard = 0, shards = 0;
  try {
    shard = std::stoi(spec.substr(0, slash));
    shards = std::stoi(spec.substr(slash + 1));
  } catch (const std::logic_error&) {  // std::stoi: not a number, or out of range
    throw malformed();
  }
  require(shards >= 1 && shard >= 0 && shard < shards, "--shard {}: i must lie in 0..n-1", spec);
  return {shard, shards};
}

}  // namespace taskfp
