// io/hdf5 and the stores' readers on damaged and hostile files: each is refused with a message
// naming the file, before anything is allocated from its sizes; nothing crashes.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "core/error.hpp"
#include "fingerprint/fingerprint.hpp"
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

}  // namespace
}  // namespace taskfp
