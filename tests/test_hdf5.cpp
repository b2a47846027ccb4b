// io/hdf5 and the stores' readers on damaged and hostile files: each is refused with a message
// naming the file, before anything is allocated from its sizes; nothing crashes. Stores that
// other tools wrote (h5py: gzip, LZF, shuffle, Fletcher32, fixed-length strings) read as written;
// a filter this HDF5 library lacks and a file another process holds are named as such.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "core/error.hpp"
#include "fingerprint/fingerprint.hpp"
#include "h5py_stores.hpp"
#include "io/hdf5.hpp"
#include "store/distance_store.hpp"
#include "store/features_store.hpp"
#include "store/fingerprint_store.hpp"
#include "synth/synthetic.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

// A valid fingerprint store of 3 tasks x 4 features (5 bins, covariances).
std::string valid_store(const test::TempDir& dir, const std::string& name = "fp.h5") {
  SynthOptions o;
  o.families = 3;
  o.tasks_per_family = 1;
  o.samples = 40;
  o.dim = 4;
  const auto set = synthetic_features(o);
  FingerprintOptions fo;
  fo.bins = {5};
  const auto path = dir.file(name);
  write_fingerprint_store(path, fingerprint(set, compute_ranges(set, set.names()), fo));
  return path;
}

// Edits a store with the HDF5 C API: `edit` gets the open file.
void edit_store(const std::string& path, const std::function<void(hid_t)>& edit) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  edit(f);
  H5Fclose(f);
}

void replace_f64(hid_t f, const std::string& name, const std::vector<hsize_t>& dims,
                 const std::vector<double>& values) {
  H5Ldelete(f, name.c_str(), H5P_DEFAULT);
  const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR)
                                   : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t ds = H5Dcreate2(f, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(ds);
  H5Sclose(space);
}

::testing::AssertionResult refused(const std::function<void()>& read, const std::string& file,
                                   const std::string& words) {
  try {
    read();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.find(file) == std::string::npos)
      return ::testing::AssertionFailure() << "the message names no file: " << msg;
    if (msg.find(words) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << words << "' not in: " << msg;
    if (msg.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "not one line: " << msg;
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "accepted";
}

TEST(Hdf5Store, ValuesTheMethodCannotUseAreRefusedNamingTheTask) {
  test::TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::string dataset;
    std::vector<hsize_t> dims;
    std::vector<double> values;
    std::string words;
  };
  std::vector<double> hist(4 * 5, 0.2);
  auto nan_hist = hist, negative_hist = hist, short_rows = hist;
  nan_hist[7] = nan;
  negative_hist[0] = -0.2, negative_hist[1] = 0.6;
  short_rows[0] = 0.1;
  std::vector<double> cov(16, 0.0);
  auto nan_cov = cov;
  nan_cov[5] = nan;
  for (const auto& c : std::vector<Case>{
           {"tasks/fam0_task0/hist_5", {4, 5}, nan_hist, "fam0_task0"},
           {"tasks/fam0_task0/hist_5", {4, 5}, negative_hist, "probabilities"},
           {"tasks/fam1_task0/hist_5", {4, 5}, short_rows, "summing to"},
           {"tasks/fam0_task0/hist_5", {5, 4}, hist, "shape (5 x 4)"},
           {"tasks/fam0_task0/mean", {4}, {0, nan, 0, 0}, "not a mean of float32 features"},
           {"tasks/fam0_task0/mean", {4}, {0, 1e39, 0, 0}, "not a mean of float32 features"},
           {"tasks/fam0_task0/mean", {}, {1.0}, "rank 0"},  // a scalar where a list belongs
           {"tasks/fam2_task0/covariance", {4, 4}, nan_cov, "not one of float32 features"},
           // Finite but beyond float32 features: FID and CORAL overflowed into infinities.
           {"tasks/fam2_task0/covariance", {4, 4}, std::vector<double>(16, 1e308), "not one of float32"},
           // A covariance of the wrong shape was read out of bounds (exit 0, wrong FID).
           {"tasks/fam2_task0/covariance", {2, 2}, {1, 0, 0, 1}, "shape (2 x 2)"},
           {"tasks/fam2_task0/covariance", {4, 5}, std::vector<double>(20, 0.0), "expected 4 x 4"},
           {"ranges/lo", {4}, {0, nan, 0, 0}, "bin range"},
           {"ranges/hi", {4}, {-1, -1, -1, -1}, "lower <= upper"},  // inverted ranges
           {"ranges/lo", {3}, {0, 0, 0}, "3 lower"},
       }) {
    const auto path = valid_store(dir);
    edit_store(path, [&](hid_t f) { replace_f64(f, c.dataset, c.dims, c.values); });
    EXPECT_TRUE(refused([&] { read_fingerprint_store(path); }, path, c.words)) << c.dataset << ": " << c.words;
  }
  // A store made with its covariances left out still reads, for the metrics that need none.
  const auto path = valid_store(dir);
  EXPECT_NO_THROW(read_fingerprint_store(path));
}

TEST(Hdf5Store, TypesAndShapesAreCheckedBeforeReading) {
  test::TempDir dir;
  {  // an integer where a string attribute belongs, a string where a number belongs
    const auto path = valid_store(dir);
    edit_store(path, [](hid_t f) {
      H5Adelete(f, "taskfp_kind");
      const hid_t space = H5Screate(H5S_SCALAR);
      const hid_t a = H5Acreate2(f, "taskfp_kind", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
      const long long v = 7;
      H5Awrite(a, H5T_NATIVE_LLONG, &v);
      H5Aclose(a);
      H5Sclose(space);
    });
    EXPECT_TRUE(refused([&] { read_fingerprint_store(path); }, path, "expected a string"));
  }
  {  // scaling_subset as numbers instead of names
    const auto path = valid_store(dir);
    edit_store(path, [](hid_t f) { replace_f64(f, "ranges/scaling_subset", {3}, {1, 2, 3}); });
    EXPECT_TRUE(refused([&] { read_fingerprint_store(path); }, path, "expected strings"));
  }
  {  // a dataset declaring 2^40 x 2^20 values in chunks that were never written (64 bytes on disk)
    const auto path = valid_store(dir);
    edit_store(path, [](hid_t f) {
      H5Ldelete(f, "tasks/fam0_task0/hist_5", H5P_DEFAULT);
      hsize_t dims[2] = {hsize_t{1} << 40, hsize_t{1} << 20}, chunk[2] = {1, 1024};
      const hid_t space = H5Screate_simple(2, dims, nullptr);
      const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(dcpl, 2, chunk);
      const hid_t ds = H5Dcreate2(f, "tasks/fam0_task0/hist_5", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      H5Dclose(ds);
      H5Pclose(dcpl);
      H5Sclose(space);
    });
    EXPECT_TRUE(refused([&] { read_fingerprint_store(path); }, path, "damaged"));
  }
  {  // a distance matrix whose values do not match its lists
    const auto path = dir.file("d.h5");
    DistanceMatrix m;
    m.metric = "X";
    m.sources = {"a", "b"};
    m.targets = {"a", "b"};
    m.values = Matrix<double>(2, 2, 0.5);
    write_distance_store(path, {m}, Provenance{});
    edit_store(path, [](hid_t f) { replace_f64(f, "matrices/X/values", {3, 2}, std::vector<double>(6, 0.5)); });
    EXPECT_TRUE(refused([&] { read_distance_matrix(path, "X"); }, path, "does not match"));
  }
}

TEST(Hdf5Store, TruncatedAndOverwrittenFilesAreInvalidStores) {
  test::TempDir dir;
  const auto path = valid_store(dir);
  const auto size = fs::file_size(path);
  for (auto keep : {size / 2, size - 100, std::uintmax_t{600}}) {
    const auto cut = dir.file("cut.h5");
    fs::copy_file(path, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, keep);
    EXPECT_TRUE(refused([&] { read_fingerprint_store(cut); }, cut, "invalid store")) << keep << " bytes kept";
  }
  // Every byte of the second kilobyte set to 0xff (a damaged object header region).
  const auto bad = dir.file("bad.h5");
  fs::copy_file(path, bad, fs::copy_options::overwrite_existing);
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1024);
    const std::string ff(1024, '\xff');
    f.write(ff.data(), static_cast<std::streamsize>(ff.size()));
  }
  EXPECT_THROW(read_fingerprint_store(bad), InputError);
}

TEST(Hdf5Store, TheCheckRunsOncePerFileAndVersion) {
  // A store read twice is checked once; rewritten, it is checked again (and refused if damaged).
  test::TempDir dir;
  const auto path = valid_store(dir);
  EXPECT_NO_THROW(read_fingerprint_store(path));
  EXPECT_NO_THROW(read_fingerprint_store(path));
  fs::resize_file(path, 800);
  EXPECT_TRUE(refused([&] { read_fingerprint_store(path); }, path, "invalid store"));
}

TEST(Hdf5Store, StoresWrittenByH5pyReadAsWritten) {
  test::TempDir dir;
  test::H5pyStores h5py;
  std::string why;
  if (!test::make_h5py_stores(dir, h5py, why)) GTEST_SKIP() << why;
  const auto same_provenance = [](const Provenance& got, const Provenance& want) {
    return got.backbone == want.backbone && got.weights == want.weights &&
           got.weights_checksum == want.weights_checksum &&
           got.preprocessing == want.preprocessing && got.origin == want.origin &&
           got.feature_dim == want.feature_dim;
  };
  for (const auto& variant : test::kH5pyVariants) {
    SCOPED_TRACE(variant);
    // h5py tracks no creation order: tasks come in name order, looked up by name here.
    const auto features = read_features_store(h5py.store("features", variant));
    EXPECT_TRUE(same_provenance(features.provenance, h5py.features.provenance));
    ASSERT_EQ(features.tasks.size(), h5py.features.tasks.size());
    for (const auto& want : h5py.features.tasks) {
      const auto& got = features.at(want.name);
      EXPECT_EQ(got.values.rows, want.values.rows) << want.name;
      EXPECT_EQ(got.values.data, want.values.data) << want.name;
    }
    const auto fp = read_fingerprint_store(h5py.store("fingerprints", variant));
    EXPECT_TRUE(same_provenance(fp.provenance, h5py.fingerprints.provenance));
    EXPECT_EQ(fp.bins, h5py.fingerprints.bins);
    EXPECT_EQ(fp.ranges.lo, h5py.fingerprints.ranges.lo);
    EXPECT_EQ(fp.ranges.hi, h5py.fingerprints.ranges.hi);
    EXPECT_EQ(fp.ranges.lo_quantile, h5py.fingerprints.ranges.lo_quantile);
    EXPECT_EQ(fp.ranges.hi_quantile, h5py.fingerprints.ranges.hi_quantile);
    EXPECT_EQ(fp.ranges.scaling_subset, h5py.fingerprints.ranges.scaling_subset);
    ASSERT_EQ(fp.tasks.size(), h5py.fingerprints.tasks.size());
    for (const auto& want : h5py.fingerprints.tasks) {
      const auto& got = fp.at(want.name);
      EXPECT_EQ(got.n_samples, want.n_samples) << want.name;
      EXPECT_EQ(got.mean, want.mean) << want.name;
      EXPECT_EQ(got.covariance.data, want.covariance.data) << want.name;
      for (const auto& [b, h] : want.histograms)
        EXPECT_EQ(got.histograms.at(b).data, h.data) << want.name << " " << b;
    }
    for (const auto& want : h5py.matrices) {
      const auto got = read_distance_matrix(h5py.store("distances", variant), want.metric);
      EXPECT_EQ(got.sources, want.sources) << want.metric;
      EXPECT_EQ(got.targets, want.targets) << want.metric;
      EXPECT_EQ(got.values.data, want.values.data) << want.metric;
    }
  }
}

// A pass-through filter under an id for testing, registered while a store is written with it and
// unregistered before it is read: a filter no plugin provides.
constexpr H5Z_filter_t kTestFilter = 256;
size_t pass_through(unsigned, size_t, const unsigned[], size_t nbytes, size_t*, void**) {
  return nbytes;
}
const H5Z_class2_t kTestFilterClass{H5Z_CLASS_T_VERS,     kTestFilter, 1,       1,
                                    "taskfp test filter", nullptr,     nullptr, pass_through};

TEST(Hdf5Store, AFilterThisLibraryLacksIsNamedByTheCheckAndTheReaders) {
  test::TempDir dir;
  const auto path = valid_store(dir);
  ASSERT_GE(H5Zregister(&kTestFilterClass), 0);
  edit_store(path, [](hid_t f) {
    H5Ldelete(f, "tasks/fam0_task0/hist_5", H5P_DEFAULT);
    const hsize_t dims[2] = {4, 5};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, dims);
    H5Pset_filter(dcpl, kTestFilter, H5Z_FLAG_MANDATORY, 0, nullptr);
    const hid_t ds = H5Dcreate2(f, "tasks/fam0_task0/hist_5", H5T_IEEE_F64LE, space, H5P_DEFAULT,
                                dcpl, H5P_DEFAULT);
    const std::vector<double> hist(20, 0.2);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, hist.data());
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  });
  // With the filter, the store is checked (once per file) and read.
  EXPECT_NO_THROW(read_fingerprint_store(path));
  ASSERT_GE(H5Zunregister(kTestFilter), 0);
  const std::string words =
      "filter 256 ('taskfp test filter'), which is not available in this HDF5 library";
  // The file checked already: the reader names the filter.
  EXPECT_TRUE(refused([&] { read_fingerprint_store(path); }, path, words));
  // A copy is checked anew: the check names it alike, and does not call the store invalid.
  const auto copy = dir.file("copy.h5");
  fs::copy_file(path, copy);
  EXPECT_TRUE(refused([&] { read_fingerprint_store(copy); }, copy, words));
  try {
    read_fingerprint_store(copy);
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find("invalid store"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HDF5_PLUGIN_PATH"), std::string::npos) << e.what();
  }
}

// (HDF5_USE_FILE_LOCKING is read once per process: test_cli.cpp checks what it changes.)
TEST(Hdf5Store, AStoreAnotherProcessHoldsOpenForWritingIsNamed) {
  test::TempDir dir;
  for (const bool latest :
       {false, true}) {  // the latest file format also marks it open for writing
    const auto path = dir.file(latest ? "latest.h5" : "held.h5");
    {
      test::H5pyWriter writer(path, latest);
      if (!writer.holding())
        GTEST_SKIP() << "/usr/bin/python3 with h5py is needed (apt-get install python3-h5py)";
      EXPECT_TRUE(
          refused([&] { read_fingerprint_store(path); }, path, "is locked by another process"));
      EXPECT_TRUE(
          refused([&] { read_fingerprint_store(path); }, path, "set HDF5_USE_FILE_LOCKING=FALSE"));
    }
    // The writer gone, the store reads.
    EXPECT_NO_THROW(read_fingerprint_store(path));
  }
}

}  // namespace
}  // namespace taskfp
