// The process world: one process, or the ranks of an MPI job. No MPI headers here, so every
// translation unit can ask "which rank am I" without depending on MPI.
//
// MPI starts only when an MPI launcher started the process (mpirun, mpiexec, srun: their
// environment variables say so) and taskfp was built with MPI; a plain `taskfp ...` is a world of
// one and needs no launcher.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/blas.hpp"
#include "core/matrix.hpp"

namespace taskfp::mpi {

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  ///< rank among the processes on this node (picks the GPU)
  int local_size = 1;
  [[nodiscard]] bool root() const { return rank == 0; }
  [[nodiscard]] bool distributed() const { return size > 1; }
};

/// Whether the environment shows an MPI launcher (OpenMPI, PMIx, PMI/Hydra, MVAPICH).
bool launched_by_mpi();

/// Starts MPI where launched_by_mpi() and built with it; call once, first thing in main.
/// InputError when launched by an MPI launcher with more than one rank but built without MPI
/// (every rank would do the whole job and write the same files).
const World& init(int& argc, char**& argv);
/// Ends MPI (where started). Safe to call more than once.
void finalize();
/// Stops every rank at once after an error (MPI_Abort); in a world of one, returns.
void abort_all(int code);
/// The world init() set up (a world of one before init()).
const World& world();

/// The contiguous share [begin, end) of n items for `rank` of `size`, in whole granules of
/// `granule` items (the last one may be short); the first ranks get one granule more where they
/// do not divide evenly, and ranks past the last granule get an empty share.
///
/// Distance rows are shared in granules of kRowGranule, the source tile of core/blas.hpp: a
/// rank owns whole tiles, starting where the single process's tiles start, and every BLAS call it
/// makes is one the single process makes too, so the gathered matrix equals the single-process
/// one bit for bit.
std::pair<std::size_t, std::size_t> share(std::size_t n, int rank, int size,
                                          std::size_t granule = 1);
inline constexpr std::size_t kRowGranule = blas::kSourceTile;

/// Waits for every rank (collective); returns at once in a world of one.
void barrier();

/// Hands out 0, 1, 2, ... over all ranks, each value to exactly one caller, in the order the
/// ranks ask: MPI one-sided fetch-and-add on a counter rank 0 holds (work sharing that balances
/// itself: a rank takes the next item when it is free). In a world of one, a plain counter.
/// Creating and destroying it are collective.
class SharedCounter {
 public:
  SharedCounter();
  ~SharedCounter();
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;
  std::size_t next();
  /// Lets MPI make progress on this rank (MPI_Iprobe). Where the network has no hardware
  /// atomics, rank 0 answers the others' next() only inside MPI calls: calling this now and then
  /// during long computations (every batch) keeps their waits short.
  void serve();

 private:
  struct Window;
  std::unique_ptr<Window> window_;
  std::size_t local_ = 0;
};

/// Rank 0 receives the row blocks of all ranks stacked in rank order (every block has the same
/// number of columns); other ranks receive an empty matrix. Collective.
Matrix<double> gather_rows(const Matrix<double>& block);

/// The ranks whose `value` differs from rank 0's, on every rank alike (collective; empty in a
/// world of one). Ranks compare what they read (input digests) before they compute from it.
std::vector<int> ranks_differing_from_root(const std::string& value);

/// Rank 0 receives every rank's strings in rank order; others an empty list. Collective.
std::vector<std::string> gather_strings(const std::vector<std::string>& mine);

}  // namespace taskfp::mpi
