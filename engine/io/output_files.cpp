// Temporary outputs, their commit, and their removal on errors, signals and reruns.
#include "io/output_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

// The temporaries of this process, for the signal handler: a fixed table of C strings, written
// with atomics only, so that the handler can read it at any moment without locks.
struct Entry {
  bool directory;
  char path[1];  // NUL-terminated, allocated to fit
};
constexpr int kSlots = 4096;
std::atomic<Entry*> g_pending[kSlots];

int register_pending(const std::string& path, bool directory) {
  auto* e = static_cast<Entry*>(std::malloc(sizeof(Entry) + path.size()));
  if (!e) return -1;
  e->directory = directory;
  std::memcpy(e->path, path.c_str(), path.size() + 1);
  for (int i = 0; i < kSlots; ++i) {
    Entry* expected = nullptr;
    if (g_pending[i].compare_exchange_strong(expected, e)) return i;
  }
  std::free(e);  // table full: still removed by the destructor and by later runs
  return -1;
}

void unregister_pending(int slot) {
  if (slot < 0) return;
  std::free(g_pending[slot].exchange(nullptr));
}

// Removes a folder tree with system calls only (used from the signal handler, and for folders).
void remove_tree(int parent_fd, const char* name) {
  const int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    unlinkat(parent_fd, name, 0);
    return;
  }
  if (DIR* d = fdopendir(fd)) {
    while (const dirent* ent = readdir(d)) {
      if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
      if (unlinkat(fd, ent->d_name, 0) != 0) remove_tree(fd, ent->d_name);
    }
    closedir(d);
  } else {
    close(fd);
  }
  unlinkat(parent_fd, name, AT_REMOVEDIR);
}

void remove_path(const char* path, bool directory) {
  if (directory)
    remove_tree(AT_FDCWD, path);
  else
    unlink(path);
}

extern "C" void on_fatal_signal(int sig) {
  for (auto& slot : g_pending)
    if (Entry* e = slot.load()) remove_path(e->path, e->directory);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

const std::string& host_name() {
  static const std::string name = [] {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return std::string("localhost");
    std::string h(buf);
    for (char& c : h)
      if (c == '/') c = '_';
    return h;
  }();
  return name;
}

bool process_gone(long pid) {
  return pid > 0 && pid != static_cast<long>(getpid()) && kill(static_cast<pid_t>(pid), 0) != 0 &&
         errno == ESRCH;
}

// The process id in a temporary's name when it is one of this host's (or of the earlier
// `<name>.tmp-<pid>` form); -1 otherwise.
long temporary_owner(const std::string& name) {
  const auto at = name.rfind(".tmp-");
  if (at == std::string::npos || at == 0) return -1;
  std::string rest = name.substr(at + 5);
  const std::string mine = host_name() + "-";
  if (rest.rfind(mine, 0) == 0) rest = rest.substr(mine.size());
  if (rest.empty() || rest.size() > 9 || rest.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stol(rest);
}

// Once per folder and process: removes temporaries whose writer is gone.
void remove_stale_temporaries(const fs::path& dir) {
  static std::mutex mutex;
  static std::set<std::string> done;
  std::error_code ec;
  const auto key = fs::weakly_canonical(dir, ec).string();
  {
    std::lock_guard lock(mutex);
    if (!done.insert(key).second) return;
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (process_gone(temporary_owner(name))) fs::remove_all(e.path(), ec);
  }
}

// Why `path` cannot be written as a new file or folder, or "" when it can.
std::string unwritable(const std::string& path, bool directory) {
  if (path.empty()) return "no path given";
  std::error_code ec;
  const fs::path p(path);
  if (!directory && fs::is_directory(p, ec)) return "it is a folder; give a file name";
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::exists(parent, ec)) return fmt::format("its folder '{}' does not exist", parent.string());
  if (!fs::is_directory(parent, ec)) return fmt::format("'{}' is not a folder", parent.string());
  if (access(parent.c_str(), W_OK | X_OK) != 0)
    return fmt::format("its folder '{}' is not writable ({})", parent.string(), std::strerror(errno));
  return "";
}

}  // namespace

std::string temporary_name(const std::string& path) {
  return fmt::format("{}.tmp-{}-{}", path, host_name(), static_cast<long>(getpid()));
}

void require_writable_file(const std::string& path, const std::string& option) {
  const auto why = unwritable(path, false);
  require(why.empty(), "{} '{}' cannot be written: {}", option, path, why);
}

void require_writable_folder(const std::string& dir, const std::string& option) {
  require(!dir.empty(), "{}: no folder given", option);
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (fs::exists(p, ec)) {
    require(fs::is_directory(p, ec), "{} '{}' is not a folder", option, dir);
    require(access(p.c_str(), W_OK | X_OK) == 0, "{} '{}' is not writable ({})", option, dir,
            std::strerror(errno));
    return;
  }
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();  // the folder that would hold it
  require(fs::is_directory(p, ec) && access(p.c_str(), W_OK | X_OK) == 0,
          "{} '{}' cannot be created: '{}' is not a writable folder", option, dir, p.string());
}

PendingOutput::PendingOutput(std::string path, bool directory)
    : path_(std::move(path)), temporary_(temporary_name(path_)), directory_(directory) {
  const auto why = unwritable(path_, directory_);
  require(why.empty(), "cannot write '{}': {}", path_, why);
  const fs::path parent = fs::path(path_).parent_path().empty() ? fs::path(".") : fs::path(path_).parent_path();
  remove_stale_temporaries(parent);
  slot_ = register_pending(temporary_, directory_);
  if (directory_) {
    std::error_code ec;
    fs::remove_all(temporary_, ec);
    fs::create_directory(temporary_, ec);
    if (ec) {
      unregister_pending(slot_);
      throw InputError(fmt::format("cannot create '{}': {}", temporary_, ec.message()));
    }
  }
}

PendingOutput::PendingOutput(PendingOutput&& o) noexcept
    : path_(std::move(o.path_)),
      temporary_(std::move(o.temporary_)),
      directory_(o.directory_),
      done_(o.done_),
      slot_(o.slot_) {
  o.done_ = true;
  o.slot_ = -1;
}

PendingOutput::~PendingOutput() {
  if (!done_) remove_path(temporary_.c_str(), directory_);
  unregister_pending(slot_);
}

void PendingOutput::commit() {
  std::error_code ec;
  if (directory_ && fs::is_directory(path_, ec) && fs::is_empty(path_, ec)) fs::remove(path_, ec);
  if (directory_ && fs::exists(path_, ec))
    throw InputError(fmt::format("cannot move the finished '{}' into place: '{}' exists and is not "
                                 "empty (remove it, or choose another output)",
                                 temporary_, path_));
  fs::rename(temporary_, path_, ec);
  require(!ec, "cannot move '{}' into place as '{}': {}", temporary_, path_, ec.message());
  done_ = true;
  unregister_pending(slot_);
  slot_ = -1;
}

void OutputSet::add(PendingOutput&& output) {
  outputs_.push_back(std::make_unique<PendingOutput>(std::move(output)));
}

void OutputSet::commit() {
  for (auto& o : outputs_) o->commit();
  outputs_.clear();
}

MadeFolders::MadeFolders(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> missing;
  for (fs::path p = fs::absolute(dir, ec); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (!fs::create_directory(*it, ec) && ec)
      throw InputError(fmt::format("cannot create the folder '{}': {}", it->string(), ec.message()));
    made_.push_back(it->string());
  }
  require(fs::is_directory(dir, ec), "'{}' is not a folder", dir);
}

MadeFolders::~MadeFolders() {
  std::error_code ec;
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) fs::remove(*it, ec);  // only if empty
}

void write_text_file(const std::string& path, const std::string& text, OutputSet* set) {
  PendingOutput out(path);
  {
    std::FILE* f = std::fopen(out.temporary().c_str(), "wb");
    require(f != nullptr, "cannot write '{}': {}", path, std::strerror(errno));
    const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int saved = errno;
    const bool closed = std::fclose(f) == 0;
    require(written && closed, "cannot write '{}': {}", path,
            std::strerror(written ? errno : saved));
  }
  if (set)
    set->add(std::move(out));
  else
    out.commit();
}

void remove_temporaries_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // A signal the caller chose to ignore (nohup, a background job's SIGINT) stays ignored.
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace taskfp
