// The file check of the HDF5 layer (h5::validate_file): a walk over the whole file in a
// short-lived child process with memory and CPU limits. Stores travel between sites; a damaged
// or forged one must not crash taskfp, hang it or make it allocate without bound, and libhdf5
// itself does all three on some damaged files (a corrupted global heap, chunk index or object
// header). In a child, such a file costs a message instead of the run.
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_detail.hpp"

namespace taskfp::h5 {
using namespace detail;
namespace {

struct Walk {
  std::uint64_t file_size = 0;
  std::exception_ptr error;  // what stopped the walk, kept with its type (StoreAccessError)
};

void walk_attribute(hid obj, const char* name) {
  Handle attr(checked(H5Aopen(obj, name, H5P_DEFAULT), obj, fmt::format("opening attribute '{}'", name)));
  Handle type(checked(H5Aget_type(attr.get()), obj, fmt::format("reading the type of attribute '{}'", name)));
  Handle space(checked(H5Aget_space(attr.get()), obj, fmt::format("reading the shape of attribute '{}'", name)));
  const auto n = element_count(extent(space.get(), obj, std::string("attribute ") + name));
  require(n <= kMaxAttributeValues, "attribute '{}' of '{}' claims {} values: the file is damaged", name,
          file_name(obj), n);
  if (n == 0) return;
  const auto cls = H5Tget_class(type.get());
  if (cls == H5T_STRING && H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> ptrs(n, nullptr);
    Handle mem = vlen_string_type(H5Tget_cset(type.get()));
    check(H5Aread(attr.get(), mem.get(), ptrs.data()), obj, fmt::format("reading attribute '{}'", name));
    for (char* p : ptrs) H5free_memory(p);
  } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    std::vector<double> values(n);
    check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, values.data()), obj, fmt::format("reading attribute '{}'", name));
  } else if (cls == H5T_STRING) {
    std::vector<char> bytes(n * std::max<std::size_t>(1, H5Tget_size(type.get())));
    check(H5Aread(attr.get(), type.get(), bytes.data()), obj, fmt::format("reading attribute '{}'", name));
  }
}

void walk_dataset(hid loc, const char* name, const Walk& walk) {
  auto d = open_dataset(loc, name);
  Handle type(checked(H5Dget_type(d.ds.get()), loc, std::string("reading the type of ") + name));
  Handle dcpl(checked(H5Dget_create_plist(d.ds.get()), loc, std::string("reading the layout of ") + name));
  const auto layout = H5Pget_layout(dcpl.get());
  const std::uint64_t n = element_count(d.dims);
  if (n == 0) return;
  if (d.type_class == H5T_STRING && H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> ptrs(n, nullptr);
    Handle mem = vlen_string_type(H5Tget_cset(type.get()));
    check(H5Dread(d.ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), loc,
          std::string("reading ") + name);
    for (char* p : ptrs) H5free_memory(p);
    return;
  }
  if (layout == H5D_CONTIGUOUS) {
    // Plain bytes at an offset: reading them later is a bounds-checked pread.
    const haddr_t offset = H5Dget_offset(d.ds.get());
    const hsize_t stored = H5Dget_storage_size(d.ds.get());
    require(stored == 0 || (offset != HADDR_UNDEF && offset <= walk.file_size && stored <= walk.file_size - offset),
            "{} lies outside the file: the file is truncated or damaged", where(loc, name));
    return;
  }
  // Fixed-size values taskfp reads: numbers, and fixed-length strings (h5py's numpy 'S' arrays).
  const bool number = d.type_class == H5T_INTEGER || d.type_class == H5T_FLOAT;
  if (layout == H5D_COMPACT || !(number || d.type_class == H5T_STRING)) return;
  // Chunked: every entry of the chunk index must lie inside the file and be no larger than its
  // chunk could compress to; the first chunk is decoded through the filters (gzip, shuffle, LZF,
  // any plugin's: open_dataset checked that each is available) as a reader would. (Decoding all
  // of them would cost as much as the read itself; zlib refuses damaged streams.) A chunk that a
  // filter could not shrink is stored unfiltered, no larger than its data.
  const int rank = static_cast<int>(d.dims.size());
  std::vector<hsize_t> chunk(d.dims.size());
  require(rank > 0 && H5Pget_chunk(dcpl.get(), rank, chunk.data()) == rank,
          "{} has an unreadable chunk layout: the file is damaged", where(loc, name));
  const std::size_t value_bytes = std::max<std::size_t>(1, H5Tget_size(type.get()));
  std::uint64_t expected = 1, chunk_bytes = value_bytes;
  for (int k = 0; k < rank; ++k) {
    require(chunk[k] > 0, "{} has chunks of size 0: the file is damaged", where(loc, name));
    expected *= (d.dims[k] + chunk[k] - 1) / chunk[k];
    chunk_bytes *= chunk[k];
  }
  Handle file_space(checked(H5Dget_space(d.ds.get()), loc, std::string("reading the shape of ") + name));
  hsize_t chunks = 0;
  check(H5Dget_num_chunks(d.ds.get(), file_space.get(), &chunks), loc,
        std::string("listing the chunks of ") + name);
  require(chunks <= expected, "{} lists {} chunks where {} fit: the file is damaged", where(loc, name),
          chunks, expected);
  std::vector<hsize_t> offset(d.dims.size());
  for (hsize_t c = 0; c < chunks; ++c) {
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    check(H5Dget_chunk_info(d.ds.get(), file_space.get(), c, offset.data(), &mask, &addr, &size), loc,
          std::string("listing the chunks of ") + name);
    require(addr != HADDR_UNDEF && addr <= walk.file_size && size <= walk.file_size - addr &&
                size <= chunk_bytes + chunk_bytes / 64 + 4096,
            "{} has a chunk outside the file or larger than its data: the file is damaged", where(loc, name));
  }
  std::vector<hsize_t> start(d.dims.size(), 0), count(d.dims.size());
  std::uint64_t values = 1;
  for (int k = 0; k < rank; ++k) {
    count[k] = std::min<hsize_t>(chunk[k], d.dims[k]);
    values *= count[k];
  }
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        loc, std::string("selecting the first chunk of ") + name);
  Handle mem_space(H5Screate_simple(rank, count.data(), nullptr));
  // Numbers as the readers convert them; strings as stored (the readers convert none).
  Handle mem_type(number ? H5Tcopy(H5T_NATIVE_DOUBLE) : H5Tcopy(type.get()));
  std::vector<char> buffer(values * (number ? sizeof(double) : value_bytes));
  check(H5Dread(d.ds.get(), mem_type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT,
                buffer.data()),
        loc, std::string("reading ") + name);
}

herr_t walk_object(hid obj, const char* name, const H5O_info_t* info, void* data) {
  auto& walk = *static_cast<Walk*>(data);
  try {
    Handle o(checked(H5Oopen(obj, name, H5P_DEFAULT), obj, fmt::format("opening '{}'", name)));
    for (hsize_t i = 0; i < info->num_attrs; ++i) {
      const ssize_t len = H5Aget_name_by_idx(o.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      require(len >= 0 && len < 65536, "'{}' in '{}' has an unreadable attribute: the file is damaged", name,
              file_name(obj));
      std::string attr(static_cast<std::size_t>(len), '\0');
      if (H5Aget_name_by_idx(o.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, attr.data(), attr.size() + 1,
                             H5P_DEFAULT) < 0)
        fail(obj, fmt::format("reading the attributes of '{}'", name));
      walk_attribute(o.get(), attr.c_str());
    }
    if (info->type == H5O_TYPE_DATASET) walk_dataset(obj, name, walk);
  } catch (const Error&) {
    walk.error = std::current_exception();
    return -1;
  }
  return 0;
}

void walk_file(const std::string& path, std::uint64_t file_size) {
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) fail_open(path, "opening it");
  require(is_hdf5 > 0, "not an HDF5 file");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (file.get() < 0) fail_open(path, "opening it");
  Walk walk;
  walk.file_size = file_size;
#if H5_VERSION_GE(1, 12, 0)
  const herr_t status = H5Ovisit3(
      file.get(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid obj, const char* name, const H5O_info2_t* info2, void* data) -> herr_t {
        H5O_info_t info{};
        info.type = info2->type;
        info.num_attrs = info2->num_attrs;
        return walk_object(obj, name, &info, data);
      },
      &walk, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS);
#else
  const herr_t status = H5Ovisit2(file.get(), H5_INDEX_NAME, H5_ITER_INC, walk_object, &walk,
                                  H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS);
#endif
  if (walk.error) std::rethrow_exception(walk.error);
  if (status < 0) fail(file.get(), "walking its groups");
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  require(end && *end == '\0' && x > 0 && x < 1e9, "{}='{}' is not a positive number", name, v);
  return static_cast<std::uint64_t>(x);
}

std::uint64_t address_space_in_use() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    default: return "a signal";
  }
}

}  // namespace

void validate_file(const std::string& path) {
  struct stat st {};
  require(::stat(path.c_str(), &st) == 0, "'{}' does not exist", path);
  require(S_ISREG(st.st_mode), "'{}' is not a file", path);
  // Once per file (as it is now) and process.
  static std::mutex mutex;
  static std::set<std::string> valid;
  std::error_code ec;
  const std::string key = fmt::format("{}|{}|{}|{}|{}.{}", std::filesystem::weakly_canonical(path, ec).string(),
                                      st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  {
    std::lock_guard lock(mutex);
    if (valid.count(key)) return;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t memory =
      std::max<std::uint64_t>(env_number("TASKFP_STORE_CHECK_MEMORY_GB", 2) << 30, 4 * size);
  // A damaged file makes libhdf5 loop on the CPU: the child gets `cpu` seconds of it (the walk
  // reads metadata and one chunk per dataset, far less); waiting on a slow disk costs no CPU and
  // gets ten times as long before the walk counts as stuck.
  const std::uint64_t cpu = env_number("TASKFP_STORE_CHECK_SECONDS", 5 + size / (100u << 20));
  const std::uint64_t seconds = 60 + 10 * cpu;
  const auto invalid = [&](const std::string& what) {
    return InputError(fmt::format("invalid store '{}': {}", path, what));
  };

  int pipe_fds[2];
  require(pipe(pipe_fds) == 0, "cannot check '{}': no pipe ({})", path, std::strerror(errno));
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    throw InputError(fmt::format("cannot check '{}': fork failed ({})", path, std::strerror(errno)));
  }
  if (child == 0) {  // the child: walk, report, leave without running any exit handler
    close(pipe_fds[0]);
    // What a crashing libhdf5 or glibc would print ("double free or corruption") is not the
    // user's message: the parent reports the crash.
    if (const int null_fd = open("/dev/null", O_WRONLY); null_fd >= 0) dup2(null_fd, STDERR_FILENO);
    const rlimit limit{address_space_in_use() + memory, address_space_in_use() + memory};
    setrlimit(RLIMIT_AS, &limit);
    const rlimit cpu_limit{cpu, cpu + 1};  // SIGXCPU, then SIGKILL
    setrlimit(RLIMIT_CPU, &cpu_limit);
    std::string message;
    int code = 0;
    try {
      walk_file(path, size);
    } catch (const StoreAccessError& e) {  // not the file's fault: passed on as it is
      message = e.what();
      code = 5;
    } catch (const std::bad_alloc&) {
      message = fmt::format("reading it needs more than {} GiB of memory (a damaged size field; "
                            "TASKFP_STORE_CHECK_MEMORY_GB raises the limit for genuine stores)",
                            memory >> 30);
      code = 3;
    } catch (const std::exception& e) {
      message = e.what();
      code = 2;
    }
    if (!message.empty() && ::write(pipe_fds[1], message.data(), message.size()) < 0) code = 4;
    close(pipe_fds[1]);
    _exit(code);
  }
  close(pipe_fds[1]);
  std::string message;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buf[4096];
    const ssize_t got = ::read(pipe_fds[0], buf, sizeof buf);
    if (got <= 0) break;  // the child closed its end: it is done
    message.append(buf, static_cast<std::size_t>(got));
  }
  close(pipe_fds[0]);
  if (timed_out) kill(child, SIGKILL);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const bool looped = WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL);
  if (timed_out || looped)
    throw invalid(fmt::format("reading it took longer than {} s{} (a damaged file can make libhdf5 "
                              "loop; TASKFP_STORE_CHECK_SECONDS raises the limit for genuine stores)",
                              timed_out ? seconds : cpu, timed_out ? "" : " of CPU time"));
  if (WIFSIGNALED(status))
    throw invalid(fmt::format("reading it crashed libhdf5 ({}): the file is damaged or not a valid HDF5 file",
                              signal_name(WTERMSIG(status))));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 5) throw StoreAccessError(message);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // The child's messages name the file already; keep them, minus a repeated prefix.
    const std::string prefix = "'" + path + "': ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    throw invalid(message.empty() ? "reading it failed" : message);
  }
  std::lock_guard lock(mutex);
  valid.insert(key);
}

}  // namespace taskfp::h5
