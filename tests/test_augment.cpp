// The policies' augmentation operations as the training plugin runs them (experiments/
// train_plugin, batched uint8 tensors) against fixtures/augment_literals.txt: torchvision's flips
// and solarize, albumentations' RGB shift and brightness/contrast LUTs derived by hand, and
// OpenCV's shift-scale-rotate definition (fixtures/make_augment_literals.py). And the draws:
// weighted choices in proportion, random policies of the published layout.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "experiments/augment_draw.hpp"
#include "experiments/trainer.hpp"
#include "test_util.hpp"

namespace taskfp::experiments {
namespace {

struct AugmentCase {
  std::string op, line;
  int size = 0;
  std::vector<double> params;
  std::vector<std::uint8_t> input, expected;
};

std::vector<AugmentCase> read_cases() {
  std::ifstream in(std::string(TASKFP_FIXTURES) + "/augment_literals.txt");
  if (!in) throw std::runtime_error("fixtures/augment_literals.txt is missing");
  std::vector<AugmentCase> cases;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    AugmentCase c;
    c.line = line.substr(0, 60);
    std::istringstream ss(line);
    ss >> c.op >> c.size;
    std::string word;
    while (ss >> word && word != "|") c.params.push_back(std::stod(word));
    while (ss >> word && word != "|") c.input.push_back(static_cast<std::uint8_t>(std::stoi(word)));
    while (ss >> word) c.expected.push_back(static_cast<std::uint8_t>(std::stoi(word)));
    if (c.input.size() != 3u * c.size * c.size || c.expected.size() != c.input.size())
      throw std::runtime_error("bad fixture line: " + c.line);
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(Augment, OperationsEqualTheirReferences) {
  if (!trainer_built()) GTEST_SKIP() << "built without LibTorch: no training plugin";
  const auto& plugin = trainer_plugin();
  const auto cases = read_cases();
  ASSERT_EQ(cases.size(), 50u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line);
    AugmentOp op;
    OpDraw d;
    bool exact = true;
    const auto& p = c.params;
    if (c.op == "hflip") op.kind = AugmentOpKind::HorizontalFlip;
    else if (c.op == "vflip") op.kind = AugmentOpKind::VerticalFlip;
    else if (c.op == "solarize") {
      op.kind = AugmentOpKind::Solarize;
      d.threshold = p[0];
    } else if (c.op == "rgbshift") {
      op.kind = AugmentOpKind::RGBShift;
      d.shift = {p[0], p[1], p[2]};
    } else if (c.op == "brightcontrast") {
      op.kind = AugmentOpKind::BrightnessContrast;
      d.alpha = p[0];
      d.beta = p[1];
    } else if (c.op == "ssr") {
      op.kind = AugmentOpKind::ShiftScaleRotate;
      d.angle = p[0];
      d.scale = p[1];
      d.dx = p[2];
      d.dy = p[3];
      exact = p[4] == 1;
    } else if (c.op == "dropout") {
      op.kind = AugmentOpKind::CoarseDropout;
      op.fill_value = p[0];
      for (int h = 0; h < static_cast<int>(p[1]); ++h)
        d.holes.push_back({static_cast<int>(p[2 + 4 * h]), static_cast<int>(p[3 + 4 * h]),
                           static_cast<int>(p[4 + 4 * h]), static_cast<int>(p[5 + 4 * h])});
    } else {
      FAIL() << "unknown op " << c.op;
    }
    // Twice in one batch (the second copy must get the same), as the training batches them.
    std::vector<std::uint8_t> x = c.input;
    x.insert(x.end(), c.input.begin(), c.input.end());
    const OpDraw draws[2] = {d, d};
    plugin.apply_op(op, draws, x.data(), 2, c.size);
    std::size_t differ = 0, off_by_more = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const int got = x[i], want = c.expected[i % c.expected.size()];
      differ += got != want;
      off_by_more += std::abs(got - want) > 1;
    }
    if (exact) {
      EXPECT_EQ(differ, 0u);
    } else {
      // Interpolated in float32 on the device against float64: a value on a rounding boundary may
      // land one level off; nothing more, and rarely.
      EXPECT_EQ(off_by_more, 0u);
      EXPECT_LE(differ, x.size() / 50);
    }
  }
}

TEST(Augment, ChoicesFollowTheirWeights) {
  SplitMix rng(5);
  const std::vector<double> w = {0.2, 0.0, 0.8};
  std::vector<int> count(3, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++count[draw_choice(w, rng)];
  EXPECT_EQ(count[1], 0);
  EXPECT_NEAR(count[0] / double(n), 0.2, 0.006);  // 5 standard deviations
  // Fixed magnitudes are exact; dropout corners inside the image.
  AugmentOp op;
  op.kind = AugmentOpKind::CoarseDropout;
  op.min_holes = 1;
  op.max_holes = 3;
  op.min_height = op.max_height = 4;
  op.min_width = 2;
  op.max_width = 6;
  for (int i = 0; i < 200; ++i) {
    const auto d = draw_op(op, 16, rng);
    ASSERT_GE(d.holes.size(), 1u);
    ASSERT_LE(d.holes.size(), 3u);
    for (const auto& h : d.holes) {
      EXPECT_EQ(h[2], 4);
      EXPECT_TRUE(h[3] >= 2 && h[3] <= 6);
      EXPECT_TRUE(h[0] >= 0 && h[0] + h[2] <= 16 && h[1] >= 0 && h[1] + h[3] <= 16);
    }
  }
}

TEST(Augment, RandomPoliciesHaveThePublishedLayout) {
  const auto p = random_policy(3, 256);
  ASSERT_EQ(p.sub_policies.size(), 10u);
  for (const auto& sp : p.sub_policies) {
    ASSERT_EQ(sp.stages.size(), 3u);
    for (const auto& st : sp.stages) {
      ASSERT_EQ(st.ops.size(), 15u);
      double total = 0;
      for (const auto& op : st.ops) total += op.weight;
      EXPECT_NEAR(total, 1.0, 1e-12);
      EXPECT_EQ(st.ops[0].kind, AugmentOpKind::RGBShift);
      EXPECT_EQ(st.ops[14].kind, AugmentOpKind::Identity);
      EXPECT_TRUE(st.ops[4].contrast.lo >= 0 && st.ops[4].contrast.hi <= 10);
    }
  }
  // Written and read back as AutoAlbument JSON, the same policy; another seed, another policy.
  const auto again = parse_policy(policy_json(p), "random");
  EXPECT_EQ(again.sub_policies[4].stages[2].ops[8].rotate.lo, p.sub_policies[4].stages[2].ops[8].rotate.lo);
  EXPECT_NE(random_policy(4, 256).sub_policies[0].stages[0].ops[0].weight, p.sub_policies[0].stages[0].ops[0].weight);
}

}  // namespace
}  // namespace taskfp::experiments
