// Output files that appear whole or not at all, and nothing left behind.
//
// Every output is written under a temporary name beside its final path,
// `<path>.tmp-<host>-<pid>`, and renamed into place only when it is complete (and, for commands
// with several outputs, only when all of them are). A failed run, SIGINT, SIGTERM or SIGHUP
// (Slurm's time limit sends SIGTERM) removes the temporaries of the run; a later run removes
// those of processes that died without cleaning up (kill -9, a crashed node), recognised by this
// host's name and a process id that no longer runs. The host name keeps a live writer on another
// node of a shared file system from losing its file.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace taskfp {

/// A file or folder being written under a temporary name; the destructor removes it unless it
/// was committed or handed to an OutputSet. Creating one first removes the stale temporaries of
/// dead processes in the same folder.
class PendingOutput {
 public:
  /// `path`: the final name. InputError when its folder is missing or not writable, or when a
  /// folder stands at `path` where a file is to be written.
  explicit PendingOutput(std::string path, bool directory = false);
  ~PendingOutput();
  PendingOutput(PendingOutput&&) noexcept;
  PendingOutput& operator=(PendingOutput&&) = delete;
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& temporary() const { return temporary_; }
  /// Renames the temporary into place (replacing an earlier file; a folder replaces only a
  /// missing or empty one). InputError naming the path when that fails.
  void commit();

 private:
  std::string path_, temporary_;
  bool directory_ = false, done_ = false;
  int slot_ = -1;  // in the registry the signal handler cleans
};

/// Outputs of one run, committed together once every one of them is complete: a failure
/// before that leaves none of them (and no temporary) behind.
class OutputSet {
 public:
  OutputSet() = default;
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;
  /// Takes over a complete temporary file.
  void add(PendingOutput&& output);
  /// Renames every output into place, in the order added.
  void commit();
  [[nodiscard]] std::size_t size() const { return outputs_.size(); }

 private:
  std::vector<std::unique_ptr<PendingOutput>> outputs_;
};

/// Creates a folder and its missing parents (as `mkdir -p`); unless keep() is called, the
/// destructor removes those it created where they stayed empty, so a failed run leaves no empty
/// folders behind. InputError naming the folder when it cannot be created.
class MadeFolders {
 public:
  explicit MadeFolders(const std::string& dir);
  ~MadeFolders();
  MadeFolders(const MadeFolders&) = delete;
  MadeFolders& operator=(const MadeFolders&) = delete;
  void keep() { made_.clear(); }

 private:
  std::vector<std::string> made_;  // outermost first
};

/// Writes `text` to `path` whole: into `set` (committed with the others) or, without a set, at
/// once. InputError naming the path when the disk is full or the folder not writable.
void write_text_file(const std::string& path, const std::string& text, OutputSet* set = nullptr);

/// Checks, before any work, that `path` can be written as an output file: its folder exists and
/// is writable, and `path` is not a folder. `option` names it in the message ("--output").
void require_writable_file(const std::string& path, const std::string& option);
/// Checks, before any work, that `dir` exists as a writable folder or can be created.
void require_writable_folder(const std::string& dir, const std::string& option);

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove every pending temporary, then
/// end the process by that signal. Called once at start by the CLI.
void remove_temporaries_on_signals();

/// `<path>.tmp-<host>-<pid>`: the name this process writes `path` under.
std::string temporary_name(const std::string& path);

}  // namespace taskfp
