// CSV: parsing, the paper's matrix format, exact round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "io/csv.hpp"
#include "store/distance_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

TEST(Csv, QuotedFields) {
  auto rows = parse_csv("a,\"b,c\",\"d \"\"e\"\"\"\n1,2,3\r\n", "t");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b,c", "d \"e\""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_THROW(parse_csv("a,\"b\n", "t"), InputError);
  EXPECT_EQ(csv_field("x,y"), "\"x,y\"");
  EXPECT_EQ(csv_field("plain"), "plain");
}

TEST(Csv, MatrixRoundTripIsExact) {
  test::TempDir dir;
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(-1e3, 1e3);
  DistanceMatrix m;
  m.sources = {"a", "svhn --shrink_train 800", "with,comma"};
  m.targets = {"x", "y"};
  m.values = Matrix<double>(3, 2);
  for (auto& v : m.values.data) v = u(rng) * std::pow(10.0, u(rng) / 100);
  m.values(1, 1) = std::nan("");
  m.values(2, 0) = 1e-300;
  write_distance_csv(dir.file("m.csv"), m);
  auto back = read_distance_csv(dir.file("m.csv"));
  EXPECT_EQ(back.sources, m.sources);
  EXPECT_EQ(back.targets, m.targets);
  for (std::size_t k = 0; k < m.values.data.size(); ++k) {
    if (std::isnan(m.values.data[k])) EXPECT_TRUE(std::isnan(back.values.data[k]));
    else EXPECT_EQ(back.values.data[k], m.values.data[k]);
  }
  std::ifstream in(dir.file("m.csv"));
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, ",x,y");  // pandas' layout: empty corner cell, then target names
}

TEST(Csv, ReadsThePapersMatricesAndWritesThemBackIdentically) {
  TASKFP_REQUIRE_PAPER_CACHE();
  test::TempDir dir;
  auto m = read_distance_csv(test::paper_cache() + "/distances/KLD-PP:NS-W:TS-100-BINS.csv");
  EXPECT_EQ(m.sources.size(), 71u);
  EXPECT_EQ(m.targets.size(), 127u);
  EXPECT_EQ(m.sources.front(), "lapgyn4_anatomical_structures");
  EXPECT_EQ(m.values(0, 0), 0.0);
  write_distance_csv(dir.file("again.csv"), m);
  auto back = read_distance_csv(dir.file("again.csv"));
  EXPECT_EQ(back.values.data, m.values.data);
}

TEST(Csv, BadMatrixFiles) {
  test::TempDir dir;
  std::ofstream(dir.file("ragged.csv")) << ",a,b\ns,1\n";
  std::ofstream(dir.file("text.csv")) << ",a\ns,hello\n";
  std::ofstream(dir.file("dup.csv")) << ",a\ns,1\ns,2\n";
  std::ofstream(dir.file("empty.csv")) << "";
  for (auto f : {"ragged.csv", "text.csv", "dup.csv", "empty.csv", "absent.csv"})
    EXPECT_THROW(read_distance_csv(dir.file(f)), InputError) << f;
}

}  // namespace
}  // namespace taskfp

namespace taskfp {
namespace {

TEST(TaskSetConfig, PaperTaskSetMatchesThePapersTaskOrder) {
  auto dev = parse_task_list(std::string(TASKFP_SOURCE_DIR) + "/configs/tasksets/paper.yaml#development");
  auto val = parse_task_list(std::string(TASKFP_SOURCE_DIR) + "/configs/tasksets/paper.yaml#validation");
  EXPECT_EQ(dev.size(), 28u);
  EXPECT_EQ(val.size(), 43u);
  auto groups = parse_task_list(std::string(TASKFP_SOURCE_DIR) + "/configs/tasksets/paper.yaml#groups.xray");
  EXPECT_EQ(groups, (std::vector<std::string>{"pneumonia_classification", "covid_xray_classification"}));
  EXPECT_THROW(parse_task_list(std::string(TASKFP_SOURCE_DIR) + "/configs/tasksets/paper.yaml#nope"), InputError);
  TASKFP_REQUIRE_PAPER_CACHE();
  // The paper's matrices list the development tasks first, then the validation tasks.
  auto m = read_distance_csv(test::paper_cache() + "/distances/KLD-PP:NS-1000-BINS.csv");
  std::vector<std::string> all = dev;
  all.insert(all.end(), val.begin(), val.end());
  EXPECT_EQ(m.sources, all);
}

TEST(TaskList, CommaListsFilesAndErrors) {
  test::TempDir dir;
  std::ofstream(dir.file("names.txt")) << "# comment\nsvhn --shrink_train 800\n\n  mnist  \n";
  EXPECT_EQ(parse_task_list("@" + dir.file("names.txt")),
            (std::vector<std::string>{"svhn --shrink_train 800", "mnist"}));
  EXPECT_EQ(parse_task_list("a, b ,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_THROW(parse_task_list("a,a"), InputError);
  EXPECT_THROW(parse_task_list(""), InputError);
  EXPECT_THROW(parse_task_list("@" + dir.file("absent.txt")), InputError);
}

}  // namespace
}  // namespace taskfp
