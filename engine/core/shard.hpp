// Which share of a sharded run this process computes: --shard i/n, or a Slurm job array's task.
#pragma once

#include <string>
#include <utility>

namespace taskfp {

/// {i, n} from "i/n" (`spec`, from --shard), else from a Slurm array's variables
/// (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT; arrays must start at 0), {0, 1} when neither.
/// InputError for a malformed spec or i outside 0..n-1.
std::pair<int, int> shard_of(std::string spec);

}  // namespace taskfp
