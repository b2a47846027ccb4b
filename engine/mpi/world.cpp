// The process world, with and without MPI (TASKFP_HAVE_MPI).
#include "mpi/world.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <exception>

#include "core/error.hpp"

#ifdef TASKFP_HAVE_MPI
#include <mpi.h>
#endif

namespace taskfp::mpi {
namespace {

World g_world;
bool g_started = false;

[[maybe_unused]] int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// offsets[r] = counts[0] + ... + counts[r - 1] (for MPI_Gatherv); returns the sum of all.
[[maybe_unused]] std::size_t prefix_offsets(const std::vector<int>& counts, std::vector<int>& offsets) {
  offsets.assign(counts.size(), 0);
  std::size_t total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += static_cast<std::size_t>(counts[r]);
  }
  return total;
}

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                        "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

const World& init(int& argc, char**& argv) {
  if (g_started || !launched_by_mpi()) return g_world;
#ifdef TASKFP_HAVE_MPI
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &g_world.local_rank);
  MPI_Comm_size(node, &g_world.local_size);
  MPI_Comm_free(&node);
#else
  (void)argc;
  (void)argv;
  const int size = std::max({env_int("OMPI_COMM_WORLD_SIZE", 1), env_int("PMI_SIZE", 1),
                             env_int("MV2_COMM_WORLD_SIZE", 1)});
  require(size <= 1,
          "taskfp was started by an MPI launcher with {} ranks, but was built without MPI: every "
          "rank would do the whole job and write the same files. Install an MPI (Debian: "
          "libopenmpi-dev) and rebuild (scripts/setup.sh), or run a single process",
          size);
#endif
  return g_world;
}

void finalize() {
#ifdef TASKFP_HAVE_MPI
  int finalized = 0;
  if (g_started && (MPI_Finalized(&finalized), !finalized)) MPI_Finalize();
#endif
  g_started = false;
}

void abort_all(int code) {
#ifdef TASKFP_HAVE_MPI
  if (g_started && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  (void)code;
}

const World& world() { return g_world; }

std::pair<std::size_t, std::size_t> share(std::size_t n, int rank, int size, std::size_t granule) {
  granule = std::max<std::size_t>(granule, 1);
  const auto r = static_cast<std::size_t>(rank), s = static_cast<std::size_t>(size);
  const std::size_t units = (n + granule - 1) / granule;
  const std::size_t base = units / s, extra = units % s;
  const std::size_t first = r * base + std::min(r, extra), count = base + (r < extra ? 1 : 0);
  return {std::min(n, first * granule), std::min(n, (first + count) * granule)};
}

void barrier() {
#ifdef TASKFP_HAVE_MPI
  if (g_world.distributed()) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

#ifdef TASKFP_HAVE_MPI
struct SharedCounter::Window {
  MPI_Win win = MPI_WIN_NULL;
  std::int64_t* base = nullptr;
};
#else
struct SharedCounter::Window {};
#endif

SharedCounter::SharedCounter() {
#ifdef TASKFP_HAVE_MPI
  if (!g_world.distributed()) return;
  window_ = std::make_unique<Window>();
  const MPI_Aint bytes = g_world.root() ? static_cast<MPI_Aint>(sizeof(std::int64_t)) : 0;
  MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &window_->base, &window_->win);
  if (g_world.root()) {
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, window_->win);
    *window_->base = 0;
    MPI_Win_unlock(0, window_->win);
  }
  MPI_Barrier(MPI_COMM_WORLD);  // the counter is set before anyone takes from it
#endif
}

SharedCounter::~SharedCounter() {
#ifdef TASKFP_HAVE_MPI
  // Freeing is collective: not while an error unwinds one rank alone (abort_all follows).
  if (window_ && std::uncaught_exceptions() == 0) MPI_Win_free(&window_->win);
#endif
}

std::size_t SharedCounter::next() {
#ifdef TASKFP_HAVE_MPI
  if (window_) {
    const std::int64_t one = 1;
    std::int64_t got = 0;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, window_->win);
    MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, window_->win);
    MPI_Win_unlock(0, window_->win);
    return static_cast<std::size_t>(got);
  }
#endif
  return local_++;
}

void SharedCounter::serve() {
#ifdef TASKFP_HAVE_MPI
  if (window_) {
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
  }
#endif
}

Matrix<double> gather_rows(const Matrix<double>& block) {
  if (!g_world.distributed()) return block;
#ifdef TASKFP_HAVE_MPI
  const int size = g_world.size;
  require(block.data.size() <= static_cast<std::size_t>(INT_MAX),
          "a rank's block of {} values is too large to gather in one message", block.data.size());
  int mine = static_cast<int>(block.data.size());
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets;
  MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  Matrix<double> out;
  if (g_world.root()) {
    const std::size_t total = prefix_offsets(counts, offsets);
    require(total <= static_cast<std::size_t>(INT_MAX), "the gathered matrix ({} values) is too large for one message", total);
    out = Matrix<double>::uninitialized(block.cols ? total / block.cols : 0, block.cols);
  }
  MPI_Gatherv(block.data.data(), mine, MPI_DOUBLE, out.data.data(), counts.data(), offsets.data(),
              MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return out;
#else
  return block;
#endif
}

std::vector<int> ranks_differing_from_root(const std::string& value) {
  if (!g_world.distributed()) return {};
#ifdef TASKFP_HAVE_MPI
  require(value.size() <= static_cast<std::size_t>(INT_MAX), "a value too long to compare across ranks");
  int len = static_cast<int>(value.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string root = g_world.root() ? value : std::string(static_cast<std::size_t>(len), '\0');
  MPI_Bcast(root.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  int differs = root != value ? 1 : 0;
  std::vector<int> all(static_cast<std::size_t>(g_world.size));
  MPI_Allgather(&differs, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::vector<int> out;
  for (int r = 0; r < g_world.size; ++r)
    if (all[static_cast<std::size_t>(r)]) out.push_back(r);
  return out;
#else
  (void)value;
  return {};
#endif
}

std::vector<std::string> gather_strings(const std::vector<std::string>& mine) {
  if (!g_world.distributed()) return mine;
#ifdef TASKFP_HAVE_MPI
  std::string packed;
  for (const auto& s : mine) packed += s + '\0';
  require(packed.size() <= static_cast<std::size_t>(INT_MAX), "messages too long to gather");
  int len = static_cast<int>(packed.size());
  const auto size = static_cast<std::size_t>(g_world.size);
  std::vector<int> lens(size), offsets;
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (g_world.root()) all.resize(prefix_offsets(lens, offsets));
  MPI_Gatherv(packed.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (std::size_t start = 0; start < all.size();) {
    const std::size_t end = all.find('\0', start);
    out.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return out;
#else
  return mine;
#endif
}

}  // namespace taskfp::mpi
