// experiments/metrics: AUROC and balanced accuracy against scikit-learn's own results
// (fixtures/make_transfer_metric_literals.py) and hand-checked cases.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "experiments/metrics.hpp"
#include "test_util.hpp"

namespace taskfp::experiments {
namespace {

struct MetricCase {
  std::string name;
  int classes = 0;
  std::vector<int> labels;
  std::vector<float> scores;
  double auroc = 0, ba = 0;
};

std::vector<MetricCase> read_cases() {
  std::ifstream in(std::string(TASKFP_FIXTURES) + "/transfer_metric_literals.txt");
  if (!in) throw std::runtime_error("fixtures/transfer_metric_literals.txt is missing");
  std::vector<MetricCase> cases;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    MetricCase c;
    std::string word;
    std::size_t n = 0;
    ss >> word >> c.name >> c.classes >> n;
    c.labels.resize(n);
    for (auto& y : c.labels) ss >> y;
    ss >> word;  // |
    c.scores.resize(n * c.classes);
    for (auto& s : c.scores) {
      ss >> word;
      s = test::from_hex<float>(word);
    }
    std::string sep, a, b;
    ss >> sep >> a >> b;
    if (sep != "|" || b.empty()) throw std::runtime_error("bad fixture line for " + c.name);
    c.auroc = test::from_hex<double>(a);
    c.ba = test::from_hex<double>(b);
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(TransferMetrics, EqualScikitLearnOnEveryFixtureCase) {
  const auto cases = read_cases();
  ASSERT_GE(cases.size(), 11u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // Rank sums in double: equal to scikit-learn's trapezoids up to rounding.
    EXPECT_NEAR(auroc(c.scores, c.labels, c.classes), c.auroc, 1e-12);
    EXPECT_NEAR(balanced_accuracy(c.scores, c.labels, c.classes), c.ba, 1e-15);
  }
}

TEST(TransferMetrics, HandCheckedValues) {
  // Binary: positives score 0.7, 0.6; negatives 0.1, 0.6: pairs (0.7>0.1, 0.7>0.6, 0.6>0.1, 0.6=0.6)
  // give (1 + 1 + 1 + 0.5) / 4.
  const std::vector<float> s = {0.3f, 0.7f, 0.4f, 0.6f, 0.9f, 0.1f, 0.4f, 0.6f};
  const std::vector<int> y = {1, 1, 0, 0};
  EXPECT_DOUBLE_EQ(auroc(s, y, 2), 3.5 / 4);
  // Argmax: rows 0, 1 -> class 1 (right), row 2 -> 0 (right), row 3 -> 1 (wrong): (2/2 + 1/2) / 2.
  EXPECT_DOUBLE_EQ(balanced_accuracy(s, y, 2), 0.75);
  // One class only: balanced accuracy is defined, AUROC is not.
  const std::vector<int> one = {0, 0};
  const std::vector<float> s1 = {1.0f, 1.0f};
  EXPECT_DOUBLE_EQ(balanced_accuracy(s1, one, 1), 1.0);
  EXPECT_THROW(auroc(s1, one, 1), InputError);
}

TEST(TransferMetrics, RefusesUndefinedAndMalformedInputs) {
  const std::vector<float> s = {0.2f, 0.5f, 0.3f, 0.1f, 0.1f, 0.8f};
  // Class 1 has no sample: its one-vs-rest AUROC is undefined.
  EXPECT_THROW(auroc(s, std::vector<int>{0, 2}, 3), InputError);
  EXPECT_THROW(auroc(s, std::vector<int>{0, 3}, 3), InputError);      // label outside the classes
  EXPECT_THROW(auroc(s, std::vector<int>{0, 1, 2}, 3), InputError);   // sizes disagree
  std::vector<float> nan = s;
  nan[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(balanced_accuracy(nan, std::vector<int>{0, 1}, 3), InputError);
  EXPECT_EQ(parse_metric("BA"), OutcomeMetric::BA);
  EXPECT_THROW(parse_metric("F1"), InputError);
}

}  // namespace
}  // namespace taskfp::experiments
