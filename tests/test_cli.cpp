// The taskfp binary: the whole pipeline through the CLI, exit codes, and error messages.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "h5py_stores.hpp"
#include "io/npy.hpp"
#include "store/distance_store.hpp"
#include "store/features_store.hpp"
#include "store/fingerprint_store.hpp"
#include "synth/synthetic.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

struct Result {
  int code;
  std::string output;
};

// `env`: what precedes the command in the shell: variable assignments ("NAME=value ..."), or
// commands such as "ulimit -f 100;".
Result taskfp_cli(const std::string& args, const std::string& env = "") {
  std::string cmd = env + " '" + TASKFP_CLI + "' " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  // A process killed by a signal shows up as 128 + the signal, as in a shell.
  return {WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status), out};
}

// A user error: status 2 and one line "taskfp: error: ..." that holds `words` (the file, task or
// option at fault), last; only warnings before it.
::testing::AssertionResult is_user_error(const Result& r, const std::string& words) {
  if (r.code != 2) return ::testing::AssertionFailure() << "status " << r.code << ": " << r.output;
  const auto at = r.output.find("taskfp: error: ");
  if (at == std::string::npos || (at > 0 && r.output[at - 1] != '\n') ||
      r.output.find('\n', at) + 1 != r.output.size())
    return ::testing::AssertionFailure() << "not one error line, last: " << r.output;
  std::size_t line = 0;
  while (line < at) {
    if (r.output.compare(line, 17, "taskfp: warning: ") != 0)
      return ::testing::AssertionFailure() << "more than warnings before the error: " << r.output;
    line = r.output.find('\n', line) + 1;
  }
  if (r.output.find(words, at) == std::string::npos)
    return ::testing::AssertionFailure() << "'" << words << "' not in: " << r.output;
  return ::testing::AssertionSuccess();
}

TEST(Cli, PipelineFromSyntheticFeaturesToCsv) {
  test::TempDir dir;
  auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("synth -q --families 3 --tasks-per-family 2 --samples 200 --dim 16 -o " + d + "/f.h5").code, 0);
  auto fp = taskfp_cli("fingerprint -q -f " + d + "/f.h5 -o " + d + "/fp.h5 --scaling-subset all --bins 10,100");
  ASSERT_EQ(fp.code, 0) << fp.output;
  auto dist = taskfp_cli("distance -q -f " + d + "/fp.h5 -m bkld-small -m KLD-PP:NS-100-BINS -m FID -o " + d +
                         "/d.h5 --csv-dir " + d + "/csv --targets fam0_task0,fam1_task1");
  ASSERT_EQ(dist.code, 0) << dist.output;
  auto m = read_distance_csv(d + "/csv/KLD-PP:NS-W:TS-100-BINS.csv");
  EXPECT_EQ(m.sources.size(), 6u);
  EXPECT_EQ(m.targets, (std::vector<std::string>{"fam0_task0", "fam1_task1"}));
  auto stored = read_distance_matrix(d + "/d.h5", "KLD-PP:NS-W:TS-100-BINS");
  EXPECT_EQ(stored.values.data, m.values.data);
  auto inspect = taskfp_cli("inspect " + d + "/fp.h5");
  EXPECT_EQ(inspect.code, 0);
  EXPECT_NE(inspect.output.find("fingerprints"), std::string::npos);
  EXPECT_NE(inspect.output.find("hist_100"), std::string::npos);
  // Reusing published ranges gives identical fingerprints.
  ASSERT_EQ(taskfp_cli("fingerprint -q -f " + d + "/f.h5 -o " + d + "/fp2.h5 --ranges " + d + "/fp.h5 --bins 10,100").code, 0);
  ASSERT_EQ(taskfp_cli("distance -q -f " + d + "/fp2.h5 -m bkld-small --csv-dir " + d + "/csv2 --targets fam0_task0,fam1_task1").code, 0);
  EXPECT_EQ(read_distance_csv(d + "/csv2/KLD-PP:NS-W:TS-100-BINS.csv").values.data, m.values.data);
}

// The same inputs give the same store files, byte for byte, at any time: HDF5 keeps no object
// timestamps in taskfp's stores (checksums of stores can be compared).
TEST(Cli, StoresAreTheSameBytesWhenMadeAgainLater) {
  test::TempDir dir;
  const auto d = dir.path().string();
  const auto bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (const std::string run : {"1", "2"}) {
    if (run == "2") std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // HDF5 times are in seconds
    ASSERT_EQ(taskfp_cli("synth -q --families 2 --tasks-per-family 2 --samples 100 --dim 8 -o " + d + "/f" + run + ".h5").code, 0);
    ASSERT_EQ(taskfp_cli("fingerprint -q -f " + d + "/f1.h5 -o " + d + "/fp" + run + ".h5 --scaling-subset all --bins 100").code, 0);
    ASSERT_EQ(taskfp_cli("distance -q -f " + d + "/fp1.h5 -m bkld-small -o " + d + "/d" + run + ".h5").code, 0);
  }
  for (const char* kind : {"/f", "/fp", "/d"}) {
    const auto a = bytes(d + kind + "1.h5"), b = bytes(d + kind + "2.h5");
    EXPECT_FALSE(a.empty()) << kind;
    EXPECT_TRUE(a == b) << kind << "1.h5 and " << kind << "2.h5 differ";
  }
}

TEST(Cli, UserErrorsExitNonZeroWithAMessageAndWriteNothing) {
  test::TempDir dir;
  auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("synth -q --families 2 --tasks-per-family 2 --samples 50 --dim 4 -o " + d + "/f.h5").code, 0);
  ASSERT_EQ(taskfp_cli("fingerprint -q -f " + d + "/f.h5 -o " + d + "/fp.h5 --scaling-subset all --bins 10").code, 0);
  struct Case {
    std::string args, words;
  };
  for (const auto& c : std::vector<Case>{
           {"fingerprint -f " + d + "/absent.h5 -o " + d + "/x.h5 --scaling-subset all", "does not exist"},
           {"fingerprint -f " + d + "/f.h5 -o " + d + "/x.h5", "--scaling-subset"},
           {"fingerprint -f " + d + "/f.h5 -o " + d + "/x.h5 --scaling-subset fam0_task0,ghost", "'ghost'"},
           {"fingerprint -f " + d + "/f.h5 -o " + d + "/x.h5 --scaling-subset all --bins 0", "--bins"},
           {"distance -f " + d + "/fp.h5 -m KLD-PP:QQ -o " + d + "/x.h5", "malformed metric spec"},
           {"distance -f " + d + "/fp.h5 -m bkld-large -o " + d + "/x.h5", "1000-bin"},
           {"distance -f " + d + "/fp.h5 -m FID -o " + d + "/x.h5 --sources nope", "'nope'"},
           {"distance -f " + d + "/f.h5 -m bkld-small -o " + d + "/x.h5", "features store, expected a fingerprints"},
           {"distance -f " + d + "/fp.h5 -m SEMANTIC -o " + d + "/x.h5", "--task-info"},
       }) {
    auto r = taskfp_cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.words), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(d + "/x.h5"));
  // Features of another backbone cannot be fingerprinted together, nor binned with these ranges.
  {
    FeatureSet other = synthetic_features({1, 2, 50, 4, 9, 1.0, 0.15});
    other.provenance.backbone = "dino";
    for (auto& t : other.tasks) t.name = "other_" + t.name;
    write_features_store(d + "/other.h5", other);
  }
  auto mixed = taskfp_cli("fingerprint -f " + d + "/f.h5 -f " + d + "/other.h5 -o " + d + "/x.h5 --scaling-subset all");
  EXPECT_EQ(mixed.code, 2) << mixed.output;
  EXPECT_NE(mixed.output.find("must not be compared"), std::string::npos) << mixed.output;
  auto reuse = taskfp_cli("fingerprint -f " + d + "/other.h5 -o " + d + "/x.h5 --ranges " + d + "/fp.h5");
  EXPECT_EQ(reuse.code, 2) << reuse.output;
  EXPECT_NE(reuse.output.find("backbone"), std::string::npos) << reuse.output;
  EXPECT_FALSE(std::filesystem::exists(d + "/x.h5"));
  EXPECT_NE(taskfp_cli("frobnicate").code, 0);
  auto help = taskfp_cli("distance --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("bkld-small"), std::string::npos);
}

std::vector<std::string> folder_listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Cli, EveryUserErrorExitsTwoWithOneLineNamingTheCulprit) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("synth -q --families 2 --tasks-per-family 2 --samples 50 --dim 4 -o " + d + "/f.h5").code, 0);
  struct Case {
    std::string args, words;
  };
  for (const auto& c : std::vector<Case>{
           // Usage (CLI11 has its own exit codes, 104-114; ours is 2).
           {"distance --bogus", "--bogus"},
           {"fingerprint -f " + d + "/f.h5", "--output"},
           {"synth --samples many -o " + d + "/x.h5", "--samples"},
           {"frobnicate", "frobnicate"},
           // Output paths, refused before any work.
           {"synth -o " + d + "/missing/x.h5", "missing"},
           {"synth -o " + d, "is a folder"},
           {"fingerprint -f " + d + "/f.h5 -o " + d + "/missing/fp.h5 --scaling-subset all", "missing"},
           {"distance -f " + d + "/f.h5 -m bkld-small --csv-dir " + d + "/f.h5", "--csv-dir"},
           {"evaluate -c " + d + " -o " + d + "/f.h5", "--output"},
       }) {
    EXPECT_TRUE(is_user_error(taskfp_cli(c.args), c.words)) << c.args;
  }
  EXPECT_EQ(folder_listing(d), std::vector<std::string>{"f.h5"});
  EXPECT_EQ(taskfp_cli("--version").code, 0);
  EXPECT_EQ(taskfp_cli("fingerprint --help").code, 0);
}

TEST(Cli, DistanceWritesAllItsOutputsOrNone) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("synth -q --families 2 --tasks-per-family 2 --samples 60 --dim 4 -o " + d + "/f.h5").code, 0);
  ASSERT_EQ(taskfp_cli("fingerprint -q -f " + d + "/f.h5 -o " + d + "/fp.h5 --scaling-subset all --bins 10 "
                       "--no-covariance").code, 0);
  // An unwritable store after the CSVs: refused before anything is computed or written.
  auto r = taskfp_cli("distance -f " + d + "/fp.h5 -m KLD-PP:NS-10-BINS -o " + d + "/no/dir/x.h5 --csv-dir " + d + "/csv");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(std::filesystem::exists(d + "/csv"));
  // The second metric fails (FID needs covariances): not even the first one's CSV is left.
  r = taskfp_cli("distance -f " + d + "/fp.h5 -m KLD-PP:NS-10-BINS -m FID -o " + d + "/x.h5 --csv-dir " + d + "/csv");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("covariance"), std::string::npos) << r.output;
  EXPECT_EQ(folder_listing(d), (std::vector<std::string>{"f.h5", "fp.h5"}));
  // Both succeed: every output is there.
  r = taskfp_cli("distance -q -f " + d + "/fp.h5 -m KLD-PP:NS-10-BINS -m JS-PP:NN-10-BINS -o " + d +
                        "/x.h5 --csv-dir " + d + "/csv");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(folder_listing(d + "/csv"), (std::vector<std::string>{"JS-PP:NN-10-BINS.csv", "KLD-PP:NS-10-BINS.csv"}));
  EXPECT_TRUE(std::filesystem::exists(d + "/x.h5"));
}

TEST(Cli, AFullDiskIsAnErrorNamingTheOutputAndLeavesNothing) {
  // A file size limit (SIGXFSZ ignored) makes writes fail as on a full disk: ENOSPC and EFBIG
  // take the same paths. Before, HDF5's exit handler crashed afterwards (status 139).
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("synth -q --families 2 --tasks-per-family 3 --samples 400 --dim 64 -o " + d + "/f.h5").code, 0);
  const std::string full = "trap '' XFSZ; ulimit -f 100;";
  for (const auto& [args, output] : std::vector<std::pair<std::string, std::string>>{
           {"fingerprint -f " + d + "/f.h5 -o " + d + "/fp.h5 --scaling-subset all", d + "/fp.h5"},
           {"synth --samples 2000 --dim 64 -o " + d + "/s.h5", d + "/s.h5"},
       }) {
    const auto r = taskfp_cli("-q " + args, full);
    EXPECT_TRUE(is_user_error(r, output)) << args;
    EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
  }
  EXPECT_EQ(folder_listing(d), std::vector<std::string>{"f.h5"});
}

TEST(Cli, EvaluateWritesTablesReportAndFigures) {
  TASKFP_REQUIRE_PAPER_CACHE();
  test::TempDir dir;
  auto d = dir.path().string();
  auto r = taskfp_cli("evaluate -q -c '" + test::paper_cache() + "' -o " + d +
                      "/ev --split development -d SEMANTIC -d bkld-small --bootstrap 50");
  ASSERT_EQ(r.code, 0) << r.output;
  for (auto f : {"scores.csv", "summary_regret.csv", "summary_rank_std.csv", "win_rates.csv", "stability.csv",
                 "rank_distribution.csv", "bootstrap_ranks.csv", "report.md", "ranking.svg", "heatmap.svg"})
    EXPECT_TRUE(std::filesystem::exists(d + "/ev/" + f)) << f;
  // summary_regret.csv: rows = distances, the published reversed regret in column 1.
  std::ifstream in(d + "/ev/summary_regret.csv");
  std::string header, semantic;
  std::getline(in, header);
  std::getline(in, semantic);
  EXPECT_EQ(header, "distance,Model Architecture,Pretraining Data,Augmentation Policy,Co-Training Data,all");
  EXPECT_EQ(semantic.rfind("SEMANTIC,0.27924", 0), 0u) << semantic;
  auto bad = taskfp_cli("evaluate -c " + d + " -o " + d + "/x");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("exp/"), std::string::npos) << bad.output;
  auto bad2 = taskfp_cli("evaluate -c '" + test::paper_cache() + "' -o " + d + "/x --scenarios arch,nope");
  EXPECT_EQ(bad2.code, 2);
  EXPECT_NE(bad2.output.find("unknown scenario 'nope'"), std::string::npos) << bad2.output;
}

}  // namespace
}  // namespace taskfp

namespace taskfp {
namespace {

// Images -> features -> fingerprints: the extraction pipeline on procedural images with random
// weights (small images and few samples, to stay quick on 2 cores), bad images, --skip-bad.
TEST(Cli, ExtractFromImagesThenFingerprint) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("-q synth-images -o " + d + "/img --families 2 --tasks-per-family 2 --classes 2 "
                       "--images-per-class 3").code, 0);
  const std::string extract = "-q extract -t " + d + "/img/taskset.yaml --random-weights --size 32 --batch 4 ";
  const auto r = taskfp_cli(extract + "-n 6 -o " + d + "/f.h5");
  if (r.output.find("without LibTorch") != std::string::npos) GTEST_SKIP() << "built without LibTorch";
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("NOT PRETRAINED"), std::string::npos) << r.output;  // said loudly
  const auto set = read_features_store(d + "/f.h5");
  ASSERT_EQ(set.tasks.size(), 4u);
  for (const auto& t : set.tasks) {
    EXPECT_EQ(t.values.rows, 6u);
    EXPECT_EQ(t.values.cols, 512u);
  }
  EXPECT_EQ(set.provenance.backbone, "resnet34");
  EXPECT_NE(set.provenance.weights.find("NOT PRETRAINED"), std::string::npos);
  EXPECT_NE(set.provenance.preprocessing.find("32x32"), std::string::npos);
  // The same run again: the same features, bit for bit.
  ASSERT_EQ(taskfp_cli(extract + "-n 6 -o " + d + "/g.h5").code, 0);
  const auto again = read_features_store(d + "/g.h5");
  for (std::size_t k = 0; k < set.tasks.size(); ++k) EXPECT_EQ(again.tasks[k].values.data, set.tasks[k].values.data);
  EXPECT_EQ(taskfp_cli("-q fingerprint -f " + d + "/f.h5 -o " + d + "/fp.h5 --scaling-subset all --bins 10").code, 0);
  // Other normalisation constants: recorded, and other features.
  ASSERT_EQ(taskfp_cli(extract + "-n 6 --mean 0.5,0.5,0.5 --std 0.25,0.25,0.25 -o " + d + "/norm.h5").code, 0);
  const auto norm = read_features_store(d + "/norm.h5");
  EXPECT_NE(norm.provenance.preprocessing.find("mean (0.5, 0.5, 0.5) std (0.25, 0.25, 0.25)"), std::string::npos)
      << norm.provenance.preprocessing;
  EXPECT_NE(norm.tasks[0].values.data, set.tasks[0].values.data);
  EXPECT_NE(taskfp_cli(extract + "-n 6 --std 0,1,1 -o " + d + "/bad.h5").code, 0);

  // A corrupt image: an error naming it, nothing written; with --skip-bad, recorded.
  const std::string bad = d + "/img/imgfam0_task0/train/class0/0000.png";
  std::ofstream(bad, std::ios::binary | std::ios::trunc) << "\x89PNG\r\n\x1a\n broken";
  const auto stop = taskfp_cli(extract + "-n 12 --tasks imgfam0_task0 -o " + d + "/h.h5");
  EXPECT_NE(stop.code, 0);
  EXPECT_NE(stop.output.find("0000.png"), std::string::npos) << stop.output;
  EXPECT_NE(stop.output.find("--skip-bad"), std::string::npos) << stop.output;
  EXPECT_FALSE(std::filesystem::exists(d + "/h.h5"));
  EXPECT_FALSE(std::filesystem::exists(d + "/h.h5.parts"));  // no chunk finished: nothing left behind
  const auto skip = taskfp_cli(extract + "-n 12 --tasks imgfam0_task0 --skip-bad -o " + d + "/h.h5");
  ASSERT_EQ(skip.code, 0) << skip.output;
  EXPECT_NE(skip.output.find("unreadable images were skipped"), std::string::npos) << skip.output;
  const auto skipped = read_features_store(d + "/h.h5");
  EXPECT_LT(skipped.tasks.at(0).values.rows, 12u);  // 12 draws from 6 images: the bad one drawn
  EXPECT_NE(skipped.provenance.origin.find("0000.png"), std::string::npos) << skipped.provenance.origin;
  // A run that fails after finishing chunks of other tasks keeps them and says so; a rerun with
  // other options names the option that differs.
  const auto two = extract + "-n 4 --chunk 4 --tasks imgfam1_task0,imgfam0_task0 -o " + d + "/k.h5";
  const auto kept = taskfp_cli(two);
  EXPECT_TRUE(is_user_error(kept, "k.h5.parts")) << kept.output;
  EXPECT_NE(kept.output.find("0000.png"), std::string::npos) << kept.output;
  EXPECT_NE(kept.output.find("a rerun with the same options resumes"), std::string::npos) << kept.output;
  const auto other = taskfp_cli(two + " --skip-bad");
  EXPECT_TRUE(is_user_error(other, "skip_bad=0 there, 1 now")) << other.output;
  // LibTorch is loaded only by the commands that run a backbone (a plugin), and a missing plugin
  // is a clear error that writes nothing.
  EXPECT_EQ(taskfp_cli("--version", "LD_DEBUG=libs").output.find("libtorch_cpu"), std::string::npos);
  EXPECT_NE(taskfp_cli(extract + "-n 4 -o " + d + "/lib.h5", "LD_DEBUG=libs").output.find("libtorch_cpu"),
            std::string::npos);
  const auto noplugin = taskfp_cli(extract + "-n 4 -o " + d + "/np.h5", "TASKFP_TORCH_PLUGIN=" + d + "/none.so");
  EXPECT_NE(noplugin.code, 0);
  EXPECT_NE(noplugin.output.find("cannot load the LibTorch plugin"), std::string::npos) << noplugin.output;
  EXPECT_FALSE(std::filesystem::exists(d + "/np.h5"));
  EXPECT_FALSE(std::filesystem::exists(d + "/np.h5.parts"));
  // Weights must be chosen explicitly.
  const auto none = taskfp_cli("-q extract -t " + d + "/img/taskset.yaml -o " + d + "/x.h5");
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.output.find("--random-weights"), std::string::npos) << none.output;
}

}  // namespace
}  // namespace taskfp

namespace taskfp {
namespace {


// An .npy header claiming 2^62 x 4 values (the count wraps to 0 in 64 bits): refused, naming the
// file, and no store is written.
TEST(Cli, ImportRefusesNpyHeadersLargerThanTheirFile) {
  test::TempDir dir;
  const auto d = dir.path().string();
  std::filesystem::create_directories(d + "/npy/task a");
  {
    std::string dict =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
    dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
    dict.push_back('\n');
    std::ofstream out(d + "/npy/task a/features_0001.npy", std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const char len[2] = {static_cast<char>(dict.size() & 0xff),
                         static_cast<char>(dict.size() >> 8)};
    out.write(len, 2);
    out << dict << std::string(16, '\0');
  }
  EXPECT_TRUE(is_user_error(taskfp_cli("import -q '" + d + "/npy' -o " + d + "/f.h5"),
                            "features_0001.npy"));
  EXPECT_FALSE(std::filesystem::exists(d + "/f.h5"));
}

// numpy's other dtypes are imported as float32, and the store's provenance says which they were.
TEST(Cli, ImportConvertsNumpyDtypesAndRecordsThem) {
  test::TempDir dir;
  const auto d = dir.path().string();
  const std::string fixtures = std::string(TASKFP_FIXTURES) + "/io_formats/npy/";
  for (const auto& [task, file] : {std::pair{"half", "f2-be-C.npy"}, {"double", "f8-be-F.npy"}}) {
    std::filesystem::create_directories(d + "/npy/" + task);
    std::filesystem::copy_file(fixtures + file, d + "/npy/" + task + "/features_0001.npy");
  }
  const auto r = taskfp_cli("import -q '" + d + "/npy' -o " + d + "/f.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto inspect = taskfp_cli("inspect " + d + "/f.h5");
  EXPECT_NE(inspect.output.find("npy dtypes '>f2' (half), '>f8' (double)"), std::string::npos)
      << inspect.output;
  const auto set = read_features_store(d + "/f.h5");
  EXPECT_EQ(set.at("half").values.data, read_npy_matrix(fixtures + "f2-be-C.npy").data);
  // A dtype without a float32 value: status 2, naming the file and the dtype.
  std::filesystem::create_directories(d + "/npy/flags");
  std::filesystem::copy_file(fixtures + "bool.npy", d + "/npy/flags/features_0001.npy");
  EXPECT_TRUE(is_user_error(taskfp_cli("import -q '" + d + "/npy' -o " + d + "/g.h5"),
                            "flags/features_0001.npy' holds dtype '|b1'"));
}

// A bad value in a CSV is refused with the file, line and column, the same in every command that
// reads that kind of file.
TEST(Cli, BadCsvValuesNameFileLineAndColumnInEveryCommand) {
  test::TempDir dir;
  const auto d = dir.path().string();
  std::filesystem::create_directories(d + "/cache/exp");  // the outcomes are read after these
  std::ofstream(d + "/info.csv", std::ios::binary)
      << "\xef\xbb\xbf,name,num_classes,num_samples,keywords\r\n0,a,2,10,\"['x', 'y']\"\r\n"
         "1,\"b,\nc\",3,NA,\"['x']\"\r\n";
  std::ofstream(d + "/m.csv", std::ios::binary) << ",a,b\r\na,0,1\r\nb,N/A,0\r\n";
  std::ofstream(d + "/good.csv", std::ios::binary) << ",a,b\na,0,1\nb,1,0\n";
  const std::string info_error =
      "'" + d + "/info.csv' line 3, column 4 ('num_samples'): 'NA' is a missing value";
  EXPECT_TRUE(is_user_error(
      taskfp_cli("distance -q -m SEMANTIC --task-info " + d + "/info.csv -o " + d + "/d.h5"),
      info_error));
  EXPECT_TRUE(is_user_error(taskfp_cli("evaluate -q -c " + d + "/cache -o " + d + "/ev -d " + d +
                                       "/good.csv --task-info " + d + "/info.csv"),
                            info_error));
  const std::string matrix_error =
      "'" + d + "/m.csv' line 3, column 2 ('a'): 'N/A' is not a number";
  EXPECT_TRUE(is_user_error(taskfp_cli("inspect " + d + "/m.csv"), matrix_error));
  EXPECT_TRUE(
      is_user_error(taskfp_cli("evaluate -q -c " + d + "/cache -o " + d + "/ev -d " + d + "/m.csv"),
                    matrix_error));
  EXPECT_FALSE(std::filesystem::exists(d + "/d.h5"));
  EXPECT_FALSE(std::filesystem::exists(d + "/ev"));
}

// Metric parameters outside their domain stop `distance` before any work (MMD-cauchy-0 wrote an
// all-NaN matrix), in one line naming the spec.
TEST(Cli, DistanceRefusesMetricParametersOutsideTheirDomain) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("synth -q --families 2 --tasks-per-family 1 --samples 20 --dim 4 -o " + d +
                       "/f.h5")
                .code,
            0);
  ASSERT_EQ(taskfp_cli("fingerprint -q -f " + d + "/f.h5 -o " + d +
                       "/fp.h5 --scaling-subset all --bins 10")
                .code,
            0);
  for (const std::string spec : {"MMD-cauchy-0", "MMD-gaussian-nan", "KLD-PP:NU-A:1"}) {
    EXPECT_TRUE(is_user_error(taskfp_cli("distance -q -f " + d + "/fp.h5 --features " + d +
                                         "/f.h5 -m " + spec + " -o " + d + "/d.h5"),
                              "'" + spec + "'"));
    EXPECT_FALSE(std::filesystem::exists(d + "/d.h5")) << spec;
  }
}

// Synthetic data options outside their domain: one line naming the option, nothing written (a
// NaN spread wrote all-zero features).
TEST(Cli, SynthRefusesOptionsOutsideTheirDomain) {
  test::TempDir dir;
  const auto d = dir.path().string();
  for (const std::string opt :
       {"--family-spread nan", "--family-spread inf", "--task-spread -1", "--samples 1", "--dim 0",
        "--families 0", "--tasks-per-family -2"}) {
    const std::string name = opt.substr(0, opt.find(' '));
    std::string args = opt;
    for (const std::string base : {"--families 2", "--samples 20", "--dim 4"})
      if (base.rfind(name + ' ', 0) != 0) args += ' ' + base;
    EXPECT_TRUE(is_user_error(taskfp_cli("synth -q " + args + " -o " + d + "/f.h5"), name));
    EXPECT_FALSE(std::filesystem::exists(d + "/f.h5")) << opt;
  }
  for (const std::string opt :
       {"--classes 0", "--images-per-class -1", "--min-size 4", "--families 0"}) {
    EXPECT_TRUE(is_user_error(taskfp_cli("synth-images -q " + opt + " -o " + d + "/img"),
                              opt.substr(0, opt.find(' '))));
    EXPECT_FALSE(std::filesystem::exists(d + "/img")) << opt;
  }
}

// A task set with a wrong YAML type or a task name that cannot be stored stops `extract` before
// any work, in one line naming the task set (a bad count was an internal error; a name with '/'
// was refused only after extraction ran).
TEST(Cli, ExtractRefusesBadTaskSetsBeforeAnyWork) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("-q synth-images -o " + d +
                       "/img --families 1 --tasks-per-family 1 --classes 1 "
                       "--images-per-class 2")
                .code,
            0);
  for (const std::string task :
       {"name: a\n    root: imgfam0_task0\n    shrink: [abc]",
        "name: a\n    root: imgfam0_task0\n    shrink: 5", "name: a/b\n    root: imgfam0_task0",
        "name: '..'\n    root: imgfam0_task0"}) {
    std::ofstream(d + "/img/bad.yaml") << "tasks:\n  - " << task << "\n";
    EXPECT_TRUE(
        is_user_error(taskfp_cli("-q extract -t " + d +
                                 "/img/bad.yaml --random-weights --size 32 -n 2 -o " + d + "/f.h5"),
                      "bad.yaml"))
        << task;
    EXPECT_FALSE(std::filesystem::exists(d + "/f.h5")) << task;
    EXPECT_FALSE(std::filesystem::exists(d + "/f.h5.parts")) << task;
  }
}

// A decompression bomb (a JPEG of about 1.5 KB whose header claims 40000 x 40000 pixels, 9.6 GB
// decoded) is refused from its header, naming the file and --max-image-pixels; with --skip-bad it
// is skipped like any unreadable image.
TEST(Cli, ExtractRefusesImagesBeyondThePixelLimit) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("-q synth-images -o " + d +
                       "/img --families 1 --tasks-per-family 1 --classes 2 "
                       "--images-per-class 1 --jpeg-only")
                .code,
            0);
  const std::string bomb = d + "/img/imgfam0_task0/train/class1/0000.jpg";
  {
    std::ifstream in(bomb, std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(in), {});
    // The frame header: FF C0, length, precision, height, width.
    const auto sof = bytes.find("\xff\xc0");
    ASSERT_NE(sof, std::string::npos);
    for (std::size_t at : {sof + 5, sof + 7}) {
      bytes[at] = static_cast<char>(40000 >> 8);
      bytes[at + 1] = static_cast<char>(40000 & 0xff);
    }
    ASSERT_LT(bytes.size(), 4000u);
    std::ofstream(bomb, std::ios::binary | std::ios::trunc) << bytes;
  }
  // 2 draws from 2 images: both drawn.
  const std::string extract =
      "-q extract -t " + d + "/img/taskset.yaml --random-weights --size 32 --batch 2 -n 2 ";
  const auto stop = taskfp_cli(extract + "-o " + d + "/f.h5");
  if (stop.output.find("without LibTorch") != std::string::npos)
    GTEST_SKIP() << "built without LibTorch";
  EXPECT_TRUE(is_user_error(stop, bomb));
  EXPECT_NE(stop.output.find("40000 x 40000"), std::string::npos) << stop.output;
  EXPECT_NE(stop.output.find("--max-image-pixels"), std::string::npos) << stop.output;
  EXPECT_FALSE(std::filesystem::exists(d + "/f.h5"));
  const auto skip = taskfp_cli(extract + "--skip-bad -o " + d + "/f.h5");
  ASSERT_EQ(skip.code, 0) << skip.output;
  EXPECT_NE(skip.output.find(bomb), std::string::npos) << skip.output;
  EXPECT_EQ(read_features_store(d + "/f.h5", {std::nullopt, 1}).tasks.at(0).values.rows, 1u);
  EXPECT_TRUE(is_user_error(taskfp_cli(extract + "--max-image-pixels 0 -o " + d + "/g.h5"),
                            "--max-image-pixels"));
  // A limit below the genuine image's pixels refuses it too.
  EXPECT_TRUE(
      is_user_error(taskfp_cli(extract + "--max-image-pixels 100 -o " + d + "/g.h5"), "0000.jpg"));
}

// What the class folders hold besides images is reported once per task (not once per chunk or
// file) and recorded in the provenance; a damaged JPEG that libjpeg decodes (a truncated scan) is
// used, said in one line, and named with -v; -q prints nothing; libjpeg itself prints nothing.
TEST(Cli, ExtractReportsIgnoredFilesOncePerTaskAndDamagedImagesWithVerbose) {
  test::TempDir dir;
  const auto d = dir.path().string();
  ASSERT_EQ(taskfp_cli("-q synth-images -o " + d +
                       "/img --families 1 --tasks-per-family 2 --classes 2 "
                       "--images-per-class 2 --jpeg-only")
                .code,
            0);
  const std::string a = d + "/img/imgfam0_task0/train", b = d + "/img/imgfam0_task1/train";
  std::filesystem::create_directories(a + "/.ipynb_checkpoints");
  std::ofstream(a + "/.ipynb_checkpoints/0000-checkpoint.jpg") << "x";
  std::ofstream(a + "/class0/.DS_Store") << "x";
  std::ofstream(a + "/class1/notes.txt") << "x";
  const std::string damaged = b + "/class1/0001.jpg";
  {
    std::ifstream in(damaged, std::ios::binary);
    const std::string bytes(std::istreambuf_iterator<char>(in), {});
    std::ofstream(damaged, std::ios::binary | std::ios::trunc)
        << bytes.substr(0, bytes.size() * 2 / 3);
  }
  // 4 draws of each task's 4 images in chunks of 2: two chunks per task.
  const std::string extract =
      "extract -t " + d + "/img/taskset.yaml --random-weights --size 32 --batch 2 --chunk 2 -n 4 ";
  const auto r = taskfp_cli(extract + "-o " + d + "/f.h5");
  if (r.output.find("without LibTorch") != std::string::npos)
    GTEST_SKIP() << "built without LibTorch";
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string line =
      "task 'imgfam0_task0': ignored 3 files or folders (1 of unknown extension, 2 hidden)";
  const auto at = r.output.find(line);
  EXPECT_NE(at, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(line, at + 1), std::string::npos) << r.output;  // once
  EXPECT_EQ(r.output.find("task 'imgfam0_task1': ignored"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 image was decoded with warnings"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Premature end"), std::string::npos) << r.output;  // named with -v only
  const auto set = read_features_store(d + "/f.h5");
  EXPECT_EQ(set.tasks.at(1).values.rows, 4u);  // the damaged image is used
  const auto& origin = set.provenance.origin;
  const auto in_origin = origin.find(line);
  EXPECT_NE(in_origin, std::string::npos) << origin;
  EXPECT_EQ(origin.find(line, in_origin + 1), std::string::npos) << origin;
  const auto verbose = taskfp_cli("-v " + extract + "-o " + d + "/g.h5");
  ASSERT_EQ(verbose.code, 0) << verbose.output;
  EXPECT_NE(verbose.output.find("note: '" + damaged + "': libjpeg: Premature end of JPEG file"),
            std::string::npos)
      << verbose.output;
  const auto quiet = taskfp_cli("-q " + extract + "-o " + d + "/h.h5");
  ASSERT_EQ(quiet.code, 0) << quiet.output;
  EXPECT_EQ(quiet.output.find("ignored"), std::string::npos) << quiet.output;
  EXPECT_EQ(quiet.output.find("Premature"), std::string::npos) << quiet.output;
}

// An empty plan.txt (merge crashed) and extract -n 0 (which made such a plan) are user errors in
// one line naming the plan or the option.
TEST(Cli, MergeAndExtractRefuseEmptyPlans) {
  test::TempDir dir;
  const auto d = dir.path().string();
  std::filesystem::create_directories(d + "/f.h5.parts");
  std::ofstream(d + "/f.h5.parts/plan.txt");
  EXPECT_TRUE(
      is_user_error(taskfp_cli("merge " + d + "/f.h5.parts -o " + d + "/f.h5"), "plan.txt"));
  EXPECT_FALSE(std::filesystem::exists(d + "/f.h5"));
  ASSERT_EQ(taskfp_cli("-q synth-images -o " + d +
                       "/img --families 1 --tasks-per-family 1 --classes 1 "
                       "--images-per-class 2")
                .code,
            0);
  EXPECT_TRUE(is_user_error(
      taskfp_cli("-q extract -t " + d + "/img/taskset.yaml --random-weights --size 32 -n 0 -o " +
                 d + "/g.h5"),
      "-n"));
  EXPECT_FALSE(std::filesystem::exists(d + "/g.h5"));
  EXPECT_FALSE(std::filesystem::exists(d + "/g.h5.parts"));
  for (const std::string opt : {"--batch 0", "--batch -4", "--chunk 0"})
    EXPECT_TRUE(
        is_user_error(taskfp_cli("-q extract -t " + d + "/img/taskset.yaml --random-weights -n 2 " +
                                 opt + " -o " + d + "/g.h5"),
                      opt.substr(0, opt.find(' '))));
}

// What `inspect` says of a store's contents, past its attributes, line by line in name order
// (h5py tracks no creation order; taskfp lists tasks and matrices in the order it wrote them).
std::vector<std::string> contents(const std::string& inspect_output) {
  auto at = inspect_output.find(" tasks:\n");
  at = at == std::string::npos ? inspect_output.find("\n  matrix ") + 1
                               : inspect_output.rfind('\n', at) + 1;
  std::vector<std::string> lines;
  std::istringstream in(inspect_output.substr(at));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

TEST(Cli, StoresWrittenByH5pyGiveWhatTaskfpsOwnStoresOfTheSameValuesGive) {
  test::TempDir dir;
  test::H5pyStores h5py;
  std::string why;
  if (!test::make_h5py_stores(dir, h5py, why)) GTEST_SKIP() << why;
  const auto d = dir.path().string();
  // taskfp's own stores of the values h5py wrote, and what the commands make of them. Tasks in
  // the order HDF5 lists the groups h5py made (by name: h5py tracks no creation order), so that
  // matrices come out in the same orientation.
  const auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(h5py.features.tasks.begin(), h5py.features.tasks.end(), by_name);
  std::sort(h5py.fingerprints.tasks.begin(), h5py.fingerprints.tasks.end(), by_name);
  write_features_store(d + "/own-features.h5", h5py.features);
  write_fingerprint_store(d + "/own-fingerprints.h5", h5py.fingerprints);
  write_distance_store(d + "/own-distances.h5", h5py.matrices, h5py.fingerprints.provenance);
  const std::string metrics = " -m bkld-small -m KLD-PP:NN-10-BINS -m JS-PP:NN-100-BINS -m FID";
  auto r = taskfp_cli("fingerprint -q -f " + d + "/own-features.h5 -o " + d +
                      "/own-fp.h5 --bins 10,100 "
                      "--scaling-subset all");
  ASSERT_EQ(r.code, 0) << r.output;
  r = taskfp_cli("distance -q -f " + d + "/own-fingerprints.h5" + metrics + " --csv-dir " + d +
                 "/own-csv");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto own_fp = read_fingerprint_store(d + "/own-fp.h5");
  std::map<std::string, std::vector<std::string>> own_contents;
  for (const std::string kind : {"features", "fingerprints", "distances"}) {
    r = taskfp_cli("inspect --top 2 " + d + "/own-" + kind + ".h5");
    ASSERT_EQ(r.code, 0) << r.output;
    own_contents[kind] = contents(r.output);
  }
  for (const auto& variant : test::kH5pyVariants) {
    SCOPED_TRACE(variant);
    // Fingerprints of h5py's features equal those of taskfp's store of the same features.
    r = taskfp_cli("fingerprint -q -f " + h5py.store("features", variant) + " -o " + d + "/fp-" +
                   variant + ".h5 --bins 10,100 --scaling-subset all");
    ASSERT_EQ(r.code, 0) << r.output;
    const auto fp = read_fingerprint_store(d + "/fp-" + variant + ".h5");
    EXPECT_EQ(fp.ranges.lo, own_fp.ranges.lo);
    EXPECT_EQ(fp.ranges.hi, own_fp.ranges.hi);
    for (const auto& want : own_fp.tasks) {
      const auto& got = fp.at(want.name);
      EXPECT_EQ(got.mean, want.mean) << want.name;
      EXPECT_EQ(got.covariance.data, want.covariance.data) << want.name;
      for (const auto& [b, h] : want.histograms)
        EXPECT_EQ(got.histograms.at(b).data, h.data) << want.name;
    }
    // Distances from h5py's fingerprints: the same CSVs, byte for byte.
    const std::string csv = d + "/csv-" + variant;
    r = taskfp_cli("distance -q -f " + h5py.store("fingerprints", variant) + metrics +
                   " --csv-dir " + csv);
    ASSERT_EQ(r.code, 0) << r.output;
    for (const auto& name : folder_listing(d + "/own-csv")) {
      std::ifstream a(d + "/own-csv/" + name), b(csv + "/" + name);
      EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}),
                std::string(std::istreambuf_iterator<char>(b), {}))
          << name;
    }
    EXPECT_EQ(folder_listing(csv), folder_listing(d + "/own-csv"));
    // inspect describes each store as it describes taskfp's own.
    for (const std::string kind : {"features", "fingerprints", "distances"}) {
      r = taskfp_cli("inspect --top 2 " + h5py.store(kind, variant));
      ASSERT_EQ(r.code, 0) << r.output;
      EXPECT_EQ(contents(r.output), own_contents[kind]) << kind << "\n" << r.output;
      EXPECT_NE(r.output.find("weights            torchvision ImageNet1K_V1\n"), std::string::npos)
          << r.output;
    }
  }
  // A store whose values the method cannot use is refused by inspect as by distance.
  const auto bad = d + "/bad.h5";
  std::filesystem::copy_file(h5py.store("fingerprints", "gzip"), bad);
  {
    const hid_t f = H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t ds = H5Dopen2(f, "tasks/liver_ct/hist_10", H5P_DEFAULT);
    const std::vector<double> twice(4 * 10, 0.2);  // rows summing to 2
    EXPECT_GE(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, twice.data()), 0);
    H5Dclose(ds);
    H5Fclose(f);
  }
  for (const auto& args :
       {"inspect " + bad, "distance -f " + bad + " -m KLD-PP:NN-10-BINS --csv-dir " + d + "/x"})
    EXPECT_TRUE(
        is_user_error(taskfp_cli(args), "task 'liver_ct' has a histogram row summing to 1.99"))
        << args;
}

TEST(Cli, AFilterThisHdf5LacksIsNamedByEveryCommand) {
  test::TempDir dir;
  test::H5pyStores h5py;
  std::string why;
  if (!test::make_h5py_stores(dir, h5py, why)) GTEST_SKIP() << why;
  const auto d = dir.path().string();
  std::filesystem::create_directory(d + "/no-plugins");
  // HDF5 looks for plugins in HDF5_PLUGIN_PATH instead of its default folder.
  const std::string env = "HDF5_PLUGIN_PATH='" + d + "/no-plugins'";
  const auto features = h5py.store("features", "lzf"),
             fingerprints = h5py.store("fingerprints", "lzf"),
             distances = h5py.store("distances", "lzf");
  for (const auto& args : {
           "inspect " + features,
           "inspect " + fingerprints,
           "inspect " + distances,
           "fingerprint -f " + features + " -o " + d + "/x.h5 --scaling-subset all",
           "fingerprint -f " + h5py.store("features", "gzip") + " --ranges " + fingerprints +
               " -o " + d + "/x.h5",
           "distance -f " + fingerprints + " -m FID -o " + d + "/x.h5",
       }) {
    const auto r = taskfp_cli(args, env);
    EXPECT_TRUE(
        is_user_error(r,
                      "is stored with filter 32000 (LZF, h5py's), which is not available in this "
                      "HDF5 library: install its plugin (Debian: apt-get install hdf5-plugin-lzf)"))
        << args;
    EXPECT_EQ(r.output.find("invalid store"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(d + "/x.h5"));
  // With its plugin (setup installs it), the same commands read the store.
  EXPECT_EQ(taskfp_cli("inspect " + fingerprints).code, 0);
}

TEST(Cli, AStoreHeldOpenForWritingIsNamedByEveryCommand) {
  test::TempDir dir;
  const auto d = dir.path().string();
  for (const bool latest : {false, true}) {
    SCOPED_TRACE(latest ? "latest file format" : "h5py's default file format");
    const auto held = d + (latest ? "/latest.h5" : "/held.h5");
    test::H5pyWriter writer(held, latest);
    if (!writer.holding())
      GTEST_SKIP() << "/usr/bin/python3 with h5py is needed (apt-get install python3-h5py)";
    for (const auto& args :
         {"inspect " + held, "distance -f " + held + " -m FID -o " + d + "/x.h5"}) {
      const auto r = taskfp_cli(args);
      EXPECT_TRUE(is_user_error(r, "'" + held + "' is locked by another process")) << args;
      EXPECT_NE(r.output.find("set HDF5_USE_FILE_LOCKING=FALSE"), std::string::npos) << r.output;
      // Without locking, h5py's default format (flushed) reads while its writer holds it; the
      // latest format is marked open for writing, which h5clear clears where the writer is gone.
      const auto unlocked = taskfp_cli(args, "HDF5_USE_FILE_LOCKING=FALSE");
      if (latest) {
        EXPECT_TRUE(is_user_error(unlocked, "is marked as open for writing")) << args;
        EXPECT_NE(unlocked.output.find("h5clear -s '" + held + "'"), std::string::npos)
            << unlocked.output;
      } else {
        EXPECT_EQ(unlocked.code, 0) << unlocked.output;
      }
    }
    std::filesystem::remove(d + "/x.h5");
  }
}

}  // namespace
}  // namespace taskfp
