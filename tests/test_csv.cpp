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

namespace taskfp {
namespace {

// Literals printed by tests/fixtures/make_pandas_parse_literals.py with pandas 1.5: the value
// pandas' default read_csv gives, and the correctly rounded value.
TEST(CsvNumbers, PandasDefaultParserAndExactParser) {
  struct Case {
    const char* text;
    double pandas_default, exact;
  };
  const Case cases[] = {
    {"0.9857772", 0x1.f8b7ca0648ef6p-1, 0x1.f8b7ca0648ef6p-1},
    {"0.996212124824524", 0x1.fe0f840000001p-1, 0x1.fe0f840000001p-1},
    {"0.9886363744735718", 0x1.fa2e8c0000000p-1, 0x1.fa2e8c0000000p-1},
    {"1.0", 0x1.0000000000000p+0, 0x1.0000000000000p+0},
    {"0", 0x0.0p+0, 0x0.0p+0},
    {"-0.5", -0x1.0000000000000p-1, -0x1.0000000000000p-1},
    {"0.00018083211", 0x1.7b3b7ff3d93dbp-13, 0x1.7b3b7ff3d93dbp-13},
    {"25.928410331", 0x1.9edac4ca8e9ddp+4, 0x1.9edac4ca8e9ddp+4},
    {"106.65794023", 0x1.aaa1bb156a4a7p+6, 0x1.aaa1bb156a4a7p+6},
    {"1e-5", 0x1.4f8b588e368f1p-17, 0x1.4f8b588e368f1p-17},
    {"3.14159E+2", 0x1.3a28b43958106p+8, 0x1.3a28b43958106p+8},
    {"123456789012345678", 0x1.b69b4ba630f35p+56, 0x1.b69b4ba630f35p+56},
    {"0.12345678901234567890", 0x1.f9add3746f659p-4, 0x1.f9add3746f65fp-4},
    {"4.9406564584124654e-324", 0x0.0000000000001p-1022, 0x0.0000000000001p-1022},
    {"1.7976931348623157e308", 0x1.fffffffffffffp+1023, 0x1.fffffffffffffp+1023},
    {"0.30000000000000004", 0x1.3333333333333p-2, 0x1.3333333333334p-2},
    {"2.2250738585072014e-308", 0x1.0000000000000p-1022, 0x1.0000000000000p-1022},
    {"0.9730556011199951", 0x1.f234580000001p-1, 0x1.f234580000000p-1},
    {"0.9769444465637207", 0x1.f432100000001p-1, 0x1.f432100000000p-1},
    {"0.9925010800361632", 0x1.fc2919fffffffp-1, 0x1.fc2919fffffffp-1},
    {"0.9930561780929564", 0x1.fc71dbfffffffp-1, 0x1.fc71dbfffffffp-1},
    {"0.1813081535", 0x1.7351b06e3ec46p-3, 0x1.7351b06e3ec46p-3},
    {"0.45720986150297305", 0x1.d42ed26a417e5p-2, 0x1.d42ed26a417e6p-2},
    {"1.5791323551442045", 0x1.9442049d665a5p+0, 0x1.9442049d665a5p+0},
  };
  int differing = 0;
  for (const auto& c : cases) {
    EXPECT_EQ(*parse_csv_double(c.text, FloatParser::PandasDefault), c.pandas_default) << c.text;
    EXPECT_EQ(*parse_csv_double(c.text, FloatParser::Exact), c.exact) << c.text;
    differing += c.pandas_default != c.exact;
  }
  EXPECT_GE(differing, 4);
  EXPECT_FALSE(parse_csv_double("1.5x", FloatParser::PandasDefault).has_value());
  EXPECT_FALSE(parse_csv_double("abc", FloatParser::PandasDefault).has_value());
  EXPECT_TRUE(std::isnan(*parse_csv_double("", FloatParser::PandasDefault)));
}

}  // namespace
}  // namespace taskfp
