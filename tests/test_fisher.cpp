// FED: the training plugin's Fisher diagonal against an independent torch float64 computation of
// the same definition on taskfp's tiny_cnn (fixtures/make_fisher_fixture.py, made on the fly);
// the FED matrix against values worked out by hand and a long-double reference; the Fisher
// store's round trip and its refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "distance/distance.hpp"
#include "distance/fed.hpp"
#include "experiments/trainer.hpp"
#include "store/fisher_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

template <class T>
std::vector<T> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in) << path;
  const auto bytes = static_cast<std::size_t>(in.tellg());
  std::vector<T> v(bytes / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

struct Expected {
  std::vector<std::string> names, shapes;
  std::vector<std::vector<double>> values;
  std::vector<int> labels;
};

Expected read_expected(const std::string& path) {
  Expected e;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ss(line);
    std::string name;
    ss >> name;
    if (name == "labels") {
      for (int k; ss >> k;) e.labels.push_back(k);
      continue;
    }
    std::string shape;
    ss >> shape;
    e.names.push_back(name);
    e.shapes.push_back(shape);
    e.values.emplace_back();
    for (std::string v; ss >> v;) e.values.back().push_back(std::stod(v));
  }
  return e;
}

TEST(Fisher, DiagonalEqualsPerImageGradientsOfTorch) {
  if (!experiments::trainer_built()) GTEST_SKIP() << "built without LibTorch: no training plugin";
  test::TempDir dir;
  const std::string script = std::string(TASKFP_SOURCE_DIR) + "/tests/fixtures/make_fisher_fixture.py";
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + dir.path().string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch, numpy and h5py is needed (apt-get install python3-torch "
                    "python3-h5py)";
  const auto d = dir.path().string();
  const auto weights = read_weights(d + "/weights.h5");
  const auto head = read_raw<float>(d + "/head.f32");
  auto pixels = read_raw<std::uint8_t>(d + "/images.u8");
  const int n = 6, size = 20, classes = 4;
  ASSERT_EQ(pixels.size(), static_cast<std::size_t>(n) * 3 * size * size);
  ASSERT_EQ(head.size(), 4u * 64 + 4);
  std::vector<int> labels = {0, 1, 2, 3, 0, 1};
  std::ifstream draws(d + "/draws.txt");
  std::string line;
  experiments::FisherRequest r;
  std::getline(draws, line);
  for (std::istringstream ss(line); ss >> line;) r.fisher_indices.push_back(std::stol(line));
  std::getline(draws, line);
  for (std::istringstream ss(line); ss >> line;) r.label_uniforms.push_back(std::stod(line));
  r.architecture = "tiny_cnn";
  r.weights = &weights;
  r.images = {pixels.data(), static_cast<std::size_t>(n), size, labels.data(), classes};
  r.head_samples = 0;  // the head as given
  r.head_weight.assign(head.begin(), head.begin() + 4 * 64);
  r.head_bias.assign(head.begin() + 4 * 64, head.end());
  r.crop = size;  // the whole image: no crop, no flip
  r.flip = false;
  r.device = "cpu";
  r.mode = "batched";
  const auto e = read_expected(d + "/expected.txt");
  // The per-image loop (the definition) and the default batched path, each against torch.
  auto reference = r;
  reference.mode = "per-image";
  const auto plain = experiments::trainer_plugin().fisher(reference, {});
  const auto out = experiments::trainer_plugin().fisher(r, {});
  for (const auto* run : {&plain, &out}) {
  SCOPED_TRACE(run == &plain ? "per image" : "batched");
  EXPECT_EQ(run->labels, e.labels);
  ASSERT_EQ(run->names, e.names);  // body.3/4/6/7.weight: the last 60% of six kept weights
  std::size_t at = 0, total = 0;
  for (std::size_t k = 0; k < e.names.size(); ++k) {
    SCOPED_TRACE(e.names[k]);
    std::string shape;
    for (std::size_t j = 0; j < run->shapes[k].size(); ++j) shape += (j ? "x" : "") + std::to_string(run->shapes[k][j]);
    EXPECT_EQ(shape, e.shapes[k]);
    double largest = 0;
    for (const double v : e.values[k]) largest = std::max(largest, std::abs(v));
    ASSERT_GT(largest, 0.0);
    for (std::size_t i = 0; i < e.values[k].size(); ++i, ++at) {
      ASSERT_LT(at, run->embedding.size());
      // float32 forward and backward against float64: 1e-4 relative, or 1e-6 of the parameter's largest value.
      EXPECT_NEAR(run->embedding[at], e.values[k][i], 1e-4 * std::abs(e.values[k][i]) + 1e-6 * largest) << "index " << i;
    }
    total += e.values[k].size();
  }
  EXPECT_EQ(run->embedding.size(), total);
  EXPECT_EQ(run->images, r.fisher_indices.size());
  EXPECT_EQ(run->weights_checksum.rfind("fnv1a64:", 0), 0u);
  }

  // Requests that do not fit are refused, naming what.
  auto bad = r;
  bad.fisher_indices.back() = n;
  EXPECT_THROW(experiments::trainer_plugin().fisher(bad, {}), InputError);
  bad = r;
  bad.label_uniforms.pop_back();
  EXPECT_THROW(experiments::trainer_plugin().fisher(bad, {}), InputError);
  bad = r;
  bad.head_bias.pop_back();
  EXPECT_THROW(experiments::trainer_plugin().fisher(bad, {}), InputError);
  bad = r;
  bad.architecture = "resnet50";
  EXPECT_THROW(experiments::trainer_plugin().fisher(bad, {}), InputError);

  // A trained probe: the head moves, the embedding with it; the same request gives the same bits,
  // and the batched path agrees with the per-image loop.
  auto trained = r;
  trained.head_samples = 24;
  trained.head_batch = 8;
  trained.head_weight.clear();
  trained.head_bias.clear();
  trained.mode = "batched";
  const auto a = experiments::trainer_plugin().fisher(trained, {});
  const auto b = experiments::trainer_plugin().fisher(trained, {});
  EXPECT_TRUE(std::isfinite(a.head_loss) && a.head_loss > 0);
  EXPECT_EQ(a.embedding, b.embedding);
  EXPECT_NE(a.embedding, out.embedding);
  trained.mode = "per-image";
  const auto c = experiments::trainer_plugin().fisher(trained, {});
  ASSERT_EQ(c.embedding.size(), a.embedding.size());
  float largest = 0;
  for (const float v : c.embedding) largest = std::max(largest, v);
  for (std::size_t i = 0; i < c.embedding.size(); ++i)
    ASSERT_NEAR(a.embedding[i], c.embedding[i], 1e-4 * c.embedding[i] + 1e-6 * largest) << i;
}

// Same kept parameters, and every value within `relative` of the expected one plus `of_largest`
// of the largest expected value.
void expect_close(const experiments::FisherOutcome& got, const experiments::FisherOutcome& want, double relative,
                  double of_largest) {
  ASSERT_EQ(got.names, want.names);
  ASSERT_EQ(got.embedding.size(), want.embedding.size());
  float largest = 0;
  for (const float v : want.embedding) largest = std::max(largest, v);
  ASSERT_GT(largest, 0.0f);
  for (std::size_t i = 0; i < want.embedding.size(); ++i)
    ASSERT_NEAR(got.embedding[i], want.embedding[i], relative * want.embedding[i] + of_largest * largest) << i;
}

// n x 3 x size x size uint8 images of uniform noise.
std::vector<std::uint8_t> noise_images(int n, int size, unsigned seed) {
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(n) * 3 * size * size);
  std::mt19937 rng(seed);
  for (auto& p : pixels) p = static_cast<std::uint8_t>(rng() & 0xff);
  return pixels;
}

// The batched path records ResNet's layers by torchvision's names: on ResNet18 (residual blocks,
// downsample layers left out) it agrees with the per-image loop.
TEST(Fisher, BatchedEqualsPerImageOnResNet) {
  if (!experiments::trainer_built()) GTEST_SKIP() << "built without LibTorch: no training plugin";
  const int n = 5, size = 32, classes = 3;
  const auto pixels = noise_images(n, size, 9);
  std::vector<int> labels = {0, 1, 2, 0, 1};
  experiments::FisherRequest r;
  r.architecture = "resnet18";
  r.images = {pixels.data(), static_cast<std::size_t>(n), size, labels.data(), classes};
  r.head_samples = 0;
  r.fisher_indices = {0, 4, 2, 2, 1, 3, 0, 4, 1, 3, 2, 0, 1, 4, 3, 2, 0, 1, 2};  // more than one batch of 16
  for (std::size_t i = 0; i < r.fisher_indices.size(); ++i) r.label_uniforms.push_back((i * 0.37 + 0.1) - static_cast<int>(i * 0.37 + 0.1));
  r.crop = 28;
  r.device = "cpu";
  r.mode = "batched";
  const auto batched = experiments::trainer_plugin().fisher(r, {});
  r.mode = "per-image";
  const auto plain = experiments::trainer_plugin().fisher(r, {});
  ASSERT_EQ(batched.names, plain.names);
  // ResNet18 keeps 34 weights (conv1, bn1, 8 blocks x 4); from int(0.4 x 34) = 13 on: layer2.0.bn2.
  EXPECT_EQ(batched.names.front(), "layer2.0.bn2.weight");
  EXPECT_EQ(batched.names.back(), "layer4.1.bn2.weight");
  EXPECT_EQ(batched.labels, plain.labels);
  expect_close(batched, plain, 1e-4, 1e-6);
}

// On a GPU (skipped where LibTorch sees none): the same request as on the CPU gives the same
// Monte Carlo labels and embeddings within float32 rounding, in both modes, with the head as
// initialised (the backbone and head are made on the CPU and moved, so both start alike), and
// after a probe training of two batches within the drift of its float32 updates.
TEST(Fisher, DeviceAgreesWithTheCpu) {
  if (!experiments::trainer_built()) GTEST_SKIP() << "built without LibTorch: no training plugin";
  const int n = 6, size = 40, classes = 3;
  const auto pixels = noise_images(n, size, 4);
  std::vector<int> labels = {0, 1, 2, 0, 1, 2};
  experiments::FisherRequest r;
  r.architecture = "resnet18";
  r.images = {pixels.data(), static_cast<std::size_t>(n), size, labels.data(), classes};
  r.head_samples = 0;
  r.fisher_indices = {0, 5, 2, 2, 1, 3, 4, 4, 1, 3, 2, 0, 1, 5, 3, 2, 0, 1, 2, 5};  // more than one batch of 16
  for (std::size_t i = 0; i < r.fisher_indices.size(); ++i)
    r.label_uniforms.push_back((i * 0.41 + 0.05) - static_cast<int>(i * 0.41 + 0.05));
  r.crop = 32;
  r.device = "cuda";
  try {
    experiments::trainer_plugin().fisher(r, {});
  } catch (const InputError& e) {
    if (std::string(e.what()).find("sees no GPU") == std::string::npos) throw;
    GTEST_SKIP() << "no GPU for LibTorch here: " << e.what();
  }
  auto on = [&](const std::string& device, const std::string& mode, int probe) {
    auto q = r;
    q.device = device, q.mode = mode, q.head_samples = probe, q.head_batch = 10;
    return experiments::trainer_plugin().fisher(q, {});
  };
  const auto cpu = on("cpu", "per-image", 0);
  for (const std::string mode : {"batched", "per-image"}) {
    SCOPED_TRACE(mode);
    const auto gpu = on("cuda", mode, 0);
    EXPECT_EQ(gpu.device.rfind("cuda", 0), 0u) << gpu.device;
    EXPECT_EQ(gpu.mode, mode);
    EXPECT_EQ(gpu.weights_checksum, cpu.weights_checksum);
    EXPECT_EQ(gpu.labels, cpu.labels);
    expect_close(gpu, cpu, 1e-4, 1e-6);
  }
  const auto cpu_probe = on("cpu", "per-image", 20), gpu_probe = on("cuda", "batched", 20);
  EXPECT_NEAR(gpu_probe.head_loss, cpu_probe.head_loss, 1e-4 * cpu_probe.head_loss);
  expect_close(gpu_probe, cpu_probe, 1e-2, 1e-4);
}

FisherSet small_set(const std::vector<std::pair<std::string, std::vector<float>>>& tasks) {
  FisherSet s;
  s.provenance.backbone = "tiny_cnn";
  s.provenance.weights = "w";
  s.provenance.weights_checksum = "fnv1a64:0";
  s.provenance.preprocessing = "fisher test";
  s.provenance.feature_dim = static_cast<std::int64_t>(tasks.front().second.size());
  s.parameter_names = {"a.weight"};
  s.parameter_shapes = {std::to_string(tasks.front().second.size())};
  for (const auto& [name, v] : tasks) s.tasks.push_back({name, v, 0.5, 10, "cpu", 1.0});
  return s;
}

TEST(Fed, OneMinusCosineByHand) {
  const auto set = small_set({{"a", {1, 0, 0}}, {"b", {1, 1, 0}}, {"c", {0, 0, 2}}, {"z", {0, 0, 0}}});
  const std::vector<std::string> names = {"a", "b", "c", "z"};
  const auto m = fed_matrix(set, names, names, {});
  EXPECT_DOUBLE_EQ(m.values(0, 1), 1.0 - 1.0 / std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(m.values(0, 2), 1.0);  // orthogonal
  EXPECT_DOUBLE_EQ(m.values(1, 2), 1.0);
  EXPECT_DOUBLE_EQ(m.values(3, 0), 1.0);  // all zeros: similarity 0, as torch's clamped denominator
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(m.values(i, i), 0.0);
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_NE(m.warnings[0].find("'z'"), std::string::npos);
  EXPECT_THROW(fed_matrix(set, {"a"}, {"nope"}, {}), InputError);
}

TEST(Fed, LongEmbeddingsEqualALongDoubleReferenceAndAreSymmetricBitForBit) {
  std::mt19937_64 rng(5);
  std::gamma_distribution<float> fisher_like(0.3f, 1e-4f);
  std::vector<std::pair<std::string, std::vector<float>>> tasks;
  for (int t = 0; t < 5; ++t) {
    std::vector<float> v(20011);  // not a multiple of the 8 lanes or the block
    for (auto& x : v) x = fisher_like(rng);
    tasks.emplace_back("t" + std::to_string(t), v);
  }
  const auto set = small_set(tasks);
  const auto names = set.names();
  const auto m = fed_matrix(set, names, names, {});
  const std::vector<std::string> rows = {"t3", "t1"};
  const auto part = fed_matrix(set, rows, names, {});  // rows alone, as an MPI rank computes them
  for (std::size_t i = 0; i < names.size(); ++i)
    for (std::size_t j = 0; j < names.size(); ++j) {
      EXPECT_EQ(m.values(i, j), m.values(j, i));
      if (i == j) continue;
      long double dot = 0, ni = 0, nj = 0;
      for (std::size_t k = 0; k < tasks[i].second.size(); ++k) {
        const long double a = tasks[i].second[k], b = tasks[j].second[k];
        dot += a * b;
        ni += a * a;
        nj += b * b;
      }
      const double expected = static_cast<double>(1.0L - dot / std::sqrt(ni * nj));
      EXPECT_NEAR(m.values(i, j), expected, 1e-12 * std::abs(expected));
    }
  for (std::size_t j = 0; j < names.size(); ++j) {
    EXPECT_EQ(part.values(0, j), m.values(3, j));
    EXPECT_EQ(part.values(1, j), m.values(1, j));
  }
}

TEST(Fed, ComputeDistanceNeedsFisherEmbeddings) {
  const auto set = small_set({{"a", {1, 2}}, {"b", {2, 1}}});
  const auto spec = parse_metric("FED");
  EXPECT_TRUE(metric_needs(spec).fisher);
  EXPECT_FALSE(metric_needs(spec).fingerprints);
  DistanceRequest req;
  req.sources = req.targets = {"a", "b"};
  EXPECT_THROW(compute_distance(spec, DistanceInputs{}, req), InputError);
  DistanceInputs in;
  in.fisher = &set;
  const auto m = compute_distance(spec, in, req);
  EXPECT_NEAR(m.values(0, 1), 1.0 - 4.0 / 5.0, 1e-15);  // 4 / (sqrt(5) sqrt(5))
  req.targets = {"a", "c"};
  EXPECT_THROW(compute_distance(spec, in, req), InputError);
}

TEST(FisherStore, RoundTripsAndRefusesStoresOfAnotherProbe) {
  test::TempDir dir;
  const auto a_path = (dir.path() / "a.h5").string(), b_path = (dir.path() / "b.h5").string();
  const auto a = small_set({{"x", {1, 2, 3}}, {"y", {0, 1, 0.5f}}});
  write_fisher_store(a_path, a);
  const auto back = read_fisher_store(a_path);
  EXPECT_EQ(back.names(), a.names());
  EXPECT_EQ(back.at("y").values, a.at("y").values);
  EXPECT_EQ(back.provenance.weights_checksum, "fnv1a64:0");
  EXPECT_EQ(back.parameter_shapes, a.parameter_shapes);
  EXPECT_EQ(read_fisher_store(a_path, {"y"}).tasks.size(), 1u);
  EXPECT_THROW(read_fisher_store(a_path, {"w"}), InputError);

  auto b = small_set({{"z", {3, 2, 1}}});
  write_fisher_store(b_path, b);
  EXPECT_EQ(read_fisher_stores({a_path, b_path}).names(), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_THROW(read_fisher_stores({a_path, a_path}), InputError);  // a task in two stores
  b.provenance.weights_checksum = "fnv1a64:1";
  write_fisher_store(b_path, b);
  try {
    read_fisher_stores({a_path, b_path});
    ADD_FAILURE() << "stores of other weights were read together";
  } catch (const ProvenanceError& e) {
    EXPECT_NE(std::string(e.what()).find("b.h5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("weights"), std::string::npos) << e.what();
  }
  // Settings that differ in one key name that key.
  b.provenance.weights_checksum = "fnv1a64:0";
  b.provenance.preprocessing = "fisher probe=tiny_cnn fisher_samples=2000 seed=0";
  auto c = small_set({{"x", {1, 0, 0}}});
  c.provenance.preprocessing = "fisher probe=tiny_cnn fisher_samples=200 seed=0";
  const auto c_path = (dir.path() / "c.h5").string();
  write_fisher_store(b_path, b);
  write_fisher_store(c_path, c);
  try {
    read_fisher_stores({c_path, b_path});
    ADD_FAILURE() << "stores of other settings were read together";
  } catch (const ProvenanceError& e) {
    EXPECT_NE(std::string(e.what()).find("settings fisher_samples 200 vs 2000"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("seed"), std::string::npos) << e.what();
  }
  auto bad = small_set({{"x", {1, 2, 3}}, {"y", {1, 2}}});
  EXPECT_THROW(write_fisher_store(b_path, bad), InputError);  // lengths differ
  bad = small_set({{"x", {1, NAN, 3}}});
  EXPECT_THROW(write_fisher_store(b_path, bad), InputError);
}

}  // namespace
}  // namespace taskfp
