// Evaluation engine: the paper's published development-set tables reproduced from its released
// outcomes and distances, plus hand-computed meta-metrics and bad inputs.
#include <gtest/gtest.h>

#include <sstream>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "evaluate/evaluate.hpp"
#include "store/distance_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

std::string paper_tasks() { return std::string(TASKFP_SOURCE_DIR) + "/configs/tasksets/paper.yaml"; }

struct PaperData {
  TaskSet tasks = TaskSet::load(paper_tasks());
  TaskInfoTable info = read_task_info(test::paper_cache() + "/task_infos.csv");
  DistanceMatrix load(const std::string& name) const {
    return read_distance_csv(test::paper_cache() + "/distances/" + name + ".csv", FloatParser::PandasDefault);
  }
};

TEST(EvaluatePaper, DevelopmentRegretAndRankAsPublished) {
  TASKFP_REQUIRE_PAPER_CACHE();
  PaperData p;
  EvaluationConfig cfg;
  cfg.cache_dir = test::paper_cache();
  cfg.validation = false;
  cfg.meta_metrics = {MetaMetric::Regret, MetaMetric::Rank};
  auto ev = evaluate({p.load("SEMANTIC"), p.load("KLD-PP:NS-W:TS-100-BINS"), p.load("KLD-PP:NS-1000-BINS")},
                     p.tasks, p.info, cfg);
  auto regret = summarize(ev, MetaMetric::Regret);
  ASSERT_EQ(regret.columns.size(), 5u);
  // Published (1 - regret), mean over development targets and both metrics; 6 decimals.
  const double expected[3][4] = {{0.279245, 0.287204, 0.289398, 0.256161},
                                 {0.255248, 0.282134, 0.248669, 0.229796},
                                 {0.258868, 0.272990, 0.247942, 0.230148}};
  for (int d = 0; d < 3; ++d)
    for (int s = 0; s < 4; ++s)
      EXPECT_NEAR(regret.mean(static_cast<std::size_t>(d), static_cast<std::size_t>(s)), expected[d][s], 5e-7)
          << regret.rows[static_cast<std::size_t>(d)] << " / " << regret.columns[static_cast<std::size_t>(s)];
  auto rank = summarize(ev, MetaMetric::Rank);
  const double rank_small[4] = {0.550188, 0.607273, 0.606307, 0.543935};
  for (int s = 0; s < 4; ++s) EXPECT_NEAR(rank.mean(1, static_cast<std::size_t>(s)), rank_small[s], 5e-7);
  // 23 development targets with fewer than 40 classes x 2 metrics x 4 scenarios x 3 distances x 2.
  EXPECT_EQ(ev.rows.size(), 23u * 2 * 4 * 3 * 2);
}

TEST(EvaluatePaper, ValidationRunsOverEveryPublishedMatrix) {
  TASKFP_REQUIRE_PAPER_CACHE();
  PaperData p;
  std::vector<DistanceMatrix> all;
  for (const auto& e : std::filesystem::directory_iterator(test::paper_cache() + "/distances"))
    all.push_back(read_distance_csv(e.path().string()));
  EvaluationConfig cfg;
  cfg.cache_dir = test::paper_cache();
  cfg.aggregates = {SeedAggregate::First, SeedAggregate::Second, SeedAggregate::Third};
  auto ev = evaluate(all, p.tasks, p.info, cfg);
  EXPECT_FALSE(ev.rows.empty());
  for (const auto& r : ev.rows) {
    if (r.meta_metric != MetaMetric::WeightedTau) {
      EXPECT_FALSE(std::isnan(r.score)) << r.distance << " " << r.target;
    }
  }
  auto wins = win_rates(ev);
  double total = 0;
  for (std::size_t d = 0; d < wins.rows.size(); ++d) total += wins.mean(d, wins.columns.size() - 1);
  EXPECT_GE(total, 1.0);  // every setup has at least one winner
  EXPECT_EQ(setup_stability(ev).size(), 4u);
  auto boot = bootstrap_rankings(ev, 200, 3);
  EXPECT_EQ(boot.size(), 4u * 5);
  for (const auto& b : boot) {
    double first = 0;
    for (double s : b.share_first) first += s;
    EXPECT_GE(first, 1.0 - 1e-12);
  }
}

TEST(EvaluatePaper, BadMatricesAreNamed) {
  TASKFP_REQUIRE_PAPER_CACHE();
  PaperData p;
  EvaluationConfig cfg;
  cfg.cache_dir = test::paper_cache();
  cfg.validation = false;
  cfg.scenarios = {Scenario::Architecture};
  cfg.metrics = {"AUROC"};
  auto m = p.load("KLD-PP:NS-1000-BINS");
  // Transposed: rows are targets.
  DistanceMatrix t;
  t.metric = "transposed";
  t.sources = m.targets;
  t.targets = m.sources;
  t.values = Matrix<double>(m.targets.size(), m.sources.size());
  for (std::size_t i = 0; i < m.sources.size(); ++i)
    for (std::size_t j = 0; j < m.targets.size(); ++j) t.values(j, i) = m.values(i, j);
  try {
    evaluate({t}, p.tasks, p.info, cfg);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("transposed"), std::string::npos) << e.what();
  }
  // A missing source row.
  DistanceMatrix cut = m;
  cut.sources.erase(cut.sources.begin() + 3);
  cut.values = Matrix<double>(cut.sources.size(), m.targets.size());
  for (std::size_t i = 0, k = 0; i < m.sources.size(); ++i) {
    if (i == 3) continue;
    for (std::size_t j = 0; j < m.targets.size(); ++j) cut.values(k, j) = m.values(i, j);
    ++k;
  }
  try {
    evaluate({cut}, p.tasks, p.info, cfg);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(m.sources[3]), std::string::npos) << e.what();
  }
  // NaN where a choice must be made.
  const auto col = static_cast<std::size_t>(
      std::find(m.targets.begin(), m.targets.end(), "lapgyn4_anatomical_structures --shrink_train 800") -
      m.targets.begin());
  ASSERT_LT(col, m.targets.size());
  DistanceMatrix nan = m;
  nan.values(1, col) = std::nan("");
  EXPECT_THROW(evaluate({nan}, p.tasks, p.info, cfg), InputError);
  // An unresolved tie in the top 3.
  DistanceMatrix tie = m;
  for (std::size_t i = 0; i < tie.sources.size(); ++i)
    if (i != 0) tie.values(i, col) = 0.5;
  EXPECT_THROW(evaluate({tie}, p.tasks, p.info, cfg), InputError);
}

// A tiny task set where every meta-metric is computed by hand.
class TinyEvaluation : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.path() / "exp");
    std::ofstream(dir.file("tasks.yaml")) << "development: [a, b, c, d, t]\nvalidation: []\n"
                                             "not_shrinkable: [a, b, c, d, t]\n";
    std::ofstream(dir.file("info.csv")) << "name,num_classes,num_samples,keywords,dimensions\n"
                                           "a,2,100,[],1\nb,2,100,[],1\nc,2,100,[],1\nd,2,5,[],1\nt,2,100,[],1\n";
    // Outcomes for target t, seeds 0 and 1; source d has 5 samples.
    std::ofstream out(dir.file("exp/load_arch_experiment%AUROC%True%False.csv"));
    out << ",r,s,t,p\n";
    int i = 0;
    for (auto [s, p0, p1] : {std::tuple{"a", 0.80, 0.82}, {"b", 0.90, 0.90}, {"c", 0.70, 0.74}, {"d", 0.95, 0.97}})
    {
      out << i << ",0," << s << ",t," << p0 << "\n";
      out << i + 1 << ",1," << s << ",t," << p1 << "\n";
      i += 2;
    }
    out.close();
    for (auto shrunk : {"True", "False"})
      std::ofstream(dir.file(std::string("exp/load_baseline_experiment%AUROC%") + shrunk + "%False.csv"))
          << ",t\n0,0.85\n1,0.87\n";
    tasks = TaskSet::load(dir.file("tasks.yaml"));
    info = read_task_info(dir.file("info.csv"));
    distance.metric = "hand";
    // Every development task is a target; only t has outcomes (the others are noted and
    // skipped), so only column t matters: closest to t are a, c, b, then d.
    distance.sources = {"a", "b", "c", "d", "t"};
    distance.targets = distance.sources;
    distance.values = Matrix<double>(5, 5);
    for (std::size_t i = 0; i < 5; ++i)
      for (std::size_t j = 0; j < 5; ++j) distance.values(i, j) = i == j ? 0.0 : 1.0 + 0.1 * static_cast<double>(i);
    const double to_t[5] = {0.1, 0.3, 0.2, 0.9, 0.0};
    for (std::size_t i = 0; i < 5; ++i) distance.values(i, 4) = to_t[i];
    cfg.cache_dir = dir.path().string();
    cfg.validation = false;
    cfg.scenarios = {Scenario::Architecture};
    cfg.metrics = {"AUROC"};
    cfg.top_k = 2;
    cfg.meta_metrics = {MetaMetric::Regret, MetaMetric::Rank, MetaMetric::Delta, MetaMetric::Gain, MetaMetric::Ratio};
  }
  double score(MetaMetric m, const Evaluation& ev) {
    for (const auto& r : ev.rows)
      if (r.meta_metric == m) return r.score;
    return std::nan("");
  }
  test::TempDir dir;
  TaskSet tasks;
  TaskInfoTable info;
  DistanceMatrix distance;
  EvaluationConfig cfg;
};

TEST_F(TinyEvaluation, MetaMetricsByHand) {
  auto ev = evaluate({distance}, tasks, info, cfg);
  ASSERT_EQ(ev.notes.size(), 1u);  // a, b, c, d have no outcomes
  EXPECT_NE(ev.notes[0].find("4 target(s)"), std::string::npos) << ev.notes[0];
  // Seed means: a .81, b .90, c .72, d .96; baseline .86. Top-2: a, c. Oracle: d = .96.
  const double a = 0.81, c = 0.72, o = 0.96, base = 0.86;
  EXPECT_NEAR(score(MetaMetric::Regret, ev), ((1 - (o - a) / (1 - a)) + (1 - (o - c) / (1 - c))) / 2, 1e-12);
  EXPECT_NEAR(score(MetaMetric::Rank, ev), (2.0 / 4 + 1.0 / 4) / 2, 1e-12);
  EXPECT_NEAR(score(MetaMetric::Delta, ev), ((a - base) + (c - base)) / 2, 1e-12);
  EXPECT_NEAR(score(MetaMetric::Gain, ev), 0.0, 0);
  EXPECT_NEAR(score(MetaMetric::Ratio, ev), (a / o + c / o) / 2, 1e-12);
  cfg.mode = TopMode::Best;
  auto best = evaluate({distance}, tasks, info, cfg);
  EXPECT_NEAR(score(MetaMetric::Regret, best), 1 - (o - a) / (1 - a), 1e-12);
  EXPECT_NEAR(score(MetaMetric::Rank, best), 0.5, 1e-12);
}

// Outcomes built in memory (no files: as from transfer results or a knowledge base) give the same
// scores as the same outcomes read from the cache layout; a table the config needs but the data
// lacks is an InputError naming it.
TEST_F(TinyEvaluation, OutcomesHeldInMemoryEvaluateAsFiles) {
  OutcomeData data;
  OutcomeTable t;
  t.names = {"a", "b", "c", "d", "t"};
  const double p[4][2] = {{0.80, 0.82}, {0.90, 0.90}, {0.70, 0.74}, {0.95, 0.97}};
  for (std::uint32_t s = 0; s < 4; ++s)
    for (int r = 0; r < 2; ++r) {
      t.seeds.push_back(r);
      t.sources.push_back(s);
      t.targets.push_back(4);
      t.performance.push_back(p[s][r]);
    }
  data.transfer[{Scenario::Architecture, "AUROC"}] = t;
  BaselineTable base{"", {"t"}, {{0.85, 0.87}}};
  data.baseline_shrunk["AUROC"] = base;
  data.baseline_full["AUROC"] = base;
  const auto from_files = evaluate({distance}, tasks, info, cfg);
  const auto in_memory = evaluate({distance}, tasks, info, data, cfg);
  ASSERT_EQ(in_memory.rows.size(), from_files.rows.size());
  for (std::size_t i = 0; i < in_memory.rows.size(); ++i) {
    EXPECT_EQ(in_memory.rows[i].meta_metric, from_files.rows[i].meta_metric);
    EXPECT_EQ(in_memory.rows[i].score, from_files.rows[i].score) << i;
  }
  EXPECT_NEAR(score(MetaMetric::Delta, in_memory), ((0.81 - 0.86) + (0.72 - 0.86)) / 2, 1e-12);
  cfg.metrics = {"BA"};
  try {
    evaluate({distance}, tasks, info, data, cfg);
    ADD_FAILURE() << "missing BA outcomes were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no BA outcomes for Model Architecture"), std::string::npos) << e.what();
  }
}

// P2L's meta-feature weights enter the affinities: similarity alone (any positive factor) keeps
// the choice; the source-size term alone makes the equally large sources a, b, c tie (d is
// smaller), which top-2 cannot resolve.
TEST_F(TinyEvaluation, MetaFeatureWeightsEnterTheAffinities) {
  const auto plain = evaluate({distance}, tasks, info, cfg);
  cfg.meta_weights["hand"] = {2.0, 0.0};
  const auto scaled = evaluate({distance}, tasks, info, cfg);
  EXPECT_EQ(score(MetaMetric::Regret, scaled), score(MetaMetric::Regret, plain));
  cfg.meta_weights["hand"] = {0.0, 1.0};
  try {
    evaluate({distance}, tasks, info, cfg);
    ADD_FAILURE() << "a tie of equally large sources was resolved";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tie"), std::string::npos) << e.what();
  }
}

// scipy.stats.boxcox (maximum-likelihood lambda) and scipy.stats.zscore, as P2L transforms the
// sample counts, against Debian scipy's values (tests/fixtures/make_p2l_literals.py). Both stop
// Brent's method within its tolerance, but the likelihood's last bits differ (numpy's pow and
// log), so the iterates part: lambda agrees to 1e-6 relative, the z-scores P2L uses to 1e-6.
TEST(MetaFeatures, BoxCoxAndZscoreEqualScipy) {
  std::ifstream in(std::string(TASKFP_FIXTURES) + "/p2l_literals.txt");
  ASSERT_TRUE(in) << "fixtures/p2l_literals.txt is missing";
  auto hexes = [](const std::string& text) {
    std::istringstream words(text);
    std::vector<double> out;
    for (std::string w; words >> w;) out.push_back(test::from_hex<double>(w));
    return out;
  };
  int cases = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts;
    std::size_t at = 0;
    for (std::size_t bar; (bar = line.find('|', at)) != std::string::npos; at = bar + 1) parts.push_back(line.substr(at, bar - at));
    parts.push_back(line.substr(at));
    ASSERT_EQ(parts.size(), 5u);
    const auto x = hexes(parts[1]), t = hexes(parts[3]), z = hexes(parts[4]);
    const double lambda = hexes(parts[2]).at(0);
    const auto bc = boxcox_mle(x);
    EXPECT_NEAR(bc.lambda, lambda, 1e-6 * std::abs(lambda)) << parts[0];
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(bc.values[i], t[i], 1e-6 * (1 + std::abs(t[i]))) << parts[0] << i;
    const auto zs = zscore(bc.values);
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(zs[i], z[i], 1e-6) << parts[0] << i;
    // zscore itself, on scipy's own Box-Cox values: equal to rounding.
    const auto exact = zscore(t);
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(exact[i], z[i], 1e-12) << parts[0] << i;
    ++cases;
  }
  EXPECT_EQ(cases, 4);
  EXPECT_THROW(boxcox_mle({1.0, -2.0}), InputError);
  EXPECT_THROW(boxcox_mle({3.0, 3.0, 3.0}), InputError);
  EXPECT_THROW(boxcox_mle({3.0}), InputError);
  EXPECT_THROW(zscore({1.0, 1.0}), InputError);
}

// The public top-k choice (what `recommend` reuses): decreasing affinity, ties in the given order
// when k separates them, errors naming the distance, target and sources otherwise.
TEST(TopKSources, ChoosesTheHighestAffinitiesInOrder) {
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  EXPECT_EQ(top_k_sources({0.1, 0.5, 0.3, 0.5, -1.0}, 3, names, "m", "t"), (std::vector<std::size_t>{1, 3, 2}));
  EXPECT_EQ(top_k_sources({0.1, 0.5, 0.3, 0.5, -1.0}, 2, names, "m", "t"), (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(top_k_sources({2.0}, 1, {"only"}, "m", "t"), (std::vector<std::size_t>{0}));
  try {
    top_k_sources({0.1, 0.5, 0.3, 0.5, -1.0}, 1, names, "m", "t");
    ADD_FAILURE() << "a tie at place 1 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sources 'b', 'd' tie at place 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(top_k_sources({0.1, std::nan(""), 0.2}, 1, {"a", "b", "c"}, "m", "t"), InputError);
  EXPECT_THROW(top_k_sources({0.1, 0.2}, 3, {"a", "b"}, "m", "t"), InputError);
}

TEST_F(TinyEvaluation, MinSamplesExcludesSmallSources) {
  cfg.min_samples = 10;  // d (5 samples) is no longer valid: oracle b = .90, ranks among 3
  auto ev = evaluate({distance}, tasks, info, cfg);
  const double a = 0.81, c = 0.72, o = 0.90;
  EXPECT_NEAR(score(MetaMetric::Regret, ev), ((1 - (o - a) / (1 - a)) + (1 - (o - c) / (1 - c))) / 2, 1e-12);
  EXPECT_NEAR(score(MetaMetric::Rank, ev), (2.0 / 3 + 1.0 / 3) / 2, 1e-12);
}

TEST_F(TinyEvaluation, SingleSeedsAndBadOutcomeTables) {
  cfg.aggregates = {SeedAggregate::Second};
  auto ev = evaluate({distance}, tasks, info, cfg);
  EXPECT_NEAR(score(MetaMetric::Delta, ev), ((0.82 - 0.87) + (0.74 - 0.87)) / 2, 1e-12);
  {
    std::ofstream out(dir.file("exp/load_arch_experiment%AUROC%True%False.csv"), std::ios::app);
    out << "99,1,a,t,0.5\n";  // duplicate (r, s, t)
  }
  EXPECT_THROW(evaluate({distance}, tasks, info, cfg), InputError);
  std::ofstream(dir.file("exp/load_arch_experiment%AUROC%True%False.csv")) << ",r,s,t,p\n0,0,a,t,0.8\n1,1,a,t,0.8\n2,0,b,t,0.9\n";
  try {
    evaluate({distance}, tasks, info, cfg);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lacks seed"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_scenario("nope"), InputError);
  EXPECT_THROW(parse_meta_metric("nope"), InputError);
  EXPECT_THROW(parse_aggregate("nope"), InputError);
}

TEST(Affinities, ZScoreIgnoresZerosAndNegates) {
  DistanceMatrix d;
  d.sources = {"a", "b"};
  d.targets = {"a", "b"};
  d.values = Matrix<double>(2, 2);
  d.values.data = {0.0, 1.0, 3.0, 0.0};
  auto a = affinities(d);
  EXPECT_TRUE(std::isnan(a.values(0, 0)));
  EXPECT_DOUBLE_EQ(a.values(0, 1), 1.0);   // mean 2, std 1: -(1 - 2) / 1
  EXPECT_DOUBLE_EQ(a.values(1, 0), -1.0);
}

}  // namespace
}  // namespace taskfp
