// Synthetic features: deterministic, and bKLD finds a task's siblings.
#include <gtest/gtest.h>

#include "distance/distance.hpp"
#include "synth/synthetic.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

TEST(Synthetic, DeterministicForASeed) {
  SynthOptions o;
  o.families = 2;
  o.tasks_per_family = 2;
  o.samples = 30;
  o.dim = 8;
  auto a = synthetic_features(o), b = synthetic_features(o);
  for (std::size_t i = 0; i < a.tasks.size(); ++i) EXPECT_EQ(a.tasks[i].values.data, b.tasks[i].values.data);
  o.seed = 8;
  auto c = synthetic_features(o);
  EXPECT_NE(a.tasks[0].values.data, c.tasks[0].values.data);
  EXPECT_EQ(synthetic_family("fam1_task0"), 1);
}

TEST(Synthetic, BkldRanksSiblingsAboveUnrelatedTasks) {
  SynthOptions o;
  o.families = 5;
  o.tasks_per_family = 3;
  o.samples = 1500;
  o.dim = 48;
  auto features = synthetic_features(o);
  auto ranges = compute_ranges(features, features.names());
  auto fps = fingerprint(features, ranges, {{100, 1000}, false, {}});
  auto names = fps.names();
  for (auto spec : {"bkld-small", "bkld-large"}) {
    DistanceInputs in{&fps, nullptr};
    auto m = compute_distance(parse_metric(spec), in, {names, names, {}});
    for (std::size_t t = 0; t < names.size(); ++t) {
      // Every sibling is closer than every task of another family.
      double worst_sibling = -1, best_other = 1e300;
      for (std::size_t s = 0; s < names.size(); ++s) {
        if (s == t) continue;
        if (synthetic_family(names[s]) == synthetic_family(names[t]))
          worst_sibling = std::max(worst_sibling, m.values(s, t));
        else
          best_other = std::min(best_other, m.values(s, t));
      }
      EXPECT_LT(worst_sibling, best_other) << spec << " target " << names[t];
    }
  }
}

}  // namespace
}  // namespace taskfp
