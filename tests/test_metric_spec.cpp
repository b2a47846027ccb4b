// Metric spec parsing: the paper's names, aliases, canonical forms and clear errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "distance/distance.hpp"
#include "distance/metric_spec.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

// A list of metrics as `taskfp distance -m ... -m ...` gives it: aliases resolved, repeats of
// one metric dropped (the first kept), and what they need together (every bin count once).
TEST(MetricSpec, ListsParseOnceAndNeedTheUnionOfTheirInputs) {
  const auto specs = parse_metrics({"bkld-small", "KLD-PP:NS-W:TS-100-BINS", "FID", "bkld-large", "SEMANTIC",
                                    "VDNA-PP:NN-1000-BINS"});
  ASSERT_EQ(specs.size(), 5u);
  EXPECT_EQ(specs[0].name, "KLD-PP:NS-W:TS-100-BINS");
  EXPECT_EQ(specs[1].name, "FID");
  EXPECT_EQ(specs[2].name, "KLD-PP:NS-1000-BINS");
  const auto needs = metric_needs(specs);
  EXPECT_EQ(needs.bins, (std::vector<int>{100, 1000}));
  EXPECT_TRUE(needs.covariance);  // FID
  EXPECT_TRUE(needs.fingerprints);
  EXPECT_TRUE(needs.task_info);  // SEMANTIC
  EXPECT_FALSE(needs.features);
  const auto semantic = metric_needs(parse_metrics({"SEMANTIC"}));
  EXPECT_TRUE(semantic.bins.empty());
  EXPECT_FALSE(semantic.fingerprints);
  EXPECT_THROW(parse_metrics({"bkld-small", "no-such-metric"}), InputError);
}

TEST(MetricSpec, PaperProposals) {
  auto small = parse_metric("bkld-small");
  EXPECT_EQ(small.name, "KLD-PP:NS-W:TS-100-BINS");
  EXPECT_EQ(small.family, MetricFamily::KLD);
  EXPECT_EQ(small.target_prep, Prep::L1);
  EXPECT_EQ(small.source_prep, Prep::Softmax);
  EXPECT_EQ(small.weight_by, WeightBy::Target);
  EXPECT_EQ(small.weight_prep, Prep::Softmax);
  EXPECT_EQ(small.bins, 100);
  auto large = parse_metric("bkld-large");
  EXPECT_EQ(large.name, "KLD-PP:NS-1000-BINS");
  EXPECT_EQ(large.weight_by, WeightBy::None);
  EXPECT_EQ(large.bins, 1000);
}

TEST(MetricSpec, ModifiersAndCanonicalNames) {
  auto s = parse_metric("KLD-C-I-PP:UN-A:0.1-W:BU-5-BINS-500-SAMPLES-3-SEED");
  EXPECT_TRUE(s.clip);
  EXPECT_TRUE(s.invert);
  EXPECT_EQ(s.target_prep, Prep::Uniform);
  EXPECT_DOUBLE_EQ(*s.alpha, 0.1);
  EXPECT_EQ(s.weight_by, WeightBy::Both);
  EXPECT_EQ(s.bins, 5);
  EXPECT_EQ(s.name, "KLD-C-I-PP:UN-A:0.1-W:BU-5-BINS-500-SAMPLES-3-SEED");
  // Without preprocessing on either side the reference leaves the PP part out.
  EXPECT_EQ(parse_metric("KLD-W:TS-100-BINS").name, "KLD-W:TS-100-BINS");
  EXPECT_EQ(parse_metric("KLD-PP:WW-100-BINS").name, "KLD-100-BINS");
  EXPECT_EQ(parse_metric("KLD-PP:NN").bins, 0);
  EXPECT_EQ(parse_metric("MMD-coral-0.05").mmd_kernel, "coral");
  auto cauchy = parse_metric("MMD-cauchy-0.05");
  EXPECT_EQ(cauchy.mmd_kernel, "cauchy");
  EXPECT_DOUBLE_EQ(cauchy.mmd_blur, 0.05);
  EXPECT_EQ(cauchy.name, "MMD-cauchy-0.05");
}

TEST(MetricSpec, EveryPaperCacheNameParsesOrSaysWhy) {
  TASKFP_REQUIRE_PAPER_CACHE();
  int parsed = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::paper_cache() + "/distances")) {
    const std::string name = e.path().stem().string();
    EXPECT_EQ(parse_metric(name).name, name);
    ++parsed;
  }
  EXPECT_GE(parsed, 10);  // FED included
  EXPECT_EQ(parse_metric("FED").family, MetricFamily::FED);
  EXPECT_EQ(parse_metric("fed").name, "FED");
  EXPECT_THROW(parse_metric("FED-1"), InputError);
}

TEST(MetricSpec, MalformedSpecsAreClearErrors) {
  for (auto bad : {"", "KLD-PP:NX-100-BINS", "KLD-PP:NS-0-BINS", "KLD-PP:NS-abc-BINS", "KLD-PP:NU",
                   "KLD-PP:NN-A:0.5", "KLD-PP:NS-W:XS", "KLD-PP:NS-W:PS", "JS-PP:NS-100-BINS",
                   "VDNA-PP:NN", "EMD-AVG-PP:NN-100-BINS", "COS-PP:NS", "FID-100-BINS", "BOGUS",
                   "KLD-PP:NS-100-BINS-extra", "MMD-cauchy-x", "MMD-foo-1", "KLD-PP:NU-A:1.5"}) {
    EXPECT_THROW(parse_metric(bad), InputError) << bad;
  }
  try {
    parse_metric("KLD-PP:NS-100-BINZ");
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("KLD-PP:NS-100-BINZ"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("Metric specs"), std::string::npos);
  }
}

// Parameters outside their domain are refused when the spec is parsed, in one line naming the
// spec (MMD-cauchy-0 gave an all-NaN matrix: its kernel is 0 / (0 + 0) on the diagonal).
TEST(MetricSpec, ParametersOutsideTheirDomainAreRefused) {
  // Numbers outside the domain: one line naming the spec.
  for (auto bad : {"MMD-cauchy-0", "MMD-cauchy-0.0", "MMD-cauchy-nan", "MMD-cauchy-inf",
                   "MMD-gaussian-0", "MMD-coral-0", "KLD-PP:NU-A:0", "KLD-PP:NU-A:1",
                   "KLD-PP:NU-A:nan", "KLD-PP:NU-A:inf", "KLD-PP:NS-0-BINS"}) {
    try {
      const auto s = parse_metric(bad);
      ADD_FAILURE() << bad << " was accepted (blur " << s.mmd_blur << ", bins " << s.bins << ")";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  // Not numbers of the right kind at all: malformed, with the grammar.
  for (auto bad : {"MMD-cauchy-1e400", "MMD-cauchy-x0.5", "KLD-PP:NU-A:-0.5", "KLD-PP:NS-+5-BINS",
                   "KLD-PP:NS-1e3-BINS"}) {
    try {
      parse_metric(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("malformed metric spec"), std::string::npos) << e.what();
    }
  }
  // Small positive values stay valid.
  EXPECT_DOUBLE_EQ(parse_metric("MMD-cauchy-0.000001").mmd_blur, 1e-6);
  EXPECT_EQ(parse_metric("KLD-PP:NS-1-BINS").bins, 1);
  EXPECT_DOUBLE_EQ(*parse_metric("KLD-PP:NU-A:0.001").alpha, 0.001);
}

}  // namespace
}  // namespace taskfp
