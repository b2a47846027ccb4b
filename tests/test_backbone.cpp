// The native ResNet34 against torchvision's on the same weights and inputs (weights made by the
// test with Debian's torchvision, random, no download), and bad weights files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "core/error.hpp"
#include "extract/backbone.hpp"
#include "io/hdf5.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

std::vector<float> read_f32(const std::string& path, std::size_t n) {
  std::vector<float> v(n);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  EXPECT_EQ(static_cast<std::size_t>(in.gcount()), n * sizeof(float)) << path;
  return v;
}

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

}  // namespace
}  // namespace taskfp
