// Extraction split into chunks that ranks, Slurm array tasks and reruns share through a parts
// folder: each chunk (up to `chunk` consecutive draws of one task) is written as its own small
// store, atomically, so a stopped run resumes where it stopped and any number of workers
// produce the same features. Chunks start at multiples of the batch size: every image is
// inferred in the same batch whatever the split.
#pragma once

#include <string>
#include <vector>

#include "mpi/world.hpp"
#include "extract/extract.hpp"

namespace taskfp {

struct Chunk {
  std::size_t task = 0;  ///< index into the task list
  std::size_t first = 0, count = 0;
};

struct ExtractPlan {
  std::vector<std::string> tasks;
  std::vector<Chunk> chunks;
  std::string key;  ///< everything the features depend on; parts of another key are not reused
};

/// Chunks of `chunk_size` draws (rounded up to whole batches) for every task. InputError for no
/// samples, batch or chunk size.
ExtractPlan plan_extraction(const std::vector<ImageTaskSpec>& tasks, const BackboneInfo& backbone,
                            const ExtractOptions& options, std::size_t chunk_size);

/// The chunks worker `shard` of `shards` computes: contiguous runs of equal size, in plan order.
std::vector<std::size_t> shard_chunks(const ExtractPlan& plan, int shard, int shards);

struct ShardReport {
  std::size_t computed = 0, reused = 0;  ///< chunks
  ExtractReport extract;
};

/// Computes this shard's chunks into `parts_dir` (created; the plan written there), skipping
/// chunks already there from a run with the same key. With `shared` (the ranks of one MPI job),
/// the chunks are instead taken one at a time from the counter, over the whole plan: a rank on
/// slow work (large images, a slower node) simply takes fewer; shard and shards are unused.
/// InputError when `parts_dir` holds the plan of a different run, or an unreadable plan, with
/// finished parts. A plan of this run's key that reads differently is rewritten.
ShardReport run_shard(const ExtractPlan& plan, const std::vector<ImageTaskSpec>& tasks, Backbone& backbone,
                      const ExtractOptions& options, const std::string& parts_dir, int shard, int shards,
                      mpi::SharedCounter* shared = nullptr);

/// Assembles the features store from a complete parts folder (rows in draw order). InputError
/// naming the missing chunks when some are absent; naming plan.txt when it is damaged (a line
/// that is not key, chunk or task; no key, tasks or chunks; chunks of unlisted tasks or that do not
/// cover every task's draws alike); naming the part when one does not fit its chunk (key, task,
/// first draw, rows + skipped images != the chunk's draws, not float32 2-D, another feature size
/// than the other parts). Every part is checked before any is merged.
FeatureSet merge_parts(const std::string& parts_dir);

/// merge_parts, then the features store written to `out` (whole or not at all) and the parts
/// folder removed unless `keep_parts`. Returns the merged features.
FeatureSet merge_parts_into(const std::string& parts_dir, const std::string& out, bool keep_parts);

/// Removes a parts folder that holds no finished chunk (only the plan): what a run that failed
/// before finishing anything leaves. A folder with finished chunks stays for a rerun.
void remove_unfinished_parts(const std::string& parts_dir);

}  // namespace taskfp
