// io/output_files: outputs appear whole or not at all, together, and nothing is left behind by
// errors, signals or dead processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/output_files.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The id of a process that has ended (and was reaped).
pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

TEST(OutputFiles, WrittenUnderATemporaryNameAndRenamedOnCommit) {
  test::TempDir dir;
  const auto path = dir.file("a.csv");
  {
    PendingOutput out(path);
    EXPECT_EQ(out.temporary(), temporary_name(path));
    std::ofstream(out.temporary()) << "x";
    EXPECT_FALSE(fs::exists(path));
    out.commit();
  }
  EXPECT_EQ(read_all(path), "x");
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"a.csv"});
}

TEST(OutputFiles, UncommittedOutputLeavesNothing) {
  test::TempDir dir;
  {
    PendingOutput out(dir.file("a.h5"));
    std::ofstream(out.temporary()) << "half";
  }
  EXPECT_TRUE(listing(dir.path()).empty());
}

TEST(OutputFiles, ASetCommitsAllOrNothing) {
  test::TempDir dir;
  {
    OutputSet set;
    write_text_file(dir.file("one.csv"), "1", &set);
    write_text_file(dir.file("two.csv"), "2", &set);
    EXPECT_TRUE(fs::exists(temporary_name(dir.file("one.csv"))));
    EXPECT_FALSE(fs::exists(dir.file("one.csv")));
    // The run fails before commit: the set goes out of scope.
  }
  EXPECT_TRUE(listing(dir.path()).empty());
  OutputSet set;
  write_text_file(dir.file("one.csv"), "1", &set);
  write_text_file(dir.file("two.csv"), "2", &set);
  set.commit();
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"one.csv", "two.csv"}));
  EXPECT_EQ(read_all(dir.file("two.csv")), "2");
}

TEST(OutputFiles, UnwritableDestinationsAreRefusedBeforeAnyWork) {
  test::TempDir dir;
  try {
    require_writable_file(dir.file("missing/x.h5"), "--output");
    FAIL() << "a missing folder was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--output"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  EXPECT_THROW(require_writable_file(dir.path().string(), "--output"), InputError);  // a folder
  EXPECT_NO_THROW(require_writable_file(dir.file("x.h5"), "--output"));
  EXPECT_NO_THROW(require_writable_folder(dir.file("new/deeper"), "--csv-dir"));
  std::ofstream(dir.file("plain")) << "x";
  EXPECT_THROW(require_writable_folder(dir.file("plain"), "--csv-dir"), InputError);
  EXPECT_THROW(PendingOutput(dir.file("missing/x.h5")), InputError);
  EXPECT_FALSE(fs::exists(dir.file("new")));  // checking creates nothing
}

TEST(OutputFiles, StaleTemporariesOfDeadProcessesOfThisHostAreRemoved) {
  test::TempDir dir;
  const std::string mine = temporary_name(dir.file("a.h5"));            // ".tmp-<host>-<pid>"
  const std::string host_and_pid = mine.substr(mine.rfind(".tmp-") + 5);  // "<host>-<pid>"
  const std::string host = host_and_pid.substr(0, host_and_pid.rfind('-'));
  const pid_t gone = dead_pid();
  const std::string stale = dir.file("b.h5.tmp-" + host + "-" + std::to_string(gone));
  const std::string stale_old_form = dir.file("c.csv.tmp-" + std::to_string(gone));
  const std::string stale_folder = dir.file("imgs.tmp-" + host + "-" + std::to_string(gone));
  const std::string live = dir.file("d.h5.tmp-" + host + "-" + std::to_string(getppid()));
  const std::string other_host = dir.file("e.h5.tmp-elsewhere.example-" + std::to_string(gone));
  for (const auto& f : {stale, stale_old_form, live, other_host}) std::ofstream(f) << "x";
  fs::create_directories(stale_folder + "/sub");
  std::ofstream(stale_folder + "/sub/x.png") << "x";
  PendingOutput out(dir.file("a.h5"));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(stale_old_form));
  EXPECT_FALSE(fs::exists(stale_folder));
  EXPECT_TRUE(fs::exists(live)) << "a running process's temporary was removed";
  EXPECT_TRUE(fs::exists(other_host)) << "another host's temporary was removed";
}

TEST(OutputFiles, TerminationSignalsRemoveTheTemporaries) {
  test::TempDir dir;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    const std::string file = dir.file("store.h5"), folder = dir.file("images");
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      signal(sig, SIG_DFL);
      remove_temporaries_on_signals();
      PendingOutput a(file), b(folder, true);
      std::ofstream(a.temporary()) << "half-written";
      std::ofstream(b.temporary() + "/0001.png") << "x";
      if (write(ready[1], "r", 1) != 1) _exit(3);
      pause();  // until the signal
      _exit(4);
    }
    close(ready[1]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    EXPECT_TRUE(fs::exists(temporary_name(file).substr(0, temporary_name(file).rfind('-')) + "-" +
                           std::to_string(child)));
    kill(child, sig);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << sig;
    EXPECT_EQ(WTERMSIG(status), sig);  // the process still ends by the signal (exit status 128 + n)
    EXPECT_TRUE(listing(dir.path()).empty()) << "signal " << sig << " left " << listing(dir.path()).size();
  }
}

}  // namespace
}  // namespace taskfp
