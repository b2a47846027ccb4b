// The native ResNet34 against torchvision's on the same weights and inputs (weights made by the
// test with Debian's torchvision, random, no download), bad weights files, TorchScript modules,
// and the extraction pipeline against a batch-by-batch reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.hpp"
#include "extract/backbone.hpp"
#include "extract/extract.hpp"
#include "extract/parts.hpp"
#include "images/image.hpp"
#include "images/synth_images.hpp"
#include "io/hdf5.hpp"
#include "store/store_common.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

std::vector<float> read_f32(const std::string& path, std::size_t n) {
  std::vector<float> v(n);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  EXPECT_EQ(static_cast<std::size_t>(in.gcount()), n * sizeof(float)) << path;
  return v;
}

std::vector<float> values(const TaskFeatures& t) { return {t.values.data.begin(), t.values.data.end()}; }

// Runs the fixture script; false (with the reason) where Debian's torchvision is missing.
bool make_fixture(const test::TempDir& dir, std::string& why) {
  const std::string script = std::string(TASKFP_SOURCE_DIR) + "/tests/fixtures/make_resnet_fixture.py";
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + dir.path().string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    why = "/usr/bin/python3 with torchvision and h5py is needed (apt-get install python3-torchvision python3-h5py)";
    return false;
  }
  return true;
}

// `extract --backbone/--weights/--random-weights`: contradictory choices are refused before any
// plugin is loaded.
TEST(Backbone, ChoicesThatContradictEachOtherAreRefused) {
  BackboneChoice none;  // resnet34 without weights
  EXPECT_THROW(choose_backbone(none, {}), InputError);
  BackboneChoice both;
  both.weights = "w.h5", both.random_weights = true;
  EXPECT_THROW(choose_backbone(both, {}), InputError);
  BackboneChoice script;
  script.name = "model.pt", script.random_weights = true;
  try {
    choose_backbone(script, {});
    ADD_FAILURE() << "weights for a TorchScript file were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("TorchScript"), std::string::npos) << e.what();
  }
}

TEST(Backbone, ResNet34EqualsTorchvisionOnTheSameWeights) {
  if (!torch_built()) GTEST_SKIP() << "taskfp was built without LibTorch";
  test::TempDir dir;
  std::string why;
  if (!make_fixture(dir, why)) GTEST_SKIP() << why;
  auto net = make_resnet34(dir.file("weights.h5"));
  EXPECT_EQ(net->info().feature_dim, 512);
  EXPECT_TRUE(net->info().pretrained);
  EXPECT_EQ(net->info().weights_checksum.rfind("fnv1a64:", 0), 0u);
  const auto x = read_f32(dir.file("input.f32"), 2 * 3 * 64 * 64);
  const auto want = read_f32(dir.file("features.f32"), 2 * 512);
  const auto got = net->forward(x.data(), 2, 64);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double rel = std::fabs(got[k] - want[k]) / std::max(1e-3, static_cast<double>(std::fabs(want[k])));
    worst = std::max(worst, rel);
  }
  EXPECT_LT(worst, 1e-4) << "largest relative difference to torchvision";
  RecordProperty("max_relative_difference", std::to_string(worst));
  // Same weights, same checksum; random weights are marked as not pretrained.
  EXPECT_EQ(make_resnet34(dir.file("weights.h5"))->info().weights_checksum, net->info().weights_checksum);
  auto random = make_resnet34("", 3);
  EXPECT_FALSE(random->info().pretrained);
  EXPECT_NE(random->info().weights.find("NOT PRETRAINED"), std::string::npos);
  EXPECT_EQ(make_resnet34("", 3)->info().weights_checksum, random->info().weights_checksum);
  EXPECT_NE(make_resnet34("", 4)->info().weights_checksum, random->info().weights_checksum);
}

TEST(Backbone, WeightsFilesThatDoNotFitListTheTensors) {
  if (!torch_built()) {
    EXPECT_THROW(make_resnet34(""), InputError);
    GTEST_SKIP() << "taskfp was built without LibTorch";
  }
  test::TempDir dir;
  {
    h5::AtomicWrite out(dir.file("bad.h5"));
    h5::write(out.file(), "conv1.weight", Matrix<float>(64, 3, 0.0f));  // should be 64x3x7x7
    h5::write(out.file(), "layer9.0.conv1.weight", Matrix<float>(2, 2, 0.0f));
    out.commit();
  }
  try {
    make_resnet34(dir.file("bad.h5"));
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("layer1.0.bn1.running_var"), std::string::npos) << msg;  // missing
    EXPECT_NE(msg.find("layer9.0.conv1.weight"), std::string::npos) << msg;     // unexpected
    EXPECT_NE(msg.find("conv1.weight (file 64x3, expected 64x3x7x7)"), std::string::npos) << msg;
  }
  EXPECT_THROW(load_torchscript(dir.file("bad.h5")), InputError);
}

TEST(Backbone, TorchScriptModulesGiveNByDOrAClearError) {
  if (!torch_built()) GTEST_SKIP() << "taskfp was built without LibTorch";
  test::TempDir dir;
  std::string why;
  if (!make_fixture(dir, why)) GTEST_SKIP() << why;
  auto flat = load_torchscript(dir.file("flat.pt"), 64);
  EXPECT_EQ(flat->info().feature_dim, 3);  // known from the probe at load time
  EXPECT_EQ(flat->info().name, "flat.pt");
  const auto x = read_f32(dir.file("input.f32"), 2 * 3 * 64 * 64);
  const auto got = flat->forward(x.data(), 2, 64);
  ASSERT_EQ(got.size(), 6u);
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t c = 0; c < 3; ++c) {
      double mean = 0;
      for (std::size_t k = 0; k < 64 * 64; ++k) mean += x[(i * 3 + c) * 64 * 64 + k];
      mean /= 64 * 64;
      EXPECT_NEAR(got[i * 3 + c], mean * static_cast<double>(c + 1), 1e-5) << "image " << i << " channel " << c;
    }
  // Feature maps instead of n x d: refused when loading, with the shape it gave.
  try {
    load_torchscript(dir.file("maps.pt"), 16);
    ADD_FAILURE() << "accepted a module returning feature maps";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[2, 3, 16, 16]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("n x d"), std::string::npos) << msg;
  }
  EXPECT_THROW(load_torchscript(dir.file("no-such.pt")), InputError);
}

// bf16 autocast on CPU: close to fp32 but not equal (it did run in bf16), and fp32 afterwards
// is untouched; devices and precisions that are not there are clear errors.
TEST(Backbone, AutocastAndDeviceChoices) {
  if (!torch_built()) GTEST_SKIP() << "taskfp was built without LibTorch";
  std::vector<float> x(2 * 3 * 32 * 32);
  std::uint64_t state = 11;
  for (auto& v : x) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<float>(state >> 40) / static_cast<float>(1 << 24) * 4.0f - 2.0f;
  }
  auto fp32 = make_resnet34("", 2);
  EXPECT_EQ(fp32->info().precision, "fp32");
  BackboneOptions bf16_cpu;
  bf16_cpu.device = "cpu";
  bf16_cpu.precision = "bf16";
  auto bf16 = make_resnet34("", 2, bf16_cpu);
  EXPECT_EQ(bf16->info().precision, "bf16");
  EXPECT_EQ(bf16->info().device, "cpu");
  EXPECT_EQ(bf16->info().weights_checksum, fp32->info().weights_checksum);  // the same weights
  const auto a = fp32->forward(x.data(), 2, 32);
  const auto b = bf16->forward(x.data(), 2, 32);
  ASSERT_EQ(a.size(), b.size());
  double diff = 0, norm = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    diff += (a[k] - b[k]) * static_cast<double>(a[k] - b[k]);
    norm += a[k] * static_cast<double>(a[k]);
  }
  const double rel = std::sqrt(diff / norm);
  EXPECT_GT(rel, 0.0) << "bf16 gave the fp32 features exactly: autocast did not act";
  EXPECT_LT(rel, 0.05) << "bf16 features too far from fp32";
  RecordProperty("bf16_relative_l2_difference", std::to_string(rel));
  EXPECT_EQ(fp32->forward(x.data(), 2, 32), a);  // autocast ended with its forward pass

  BackboneOptions bad;
  bad.device = "cpu";
  bad.precision = "fp16";
  EXPECT_THROW(make_resnet34("", 2, bad), InputError);  // fp16 autocast needs a GPU
  bad.precision = "fp8";
  EXPECT_THROW(make_resnet34("", 2, bad), InputError);
  bad.precision = "fp32";
  bad.device = "tpu";
  EXPECT_THROW(make_resnet34("", 2, bad), InputError);
  if (fp32->info().device == "cpu") {  // auto found no GPU: asking for one is an error
    bad.device = "cuda";
    EXPECT_THROW(make_resnet34("", 2, bad), InputError);
  }
}

// extract_features and sharded run_shard + merge_parts against the plainest reference: each
// task's draws decoded, preprocessed and inferred batch by batch. Partial batches, task and
// chunk boundaries inside the continuous prefetch; bit for bit.
TEST(Extract, PipelineEqualsBatchByBatchReference) {
  if (!torch_built()) GTEST_SKIP() << "taskfp was built without LibTorch";
  test::TempDir dir;
  ImageSynthOptions synth;
  synth.families = 2;
  synth.tasks_per_family = 2;
  synth.classes = 2;
  synth.images_per_class = 3;
  write_image_tasks(dir.file("img"), synth);
  const auto specs = read_image_taskset(dir.file("img/taskset.yaml"));
  ASSERT_EQ(specs.size(), 4u);
  auto net = make_resnet34("", 5);
  ExtractOptions o;
  o.samples = 10;
  o.batch = 4;
  o.seed = 3;
  o.preprocess.size = 32;

  std::vector<std::vector<float>> want;
  for (const auto& spec : specs) {
    const auto images = list_task_images(spec, o.seed);
    const auto draw = draw_samples(images.files.size(), o.samples, o.seed, spec.name);
    std::vector<float> rows;
    for (std::size_t from = 0; from < draw.size(); from += 4) {
      std::vector<float> pixels;
      const std::size_t n = std::min<std::size_t>(4, draw.size() - from);
      for (std::size_t i = from; i < from + n; ++i) {
        const auto x = preprocess(images.read(draw[i]), o.preprocess);
        pixels.insert(pixels.end(), x.begin(), x.end());
      }
      const auto f = net->forward(pixels.data(), n, 32);
      rows.insert(rows.end(), f.begin(), f.end());
    }
    want.push_back(rows);
  }

  ExtractReport rep;
  const auto got = extract_features(specs, *net, o, &rep);
  EXPECT_EQ(rep.images, 40u);
  ASSERT_EQ(got.tasks.size(), specs.size());
  for (std::size_t t = 0; t < specs.size(); ++t) {
    EXPECT_EQ(got.tasks[t].name, specs[t].name);
    EXPECT_EQ(got.tasks[t].values.rows, 10u);
    EXPECT_EQ(values(got.tasks[t]), want[t]) << specs[t].name;
  }

  // Chunks of 4 draws (3 per task, the last one partial) over 3 shards, then merged.
  const auto plan = plan_extraction(specs, net->info(), o, 4);
  ASSERT_EQ(plan.chunks.size(), 12u);
  const std::string parts = dir.file("parts");
  std::size_t computed = 0;
  for (int s = 0; s < 3; ++s) computed += run_shard(plan, specs, *net, o, parts, s, 3).computed;
  EXPECT_EQ(computed, 12u);
  auto merged = merge_parts(parts);
  for (std::size_t t = 0; t < specs.size(); ++t) EXPECT_EQ(values(merged.tasks[t]), want[t]) << specs[t].name;
  // A lost part is recomputed, the others reused.
  std::filesystem::remove(parts + "/task00002-000000004.h5");
  const auto again = run_shard(plan, specs, *net, o, parts, 0, 1);
  EXPECT_EQ(again.computed, 1u);
  EXPECT_EQ(again.reused, 11u);
  merged = merge_parts(parts);
  EXPECT_EQ(values(merged.tasks[2]), want[2]);
}

// A stand-in backbone, so that parts folders are made without LibTorch: per image its three
// channel means and their sum.
class MeanBackbone : public Backbone {
 public:
  [[nodiscard]] const BackboneInfo& info() const override { return info_; }
  std::vector<float> forward(const float* images, std::size_t n, int size) override {
    const std::size_t plane = static_cast<std::size_t>(size) * static_cast<std::size_t>(size);
    std::vector<float> out;
    for (std::size_t i = 0; i < n; ++i) {
      float sum = 0;
      for (std::size_t c = 0; c < 3; ++c) {
        float m = 0;
        for (std::size_t k = 0; k < plane; ++k) m += images[(i * 3 + c) * plane + k];
        out.push_back(m / static_cast<float>(plane));
        sum += out.back();
      }
      out.push_back(sum);
    }
    return out;
  }

 private:
  BackboneInfo info_{"means", "none", "none", false, 4, "cpu", "fp32"};
};

// A parts folder of 2 tasks x 6 draws in chunks of 2 (3 per task), made by run_shard.
class Parts : public ::testing::Test {
 protected:
  void SetUp() override {
    ImageSynthOptions synth;
    synth.families = 1, synth.tasks_per_family = 2, synth.classes = 1, synth.images_per_class = 3;
    write_image_tasks(dir_.file("img"), synth);
    specs_ = read_image_taskset(dir_.file("img/taskset.yaml"));
    o_.samples = 6, o_.batch = 2, o_.preprocess.size = 8;
    plan_ = plan_extraction(specs_, net_.info(), o_, 2);
    ASSERT_EQ(plan_.chunks.size(), 6u);
    run_shard(plan_, specs_, net_, o_, dir_.file("good"), 0, 1);
    ASSERT_EQ(merge_parts(dir_.file("good")).tasks.at(1).values.rows, 6u);
  }
  // A fresh copy of the good folder.
  std::string copy() {
    const auto to = dir_.file("copy" + std::to_string(++copies_));
    fs::copy(dir_.file("good"), to, fs::copy_options::recursive);
    return to;
  }
  static std::string text(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Writes `part` (a file name in `parts`) as run_shard does, from the attributes of the good one,
  // with `write_features` writing the "features" dataset.
  void rewrite_part(const std::string& parts, const std::string& part,
                    const std::function<void(h5::hid)>& write_features,
                    const std::vector<std::string>& skipped, std::int64_t dim,
                    const std::string& task = "", std::int64_t first = -1,
                    const std::string& other_key = "") {
    std::string key, good_task;
    std::int64_t good_first = 0;
    {
      auto file = h5::open_read(dir_.file("good/" + part));
      h5::Handle root = h5::group(file.get(), "/");
      key = h5::attr_string(root.get(), "key");
      good_task = h5::attr_string(root.get(), "task");
      good_first = h5::attr_int(root.get(), "first");
    }
    fs::remove(parts + "/" + part);
    h5::Handle file = h5::create(parts + "/" + part);
    write_features(file.get());
    h5::Handle root = h5::group(file.get(), "/");
    h5::set_attr(root.get(), "key", other_key.empty() ? key : other_key);
    h5::set_attr(root.get(), "task", task.empty() ? good_task : task);
    h5::set_attr(root.get(), "first", first < 0 ? good_first : first);
    h5::set_attr(root.get(), "dim", dim);
    h5::set_attr(root.get(), "device", std::string("cpu"));
    h5::write(file.get(), "skipped", skipped);
    Provenance p;
    p.feature_dim = dim;
    write_header(root.get(), "features-part", 1, p, dim);
  }
  static std::function<void(h5::hid)> rows_of(std::size_t rows, std::size_t cols) {
    return [=](h5::hid f) { h5::write(f, "features", Matrix<float>(rows, cols, 0.5f)); };
  }
  // merge_parts must refuse `parts` with an error that names `file` and holds `words`.
  static void expect_refused(const std::string& parts, const std::string& file,
                             const std::string& words, const std::string& what) {
    try {
      merge_parts(parts);
      ADD_FAILURE() << what << " was merged";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << what << ": " << msg;
      EXPECT_NE(msg.find(words), std::string::npos) << what << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << what << ": " << msg;
    }
  }

  test::TempDir dir_;
  MeanBackbone net_;
  std::vector<ImageTaskSpec> specs_;
  ExtractOptions o_;
  ExtractPlan plan_;
  int copies_ = 0;
};

// The plan is checked before any part is read: an empty plan.txt (merge crashed), malformed lines,
// chunk task indices beyond the task list, chunks that do not cover each task's draws.
TEST_F(Parts, MalformedPlansAreRefusedNamingThePlan) {
  const std::string good = text(dir_.file("good/plan.txt"));
  const auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string plan, words, what;
  };
  for (const auto& c : std::vector<Case>{
           {"", "no key", "an empty plan"},
           {"key\t" + plan_.key + "\n", "no tasks", "a plan without tasks or chunks"},
           {replace(good, "chunk\t0\t2\t2\n", "chunk\t0\tx\t2\n"), "line 3",
            "a chunk that is not numbers"},
           {replace(good, "chunk\t0\t2\t2\n", "chunk\t0\t2\t2\t9\n"), "line 3",
            "a chunk with five fields"},
           {replace(good, "chunk\t0\t2\t2\n", "chunk\t0\t-2\t2\n"), "line 3", "a negative draw"},
           {good + "junk\n", "line", "a line of another kind"},
           {good + "\n", "line", "an empty line"},
           {replace(good, "chunk\t1\t0\t2\n", "chunk\t7\t0\t2\n"), "task index 7",
            "a chunk of no task"},
           {replace(good, "chunk\t0\t2\t2\n", "chunk\t0\t3\t2\n"), "draws", "a gap between chunks"},
           {replace(good, "chunk\t1\t4\t2\n", ""), "draws",
            "a task with fewer draws than the others"},
           {replace(good, "chunk\t0\t2\t2\n", "chunk\t0\t2\t0\n"), "draws", "an empty chunk"},
           {good + "key\tanother\n", "key", "two keys"},
           {good + "task\timgfam0_task0\n", "twice", "a task listed twice"},
           {replace(good, "task\timgfam0_task1\n", "task\ta/b\n"), "'a/b'",
            "a task name that cannot be stored"},
       }) {
    const auto parts = copy();
    std::ofstream(parts + "/plan.txt", std::ios::trunc) << c.plan;
    expect_refused(parts, "plan.txt", c.words, c.what);
  }
}

// Every part is checked against its chunk before merging: a part of another feature size
// (corrupted the heap), a part with no rows (merged into a task with a third of its samples
// missing), more rows than draws, another task, draw or key, not float32 2-D, not a part at all.
TEST_F(Parts, PartsThatDoNotFitTheirChunkAreRefusedNamingThePart) {
  const std::string part = "task00001-000000002.h5";
  struct Case {
    std::function<void(const std::string&)> spoil;
    std::string words, what;
  };
  for (const auto& c : std::vector<Case>{
           {[&](const std::string& p) { rewrite_part(p, part, rows_of(2, 3), {}, 3); },
            "3 features", "another feature size"},
           {[&](const std::string& p) { rewrite_part(p, part, rows_of(0, 0), {}, 0); }, "0 rows",
            "no rows"},
           {[&](const std::string& p) { rewrite_part(p, part, rows_of(1, 4), {}, 4); }, "1 rows",
            "a row too few"},
           {[&](const std::string& p) { rewrite_part(p, part, rows_of(3, 4), {}, 4); }, "3 rows",
            "more rows than draws"},
           {[&](const std::string& p) {
              rewrite_part(p, part, rows_of(1, 4), {"x.png: bad", "y.png: bad"}, 4);
            },
            "2 skipped", "rows and skipped images beyond the draws"},
           {[&](const std::string& p) {
              rewrite_part(p, part, rows_of(2, 4), {}, 4, "imgfam0_task0");
            },
            "imgfam0_task0", "another task"},
           {[&](const std::string& p) { rewrite_part(p, part, rows_of(2, 4), {}, 4, "", 4); },
            "draw 4", "another first draw"},
           {[&](const std::string& p) { rewrite_part(p, part, rows_of(2, 4), {}, 5); }, "dim",
            "a dim attribute that is not the features'"},
           {[&](const std::string& p) {
              rewrite_part(
                  p, part, [](h5::hid f) { h5::write(f, "features", Matrix<double>(2, 4, 0.5)); },
                  {}, 4);
            },
            "float32", "float64 features"},
           {[&](const std::string& p) {
              rewrite_part(
                  p, part, [](h5::hid f) { h5::write(f, "features", std::vector<double>(8, 0.5)); },
                  {}, 4);
            },
            "2-D", "1-D features"},
           {[&](const std::string& p) {
              std::ofstream(p + "/" + part, std::ios::trunc) << "not hdf5";
            },
            "HDF5", "a file that is not HDF5"},
           {[&](const std::string& p) {
              h5::Handle f = h5::create(p + "/" + part);
              h5::write(f.get(), "features", Matrix<float>(2, 4, 0.5f));
            },
            "key", "an HDF5 file without the part's attributes"},
       }) {
    const auto parts = copy();
    c.spoil(parts);
    expect_refused(parts, part, c.words, c.what);
  }
  // The first part (whose header gives the provenance) of another extraction.
  const auto parts = copy();
  rewrite_part(parts, "task00000-000000000.h5", rows_of(2, 4), {}, 4, "", -1, "another key");
  expect_refused(parts, "task00000-000000000.h5", "different extraction", "a part of another key");
}

// A rerun of the same extraction over a plan that lost lines rewrites it and reuses every part;
// an unreadable plan beside finished parts is refused (whose parts they are is unknown).
TEST_F(Parts, RerunsRewriteADamagedPlanOfTheirKey) {
  const auto parts = copy();
  const std::string good = text(parts + "/plan.txt");
  std::ofstream(parts + "/plan.txt", std::ios::trunc) << "key\t" << plan_.key << "\n";
  const auto rerun = run_shard(plan_, specs_, net_, o_, parts, 0, 1);
  EXPECT_EQ(rerun.computed, 0u);
  EXPECT_EQ(rerun.reused, 6u);
  EXPECT_EQ(text(parts + "/plan.txt"), good);
  EXPECT_EQ(merge_parts(parts).tasks.size(), 2u);
  std::ofstream(parts + "/plan.txt", std::ios::trunc) << "garbage\n";
  try {
    run_shard(plan_, specs_, net_, o_, parts, 0, 1);
    ADD_FAILURE() << "parts beside an unreadable plan were taken over";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unreadable plan.txt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace taskfp
