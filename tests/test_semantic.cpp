// SEMANTIC: keyword Jaccard with the reference's tie-breakers, checked against the paper's matrix.
#include <gtest/gtest.h>

#include "distance/distance.hpp"
#include "store/distance_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

TEST(Semantic, ReproducesThePapersMatrix) {
  TASKFP_REQUIRE_PAPER_CACHE();
  auto paper = read_distance_csv(test::paper_cache() + "/distances/SEMANTIC.csv");
  auto info = read_task_info(test::paper_cache() + "/task_infos.csv");
  DistanceInputs in{nullptr, &info};
  auto ours = compute_distance(parse_metric("SEMANTIC"), in, {paper.sources, paper.targets, {}});
  std::size_t exact = 0;
  for (std::size_t s = 0; s < paper.sources.size(); ++s)
    for (std::size_t t = 0; t < paper.targets.size(); ++t) {
      EXPECT_NEAR(ours.values(s, t), paper.values(s, t), 1e-15)
          << paper.sources[s] << " -> " << paper.targets[t];
      exact += ours.values(s, t) == paper.values(s, t);
    }
  EXPECT_EQ(exact, paper.values.size());
}

TEST(Semantic, HandComputed) {
  TaskInfoTable info({{"a", 2, 100, 1, 5, {"x", "y"}}, {"b", 2, 50, 1, 9, {"y", "z", "w"}}});
  DistanceInputs in{nullptr, &info};
  auto m = compute_distance(parse_metric("SEMANTIC"), in, {{"a", "b"}, {"a", "b", "b --shrink_train 800"}, {}});
  // Jaccard(a, b) = 1/4; a ranks 2nd by size, 1st by dimension; b 1st and 2nd; row index 0/1.
  EXPECT_DOUBLE_EQ(m.values(0, 1), ((0.75 - 0.001 * 2) - 0.00001 * 1) - 0.0);
  EXPECT_DOUBLE_EQ(m.values(1, 0), ((0.75 - 0.001 * 1) - 0.00001 * 2) - 0.0000001);
  EXPECT_DOUBLE_EQ(m.values(0, 2), m.values(0, 1));  // a shrunk variant has its base's keywords
  EXPECT_DOUBLE_EQ(m.values(0, 0), (0.0 - 0.002) - 0.00001);
}

TEST(Semantic, NeedsTaskInfoForEveryTask) {
  TaskInfoTable info({{"a", 2, 100, 1, 5, {"x"}}});
  DistanceInputs in{nullptr, &info};
  EXPECT_THROW(compute_distance(parse_metric("SEMANTIC"), in, {{"a"}, {"ghost"}, {}}), InputError);
  DistanceInputs none{nullptr, nullptr};
  EXPECT_THROW(compute_distance(parse_metric("SEMANTIC"), none, {{"a"}, {"a"}, {}}), InputError);
}

}  // namespace
}  // namespace taskfp
