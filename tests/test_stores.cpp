// Stores and imports: round trips, provenance, atomic writes, and every bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include <random>

#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

#include "core/error.hpp"
#include "fingerprint/fingerprint.hpp"
#include "io/hdf5.hpp"
#include "mpi/world.hpp"
#include "io/npy.hpp"
#include "store/features_store.hpp"
#include "store/fingerprint_store.hpp"
#include "synth/synthetic.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

FeatureSet small_features() {
  SynthOptions o;
  o.families = 2;
  o.tasks_per_family = 2;
  o.samples = 50;
  o.dim = 6;
  return synthetic_features(o);
}

TEST(FeaturesStore, RoundTripKeepsValuesAndProvenance) {
  test::TempDir dir;
  auto set = small_features();
  set.provenance.backbone = "resnet34";
  write_features_store(dir.file("f.h5"), set);
  auto back = read_features_store(dir.file("f.h5"));
  ASSERT_EQ(back.names(), set.names());
  for (std::size_t i = 0; i < set.tasks.size(); ++i)
    EXPECT_EQ(back.tasks[i].values.data, set.tasks[i].values.data);
  EXPECT_EQ(back.provenance.backbone, "resnet34");
  EXPECT_EQ(back.provenance.feature_dim, 6);
  auto some = read_features_store(dir.file("f.h5"), {std::vector<std::string>{"fam1_task0"}, 2});
  ASSERT_EQ(some.tasks.size(), 1u);
  EXPECT_EQ(some.tasks[0].name, "fam1_task0");
}

TEST(FeaturesStore, MissingTasksAreNamed) {
  test::TempDir dir;
  write_features_store(dir.file("f.h5"), small_features());
  try {
    read_features_store(dir.file("f.h5"), {std::vector<std::string>{"fam0_task0", "ghost"}, 2});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'ghost'"), std::string::npos) << e.what();
  }
}

TEST(FeaturesStore, RefusesBadFeatures) {
  auto set = small_features();
  set.tasks[1].values(3, 2) = std::nanf("");
  EXPECT_THROW(validate_features(set, 2, "x"), InputError);
  set = small_features();
  set.tasks[0].values(0, 0) = INFINITY;
  EXPECT_THROW(validate_features(set, 2, "x"), InputError);
  set = small_features();
  set.tasks[2].values = Matrix<float>(1, 6, 1.0f);
  EXPECT_THROW(validate_features(set, 2, "x"), InputError);  // fewer than 2 samples
  EXPECT_NO_THROW(validate_features(set, 1, "x"));
  set = small_features();
  set.tasks[2].values = Matrix<float>(50, 5, 1.0f);
  EXPECT_THROW(validate_features(set, 2, "x"), InputError);  // differing feature sizes
  set = small_features();
  set.tasks[1].name = "a/b";
  EXPECT_THROW(validate_features(set, 2, "x"), InputError);
}

TEST(FeaturesStore, FailedWriteLeavesNothing) {
  test::TempDir dir;
  auto set = small_features();
  set.tasks[1].values(0, 0) = std::nanf("");
  EXPECT_THROW(write_features_store(dir.file("f.h5"), set), InputError);
  EXPECT_TRUE(fs::is_empty(dir.path()));
  {
    // An error halfway through writing removes the temporary file and keeps the old store.
    auto good = small_features();
    write_features_store(dir.file("g.h5"), good);
    auto before = fs::file_size(dir.file("g.h5"));
    {
      h5::AtomicWrite w(dir.file("g.h5"));
      h5::Handle g = h5::group(w.file(), "x", true);
    }  // no commit
    EXPECT_EQ(fs::file_size(dir.file("g.h5")), before);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file();
    EXPECT_EQ(files, 1u);
  }
}

TEST(FeaturesStore, WrongKindOfFileIsRefused) {
  test::TempDir dir;
  std::ofstream(dir.file("text.h5")) << "not hdf5";
  EXPECT_THROW(read_features_store(dir.file("text.h5")), InputError);
  EXPECT_THROW(read_features_store(dir.file("absent.h5")), InputError);
  auto set = small_features();
  auto ranges = compute_ranges(set, set.names());
  write_fingerprint_store(dir.file("fp.h5"), fingerprint(set, ranges, {{5}, false, {}}));
  EXPECT_THROW(read_features_store(dir.file("fp.h5")), InputError);  // a fingerprint store
}


TEST(NpyImport, PaperLayoutWithSpacesInNames) {
  test::TempDir dir;
  auto set = small_features();
  for (const auto& name : {std::string("svhn"), std::string("svhn --shrink_train 800")}) {
    fs::create_directories(dir.path() / name);
    write_npy_matrix((dir.path() / name / "features_0001.npy").string(), set.tasks[0].values);
  }
  auto imported = import_npy_folder(dir.path().string());
  ASSERT_EQ(imported.names(), (std::vector<std::string>{"svhn", "svhn --shrink_train 800"}));
  EXPECT_EQ(imported.tasks[1].values.data, set.tasks[0].values.data);
  EXPECT_EQ(imported.provenance.feature_dim, 6);
}

TEST(NpyImport, Float64AndFortranOrder) {
  test::TempDir dir;
  // 2 x 3 array [[1, 2, 3], [4, 5, 6]] stored as float64 in Fortran order: 1 4 2 5 3 6.
  std::string payload;
  for (double v : {1.0, 4.0, 2.0, 5.0, 3.0, 6.0}) payload.append(reinterpret_cast<const char*>(&v), 8);
  test::write_npy_raw(dir.file("a.npy"), "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", payload);
  auto m = read_npy_matrix(dir.file("a.npy"));
  ASSERT_EQ(m.rows, 2u);
  ASSERT_EQ(m.cols, 3u);
  EXPECT_EQ(std::vector<float>(m.data.begin(), m.data.end()), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

// Larger than the reader's conversion pieces (4 MiB), in every layout and dtype it converts.
TEST(NpyImport, LargeArraysInEveryLayoutReadValueForValue) {
  test::TempDir dir;
  const std::size_t n = 1500, d = 700;  // 8.4 MB as float64
  auto value = [](std::size_t r, std::size_t c) { return static_cast<float>(r) * 0.5f - static_cast<float>(c) * 0.25f; };
  for (const bool f64 : {false, true})
    for (const bool fortran : {false, true}) {
      std::string payload;
      for (std::size_t k = 0; k < n * d; ++k) {
        const std::size_t r = fortran ? k % n : k / d, c = fortran ? k / n : k % d;
        const float v = value(r, c);
        if (f64) {
          const double x = v;
          payload.append(reinterpret_cast<const char*>(&x), 8);
        } else {
          payload.append(reinterpret_cast<const char*>(&v), 4);
        }
      }
      const std::string header = fmt::format("{{'descr': '<f{}', 'fortran_order': {}, 'shape': ({}, {}), }}",
                                             f64 ? 8 : 4, fortran ? "True" : "False", n, d);
      test::write_npy_raw(dir.file("big.npy"), header, payload);
      const auto m = read_npy_matrix(dir.file("big.npy"));
      ASSERT_EQ(m.rows, n);
      ASSERT_EQ(m.cols, d);
      std::size_t wrong = 0;
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t c = 0; c < d; ++c) wrong += m(r, c) != value(r, c);
      EXPECT_EQ(wrong, 0u) << header;
      // One byte short: an error naming the file, whichever piece runs short.
      test::write_npy_raw(dir.file("big.npy"), header, payload.substr(0, payload.size() - 1));
      EXPECT_THROW(read_npy_matrix(dir.file("big.npy")), InputError) << header;
    }
}

TEST(NpyImport, BadFilesAreClearErrors) {
  test::TempDir dir;
  std::string four(16, '\0');
  test::write_npy_raw(dir.file("complex.npy"),
                "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 1), }", four);
  test::write_npy_raw(dir.file("rank1.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four);
  test::write_npy_raw(dir.file("rank3.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", four);
  test::write_npy_raw(dir.file("short.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", four);
  std::ofstream(dir.file("junk.npy")) << "hello";
  for (auto [file, words] : {std::pair{"complex.npy", "dtype"},
                             {"rank1.npy", "rank 1"},
                             {"rank3.npy", "rank 3"},
                             {"short.npy", "truncated"},
                             {"junk.npy", "not a NumPy"},
                             {"absent.npy", "cannot open"}}) {
    try {
      read_npy_matrix(dir.file(file));
      ADD_FAILURE() << file;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  }
}

// Sizes in a header are checked against the file before anything is allocated: shapes whose
// element or byte count overflows 64 bits (2^62 x 4 wraps to 0), and shapes that fit in 64 bits
// but not in the file (10^6 x 10^6 float32 is 4 TB; the files hold 16 bytes).
TEST(NpyImport, HeaderSizesAreCheckedAgainstTheFileBeforeAllocating) {
  test::TempDir dir;
  const std::string sixteen(16, '\0');
  struct Case {
    std::string header, words;
  };
  for (const auto& c : std::vector<Case>{
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
            "too large"},
           {"{'descr': '<f4', 'fortran_order': True, 'shape': (4611686018427387904, 4), }",
            "too large"},
           {"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4611686018427387904), }",
            "too large"},
           {"{'descr': '<f8', 'fortran_order': True, 'shape': (4611686018427387904, 4), }",
            "too large"},
           // 2^61 x 2 values fit in 64 bits, their 2^64 bytes as float64 do not.
           {"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 2), }",
            "too large"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", "truncated"},
           {"{'descr': '<f8', 'fortran_order': True, 'shape': (1000000, 1000000), }", "truncated"},
           // One value more than the 16 bytes hold.
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 1), }", "truncated"},
           {"{'descr': '<f8', 'fortran_order': True, 'shape': (1, 3), }", "truncated"},
       }) {
    test::write_npy_raw(dir.file("huge.npy"), c.header, sixteen);
    try {
      const auto m = read_npy_matrix(dir.file("huge.npy"));
      ADD_FAILURE() << c.header << " was read as " << m.rows << " x " << m.cols;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("huge.npy"), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.words), std::string::npos) << c.header << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  // The 16 bytes as exactly the 2 x 2 float32 or 2 x 1 float64 the header says: read.
  test::write_npy_raw(dir.file("ok.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                sixteen);
  EXPECT_EQ(read_npy_matrix(dir.file("ok.npy")).rows, 2u);
  test::write_npy_raw(dir.file("ok.npy"), "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 1), }",
                sixteen);
  EXPECT_EQ(read_npy_matrix(dir.file("ok.npy")).rows, 2u);
}

// Every header field is checked strictly (numpy's own reader demands exactly these three keys, a
// tuple of integers as the shape and True/False as the order); bytes after the array are refused
// (a header whose shape undercounts the data, or several arrays in one file).
TEST(NpyImport, HeaderFieldsAreCheckedStrictly) {
  test::TempDir dir;
  const std::string sixteen(16, '\0');
  const std::string order = "'fortran_order': False, ";
  struct Case {
    std::string header, words;
  };
  for (const auto& c : std::vector<Case>{
           {"{'descr': '<c8', " + order + "'shape': (2, 1), }", "complex"},
           {"{'descr': '|b1', " + order + "'shape': (4, 4), }", "booleans"},
           {"{'descr': '<f16', " + order + "'shape': (1, 1), }", "long double"},
           {"{'descr': '<U2', " + order + "'shape': (1, 2), }", "text"},
           {"{'descr': '|O', " + order + "'shape': (2, 1), }", "objects"},
           {"{'descr': '<i3', " + order + "'shape': (1, 1), }", "dtype"},
           {"{'descr': 'f4', " + order + "'shape': (2, 2), }", "dtype"},
           {"{'descr': '', " + order + "'shape': (2, 2), }", "dtype"},
           {"{'descr': '<f4\\x00', " + order + "'shape': (2, 2), }", "dtype"},
           {"{'descr': [('a', '<f4')], " + order + "'shape': (2, 2), }", "descr"},
           {"{'descr': '<f4', 'fortran_order': 1, 'shape': (2, 2), }", "fortran_order"},
           {"{'descr': '<f4', 'fortran_order': 'False', 'shape': (2, 2), }", "fortran_order"},
           {"{'descr': '<f4', " + order + "'shape': (2, -2), }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (2, 2.0), }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (2, 0x2), }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (2L, 2L), }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (2,, 2), }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': [2, 2], }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (99999999999999999999, 2), }", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (), }", "rank 0"},
           {"{'descr': '<f4', " + order + "'shape': (4, 0), }", "no features"},
           {"{" + order + "'shape': (2, 2), }", "descr"},
           {"{'descr': '<f4', 'shape': (2, 2), }", "fortran_order"},
           {"{'descr': '<f4', " + order + "}", "shape"},
           {"{'descr': '<f4', " + order + "'shape': (2, 2), 'extra': 1, }", "'extra'"},
           {"{'descr': '<f4', 'descr': '<f4', " + order + "'shape': (2, 2), }", "twice"},
           {"{'descr': '<f4', " + order + "'shape': (2, 2), } junk", "malformed"},
           {"{'descr': '<f4', " + order + "'shape': (2, 2)", "malformed"},
           {"descr: <f4", "malformed"},
           // 16 bytes where the header says 8: the shape does not describe the data.
           {"{'descr': '<f4', " + order + "'shape': (1, 2), }", "after"},
       }) {
    test::write_npy_raw(dir.file("bad.npy"), c.header, sixteen);
    try {
      read_npy_matrix(dir.file("bad.npy"));
      ADD_FAILURE() << c.header << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("bad.npy"), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.words), std::string::npos) << c.header << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  // What numpy itself writes or reads is accepted: double quotes, a trailing comma in the shape,
  // no trailing comma after the last item, any key order.
  for (const std::string header :
       {"{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 2,)}",
        "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{'descr':'<f4','fortran_order':False,'shape':(2,2)}"}) {
    test::write_npy_raw(dir.file("ok.npy"), header, sixteen);
    const auto m = read_npy_matrix(dir.file("ok.npy"));
    EXPECT_EQ(m.rows, 2u) << header;
    EXPECT_EQ(m.cols, 2u) << header;
  }
  // An unknown format version.
  {
    std::ofstream out(dir.file("v9.npy"), std::ios::binary);
    out.write("\x93NUMPY\x09\x00\x10\x00", 10);
    out << "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }" << sixteen;
  }
  try {
    read_npy_matrix(dir.file("v9.npy"));
    ADD_FAILURE() << "version 9 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos) << e.what();
  }
}

TEST(NpyImport, EmptyOrMissingFolders) {
  test::TempDir dir;
  EXPECT_THROW(import_npy_folder(dir.file("absent")), InputError);
  EXPECT_THROW(import_npy_folder(dir.path().string()), InputError);  // no task folders
}

TEST(FingerprintStore, RoundTripAndSelectiveLoad) {
  test::TempDir dir;
  auto set = small_features();
  auto ranges = compute_ranges(set, {"fam0_task0", "fam1_task0"});
  auto fps = fingerprint(set, ranges, {{10, 3}, true, {}});
  write_fingerprint_store(dir.file("fp.h5"), fps);
  auto back = read_fingerprint_store(dir.file("fp.h5"));
  EXPECT_EQ(back.bins, (std::vector<int>{3, 10}));
  EXPECT_EQ(back.ranges.lo, ranges.lo);
  EXPECT_EQ(back.ranges.hi, ranges.hi);
  EXPECT_EQ(back.ranges.scaling_subset, ranges.scaling_subset);
  ASSERT_EQ(back.names(), fps.names());
  for (std::size_t i = 0; i < fps.tasks.size(); ++i) {
    EXPECT_EQ(back.tasks[i].mean, fps.tasks[i].mean);
    EXPECT_EQ(back.tasks[i].covariance.data, fps.tasks[i].covariance.data);
    EXPECT_EQ(back.tasks[i].histograms.at(10).data, fps.tasks[i].histograms.at(10).data);
    EXPECT_EQ(back.tasks[i].n_samples, 50);
  }
  auto some = read_fingerprint_store(dir.file("fp.h5"), {std::vector<std::string>{"fam1_task1"},
                                                         std::vector<int>{3}, false});
  ASSERT_EQ(some.tasks.size(), 1u);
  EXPECT_TRUE(some.tasks[0].covariance.empty());
  EXPECT_EQ(some.tasks[0].histograms.count(10), 0u);
  EXPECT_THROW(read_fingerprint_store(dir.file("fp.h5"), {std::nullopt, std::vector<int>{100}, false}),
               InputError);
  // No raw features in a fingerprint store.
  h5::Handle f = h5::open_read(dir.file("fp.h5"));
  EXPECT_FALSE(h5::exists(f.get(), "tasks/fam0_task0/features"));
}

TEST(Fingerprint, RefusesRangesOfOtherFeatures) {
  auto set = small_features();
  auto ranges = compute_ranges(set, set.names());
  auto other = set;
  other.provenance.backbone = "dino";
  EXPECT_THROW(fingerprint(other, ranges, {{5}, false, {}}), ProvenanceError);
  other = set;
  other.provenance.weights_checksum = "abc";
  EXPECT_THROW(fingerprint(other, ranges, {{5}, false, {}}), ProvenanceError);
  EXPECT_THROW(compute_ranges(set, {"fam0_task0", "ghost"}), InputError);
}

TEST(Fingerprint, MomentsMatchDirectFormulas) {
  Matrix<float> x(3, 2);
  x.data = {1, 2, 3, 6, 5, 10};
  auto mean = feature_mean(x);
  EXPECT_DOUBLE_EQ(mean[0], 3.0);
  EXPECT_DOUBLE_EQ(mean[1], 6.0);
  auto cov = feature_covariance(x, mean);
  // np.cov(rowvar=False), ddof 1: var0 = (4+0+4)/2 = 4, var1 = (16+0+16)/2 = 16, cov = (8+0+8)/2.
  EXPECT_DOUBLE_EQ(cov(0, 0), 4.0);
  EXPECT_DOUBLE_EQ(cov(1, 1), 16.0);
  EXPECT_DOUBLE_EQ(cov(0, 1), 8.0);
  EXPECT_DOUBLE_EQ(cov(1, 0), 8.0);
}

TEST(Fingerprint, CovarianceSumsEachEntryInSampleOrderForAnyThreadCountAndInstructionSet) {
  // 37 features (edges of the 8 x 16 and 4 x 8 tiles) and 300 samples (three passes of 128):
  // every entry equals, bit for bit, a plain loop that accumulates fused multiply-adds in sample
  // order and scales by 1 / (n - 1), whatever the thread count and instruction set.
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.5f, 2.0f);
  Matrix<float> x(300, 37);
  for (auto& v : x.data) v = noise(rng);
  const auto mean = feature_mean(x);
  Matrix<double> want(37, 37);
  for (std::size_t a = 0; a < 37; ++a)
    for (std::size_t b = 0; b < 37; ++b) {
      double sum = 0.0;
      for (std::size_t i = 0; i < 300; ++i)
        sum = std::fma(static_cast<double>(x(i, a)) - mean[a], static_cast<double>(x(i, b)) - mean[b], sum);
      want(a, b) = sum * (1.0 / 299.0);
    }
  const int before = omp_get_max_threads();
  for (auto simd : {SimdLevel::Best, SimdLevel::Avx2, SimdLevel::Baseline})
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      const auto cov = feature_covariance(x, mean, simd);
      for (std::size_t a = 0; a < 37; ++a)
        for (std::size_t b = 0; b < 37; ++b)
          ASSERT_EQ(cov(a, b), want(std::min(a, b), std::max(a, b)))
              << a << "," << b << ", " << threads << " threads, level " << static_cast<int>(simd);
    }
  omp_set_num_threads(before);
}

TEST(Fingerprint, HistogramRowsAreProbabilities) {
  auto set = small_features();
  auto ranges = compute_ranges(set, set.names());
  auto h = histogram(set.tasks[0].values, ranges, 7);
  for (std::size_t f = 0; f < h.rows; ++f) {
    double s = 0;
    for (double v : h.row(f)) s += v;
    EXPECT_NEAR(s, 1.0, 1e-15);
  }
}

}  // namespace
}  // namespace taskfp

namespace taskfp {
namespace {

// Shares of rows over ranks: contiguous, covering, in whole granules, empty past the end.
TEST(DistShare, ContiguousGranulesCoverEveryRowOnce) {
  for (std::size_t n : {0u, 1u, 2u, 15u, 16u, 17u, 40u, 127u, 1000u})
    for (int size : {1, 2, 3, 5, 8})
      for (std::size_t granule : {1u, 16u}) {
        std::size_t next = 0;
        for (int r = 0; r < size; ++r) {
          const auto [b, e] = mpi::share(n, r, size, granule);
          ASSERT_EQ(b, std::min(next, n)) << n << " " << size << " " << r;
          ASSERT_LE(b, e);
          if (e < n) {
            EXPECT_EQ(e % granule, 0u) << n << " " << size << " " << r;
          }
          next = e;
        }
        EXPECT_EQ(next, n) << n << " " << size;
      }
  // 127 rows over 3 ranks in granules of 16: 8 granules -> 3, 3, 2.
  EXPECT_EQ(mpi::share(127, 0, 3, 16), (std::pair<std::size_t, std::size_t>{0, 48}));
  EXPECT_EQ(mpi::share(127, 1, 3, 16), (std::pair<std::size_t, std::size_t>{48, 96}));
  EXPECT_EQ(mpi::share(127, 2, 3, 16), (std::pair<std::size_t, std::size_t>{96, 127}));
  // Without MPI started, a world of one: gathering returns the block itself.
  Matrix<double> m(2, 3, 1.5);
  EXPECT_EQ(mpi::gather_rows(m).data, m.data);
  EXPECT_FALSE(mpi::world().distributed());
}

}  // namespace
}  // namespace taskfp
