// CSV: parsing, the paper's matrix format, exact round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "evaluate/outcomes.hpp"
#include "images/image_taskset.hpp"
#include "io/csv.hpp"
#include "io/task_info.hpp"
#include "io_format_fixtures.hpp"
#include "store/distance_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

TEST(Csv, QuotedFields) {
  auto rows = parse_csv("a,\"b,c\",\"d \"\"e\"\"\"\n1,2,3\r\n", "t");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "b,c", "d \"e\""}));
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"1", "2", "3"}));
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

namespace taskfp {
namespace {

// Records start on the line of the file they start on: blank lines, line breaks inside quotes,
// CRLF and lone CR (old Mac files) all count.
TEST(Csv, RecordsKnowTheirLine) {
  const auto rows = parse_csv("a,b\r\n\r\n\"x\ny\",1\r2,3\n\n4,\"\"\n", "t");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].line, 1u);
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"x\ny", "1"}));
  EXPECT_EQ(rows[1].line, 3u);
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(rows[2].line, 5u);
  EXPECT_EQ(rows[3].fields, (std::vector<std::string>{"4", ""}));
  EXPECT_EQ(rows[3].line, 7u);
  try {
    parse_csv("a\nb\n\"c\nd\n", "'f.csv'");
    ADD_FAILURE() << "an unterminated quote was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'f.csv' line 3"), std::string::npos) << e.what();
  }
}

TEST(Csv, ByteOrderMarkIsSkippedAndUtf16Refused) {
  const auto rows = parse_csv("\xef\xbb\xbfpath,label\r\nx.png,a\r\n", "t");
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"path", "label"}));
  EXPECT_EQ(rows[0].line, 1u);
  for (const std::string& text :
       {std::string("\xff\xfep\0a\0", 6), std::string("\xfe\xff\0p\0a", 6)}) {
    try {
      parse_csv(text, "'u.csv'");
      ADD_FAILURE() << "UTF-16 was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'u.csv' is UTF-16"), std::string::npos) << e.what();
    }
  }
}

// The one set of spellings (io/csv.hpp), for both parsers: what pandas, R and numpy write for
// missing and infinite values, and nothing else.
TEST(CsvNumbers, OneSetOfSpellingsForMissingAndInfiniteValues) {
  for (const auto parser : {FloatParser::Exact, FloatParser::PandasDefault}) {
    for (const char* missing : {"", "  ", "NA", "NaN", "nan", "NAN", "-nan", "+NaN", " NA "})
      EXPECT_TRUE(std::isnan(parse_csv_double(missing, parser).value_or(0)))
          << "'" << missing << "'";
    for (const char* up : {"inf", "Inf", "INF", "+inf", "infinity", "Infinity", " inf", "1e999"})
      EXPECT_EQ(parse_csv_double(up, parser).value_or(0), INFINITY) << up;
    for (const char* down : {"-inf", "-Inf", "-Infinity", "-1e999"})
      EXPECT_EQ(parse_csv_double(down, parser).value_or(0), -INFINITY) << down;
    EXPECT_EQ(parse_csv_double("+1.5", parser).value_or(0), 1.5);
    EXPECT_EQ(parse_csv_double(" -2 ", parser).value_or(0), -2.0);
    EXPECT_EQ(parse_csv_double("1e-400", parser).value_or(1), 0.0);
    for (const char* bad : {"N/A", "NULL", "None", "na", "nan(1)", "infx", "in", "--1", "+-1",
                            "-+1", "+", "-", "1,5", "1.5x", "0x10", "#N/A", "e5", ".", "1e"})
      EXPECT_FALSE(parse_csv_double(bad, parser).has_value()) << "'" << bad << "'";
  }
}

// The files pandas and R wrote (tests/fixtures/io_formats): a byte-order mark, CRLF, names with
// commas and quotes, NaN written as '', NA, NaN or nan, infinities as inf or Inf; taskfp reads
// what pandas reads from them, with either parser.
TEST(Csv, MatricesWrittenByPandasAndRReadAsPandasReadsThem) {
  const auto records = test::io_fixture_records();
  std::size_t files = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].front() != "matrix") continue;
    ++files;
    const auto& file = records[i][1];
    for (const auto& [parser, key] :
         {std::pair{FloatParser::Exact, "exact"}, {FloatParser::PandasDefault, "pandas"}}) {
      const auto m = read_matrix_csv(test::io_fixture(file), parser);
      EXPECT_EQ(m.row_names, test::hex_names(test::io_fixture_field(records, i, "rows"))) << file;
      EXPECT_EQ(m.col_names, test::hex_names(test::io_fixture_field(records, i, "cols"))) << file;
      const auto expected = test::io_fixture_field(records, i, key);
      ASSERT_EQ(m.values.data.size(), expected.size()) << file;
      for (std::size_t k = 0; k < expected.size(); ++k)
        EXPECT_TRUE(test::same_double(m.values.data[k], test::hex_f64(expected[k])))
            << file << " " << key << " " << k;
    }
  }
  EXPECT_EQ(files, 8u);
}

TEST(Csv, OutcomesTaskInfoAndManifestsWrittenByPandasAndR) {
  const auto records = test::io_fixture_records();
  std::size_t files = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& kind = records[i].front();
    if (kind != "outcomes" && kind != "taskinfo" && kind != "manifest") continue;
    ++files;
    const auto path = test::io_fixture(records[i][1]);
    const auto field = [&](const std::string& key) {
      return test::io_fixture_field(records, i, key);
    };
    if (kind == "outcomes") {
      const auto t = read_outcomes(path);
      std::vector<std::string> seeds, sources, targets;
      for (std::size_t k = 0; k < t.seeds.size(); ++k) {
        seeds.push_back(std::to_string(t.seeds[k]));
        sources.push_back(t.names[t.sources[k]]);
        targets.push_back(t.names[t.targets[k]]);
      }
      EXPECT_EQ(seeds, field("seeds"));
      EXPECT_EQ(sources, test::hex_names(field("sources")));
      EXPECT_EQ(targets, test::hex_names(field("targets")));
      const auto p = field("p");
      ASSERT_EQ(t.performance.size(), p.size());
      for (std::size_t k = 0; k < p.size(); ++k)
        EXPECT_TRUE(test::same_double(t.performance[k], test::hex_f64(p[k]))) << k;
    } else if (kind == "taskinfo") {
      const auto info = read_task_info(path);
      const auto names = test::hex_names(field("names"));
      for (std::size_t k = 0; k < names.size(); ++k) {
        const auto& t = info.at(names[k]);
        EXPECT_TRUE(test::same_double(t.num_classes, test::hex_f64(field("num_classes")[k])))
            << path;
        EXPECT_TRUE(test::same_double(t.num_samples, test::hex_f64(field("num_samples")[k])))
            << path;
        EXPECT_TRUE(
            test::same_double(t.imbalance_ratio, test::hex_f64(field("imbalance_ratios")[k])))
            << path;
        EXPECT_TRUE(test::same_double(t.dimensions, test::hex_f64(field("dimensions")[k]))) << path;
      }
    } else {
      ImageTaskSpec spec;
      spec.name = "listed";
      spec.manifest = path;
      const auto images = list_task_images(spec);
      // The train rows, ordered by label, then path (list_task_images' order).
      const auto paths = test::hex_names(field("paths")), labels = test::hex_names(field("labels")),
                 splits = test::hex_names(field("splits"));
      std::vector<std::pair<std::string, std::string>> train;
      for (std::size_t k = 0; k < paths.size(); ++k)
        if (splits[k] == "train")
          train.emplace_back(labels[k],
                             (std::filesystem::path(path).parent_path() / paths[k]).string());
      std::sort(train.begin(), train.end());
      ASSERT_EQ(images.files.size(), train.size());
      for (std::size_t k = 0; k < train.size(); ++k) {
        EXPECT_EQ(images.files[k], train[k].second);
        EXPECT_EQ(images.classes[static_cast<std::size_t>(images.labels[k])], train[k].first);
      }
    }
  }
  EXPECT_EQ(files, 4u);  // outcomes, task info by pandas and by R, a manifest
}

// Each numeric column has its rule, and a refusal names the file, the line (of the file, a quoted
// line break counted) and the column.
TEST(Csv, NumericColumnsRefuseWhatTheirRuleRefusesNamingLineAndColumn) {
  test::TempDir dir;
  struct Case {
    std::string file, text, words;
    std::function<void(const std::string&)> read;
  };
  const auto outcomes = [](const std::string& p) { read_outcomes(p); };
  const auto baselines = [](const std::string& p) { read_baselines(p, SeedAggregate::Mean); };
  const auto task_info = [](const std::string& p) { read_task_info(p); };
  const auto matrix = [](const std::string& p) { read_distance_csv(p); };
  const std::string info_header =
      ",name,num_classes,num_samples,imbalance_ratios,keywords,dimensions\r\n";
  for (const auto& c : std::vector<Case>{
           {"o1.csv", ",r,s,t,p\n0,0,a,\"b\nc\",0.5\n1,1,a,\"b\nc\",NA\n",
            "line 4, column 5 ('p'): 'NA' is a missing value", outcomes},
           {"o2.csv", "\xef\xbb\xbf,r,s,t,p\r\n0,0,a,b,\r\n",
            "line 2, column 5 ('p'): '' is a missing value", outcomes},
           {"o3.csv", ",r,s,t,p\n0,0,a,b,-Inf\n", "line 2, column 5 ('p'): '-Inf' is infinite",
            outcomes},
           {"o4.csv", ",r,s,t,p\n0,0,a,b,0.5\n1,NA,a,b,0.5\n", "line 3, column 2 ('r'): seed 'NA'",
            outcomes},
           {"o5.csv", ",r,s,t,p\n0,0,a,b,N/A\n", "line 2, column 5 ('p'): 'N/A' is not a number",
            outcomes},
           {"b1.csv", ",a,b\n0,0.5,Inf\n", "line 2, column 3 ('b'): 'Inf' is infinite", baselines},
           {"b2.csv", ",a,b\n0,0.5,0.5\n1,nan,0.5\n",
            "line 3, column 2 ('a'): 'nan' is a missing value", baselines},
           {"t1.csv", info_header + "0,x,2,NA,1.5,\"['a']\",3\r\n",
            "line 2, column 4 ('num_samples'): 'NA' is a missing value", task_info},
           {"t2.csv", info_header + "0,x,inf,10,1.5,\"['a']\",3\r\n",
            "line 2, column 3 ('num_classes'): 'inf' is infinite", task_info},
           {"t3.csv", info_header + "0,x,2,10,,\"['a']\",3\r\n",
            "line 2, column 5 ('imbalance_ratios'): '' is a missing value", task_info},
           {"m1.csv", ",a\n\ns,hello\n", "line 3, column 2 ('a'): 'hello' is not a number", matrix},
       }) {
    std::ofstream(dir.file(c.file), std::ios::binary) << c.text;
    try {
      c.read(dir.file(c.file));
      ADD_FAILURE() << c.file << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + dir.file(c.file) + "' " + c.words), std::string::npos)
          << c.file << ": " << msg;
    }
  }
  // What the rules accept: an infinite imbalance ratio; missing and infinite distances.
  std::ofstream(dir.file("t4.csv"), std::ios::binary)
      << info_header << "0,x,2,10,Inf,\"['a']\",3\r\n";
  EXPECT_EQ(read_task_info(dir.file("t4.csv")).at("x").imbalance_ratio, INFINITY);
  std::ofstream(dir.file("m2.csv"), std::ios::binary) << ",a,b,c\ns,NA,-Inf,\n";
  const auto m = read_distance_csv(dir.file("m2.csv"));
  EXPECT_TRUE(std::isnan(m.values(0, 0)));
  EXPECT_EQ(m.values(0, 1), -INFINITY);
  EXPECT_TRUE(std::isnan(m.values(0, 2)));
}

}  // namespace
}  // namespace taskfp
