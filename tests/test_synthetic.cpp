// Synthetic features: deterministic, and bKLD finds a task's siblings.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

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

// Options outside their domain are refused, naming the option (a NaN spread wrote all-zero
// features; spreads beyond 20 overflow float32 through exp(0.3 spread x)).
TEST(Synthetic, OptionsOutsideTheirDomainAreRefusedNamingTheOption) {
  const double nan = std::numeric_limits<double>::quiet_NaN(),
               inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::function<void(SynthOptions&)> set;
    std::string option;
  };
  const std::vector<Case> cases = {
      {[](SynthOptions& o) { o.families = 0; }, "--families"},
      {[](SynthOptions& o) { o.families = -3; }, "--families"},
      {[](SynthOptions& o) { o.tasks_per_family = 0; }, "--tasks-per-family"},
      {[](SynthOptions& o) { o.samples = 1; }, "--samples"},
      {[](SynthOptions& o) { o.samples = -5; }, "--samples"},
      {[](SynthOptions& o) { o.dim = 0; }, "--dim"},
      {[&](SynthOptions& o) { o.family_spread = nan; }, "--family-spread"},
      {[&](SynthOptions& o) { o.family_spread = inf; }, "--family-spread"},
      {[](SynthOptions& o) { o.family_spread = -0.5; }, "--family-spread"},
      {[](SynthOptions& o) { o.family_spread = 21; }, "--family-spread"},
      {[&](SynthOptions& o) { o.task_spread = nan; }, "--task-spread"},
      {[&](SynthOptions& o) { o.task_spread = -inf; }, "--task-spread"},
      {[](SynthOptions& o) { o.task_spread = -1e-9; }, "--task-spread"},
  };
  for (const auto& c : cases) {
    SynthOptions o;
    o.families = 2, o.tasks_per_family = 1, o.samples = 4, o.dim = 3;
    c.set(o);
    try {
      synthetic_features(o);
      ADD_FAILURE() << c.option << " out of its domain was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.option), std::string::npos) << e.what();
    }
  }
  // The edges of the domains are valid: no spread at all, the largest spreads, 2 samples.
  SynthOptions edge;
  edge.families = 2, edge.tasks_per_family = 2, edge.samples = 2, edge.dim = 3;
  edge.family_spread = 0, edge.task_spread = 0;
  const auto same = synthetic_features(edge);
  EXPECT_EQ(same.tasks[0].values.rows, 2u);
  edge.family_spread = 20, edge.task_spread = 20;
  for (const auto& t : synthetic_features(edge).tasks)
    for (float v : t.values.data) EXPECT_TRUE(std::isfinite(v)) << t.name;
}

}  // namespace
}  // namespace taskfp
