// NIfTI slices: against nibabel and numpy (fixtures written by tests/fixtures/
// make_nifti_fixtures.py at test time: orientations, data types, scaling, NIfTI-2, 4D, gzip,
// Colin27), hand-checked small volumes, the `nifti:` options, damaged and hostile files, the
// volume cache under threads, and a seeded fuzz of header fields, bytes and lengths.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>
#include <yaml-cpp/yaml.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <typeinfo>

#include "core/error.hpp"
#include "core/text.hpp"
#include "images/image_taskset.hpp"
#include "images/nifti.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

// ---- a NIfTI writer of its own (fields by their offsets in the standard), for the tests that
// do without Python ----

constexpr int kFloat32 = 16, kInt16 = 4, kUint8 = 2;

struct TestVolume {
  int version = 1;
  std::array<std::int64_t, 8> dim = {3, 2, 3, 4, 1, 1, 1, 1};
  int datatype = kFloat32;
  std::string data;  // the voxels, little-endian, x fastest
  double slope = 0, inter = 0;
  int qform_code = 0, sform_code = 1;
  std::array<std::array<double, 4>, 3> srow = {{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}};
  std::array<double, 8> pixdim = {1, 1, 1, 1, 1, 1, 1, 1};
};

template <typename T>
void put(std::string& s, std::size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof v);
}

std::string nifti_bytes(const TestVolume& v) {
  const int bitpix = v.datatype == kFloat32 ? 32 : v.datatype == kInt16 ? 16 : 8;
  if (v.version == 1) {
    std::string h(352, '\0');
    put<std::int32_t>(h, 0, 348);
    for (int i = 0; i < 8; ++i)
      put<std::int16_t>(h, 40 + 2 * i, static_cast<std::int16_t>(v.dim[i]));
    put<std::int16_t>(h, 70, static_cast<std::int16_t>(v.datatype));
    put<std::int16_t>(h, 72, static_cast<std::int16_t>(bitpix));
    for (int i = 0; i < 8; ++i) put<float>(h, 76 + 4 * i, static_cast<float>(v.pixdim[i]));
    put<float>(h, 108, 352.0f);
    put<float>(h, 112, static_cast<float>(v.slope));
    put<float>(h, 116, static_cast<float>(v.inter));
    put<std::int16_t>(h, 252, static_cast<std::int16_t>(v.qform_code));
    put<std::int16_t>(h, 254, static_cast<std::int16_t>(v.sform_code));
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c)
        put<float>(h, 280 + 16 * r + 4 * c, static_cast<float>(v.srow[r][c]));
    std::memcpy(h.data() + 344, "n+1\0", 4);
    return h + v.data;
  }
  std::string h(544, '\0');
  put<std::int32_t>(h, 0, 540);
  std::memcpy(h.data() + 4, "n+2\0\r\n\032\n", 8);
  put<std::int16_t>(h, 12, static_cast<std::int16_t>(v.datatype));
  put<std::int16_t>(h, 14, static_cast<std::int16_t>(bitpix));
  for (int i = 0; i < 8; ++i) put<std::int64_t>(h, 16 + 8 * i, v.dim[i]);
  for (int i = 0; i < 8; ++i) put<double>(h, 104 + 8 * i, v.pixdim[i]);
  put<std::int64_t>(h, 168, 544);
  put<double>(h, 176, v.slope);
  put<double>(h, 184, v.inter);
  put<std::int32_t>(h, 344, v.qform_code);
  put<std::int32_t>(h, 348, v.sform_code);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) put<double>(h, 400 + 32 * r + 8 * c, v.srow[r][c]);
  return h + v.data;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)};
}

std::string gzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// 2 x 3 x 4 float32, value i + 10 j + 100 k.
TestVolume ramp() {
  TestVolume v;
  std::vector<float> values;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) values.push_back(static_cast<float>(i + 10 * j + 100 * k));
  v.data = raw(values);
  return v;
}

NiftiOptions options(const std::string& yaml) {
  return parse_nifti_options(YAML::Load(yaml), "test");
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// ---- against nibabel ----

class NiftiReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    const std::string script =
        std::string(TASKFP_SOURCE_DIR) + "/tests/fixtures/make_nifti_fixtures.py";
    const std::string cmd = "/usr/bin/python3 '" + script + "' '" + dir_->path().string() +
                            "' > '" + dir_->file("log.txt") + "' 2>&1";
    made_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!made_)
      GTEST_SKIP() << "/usr/bin/python3 with nibabel and numpy is needed (apt-get install "
                      "python3-nibabel)";
  }
  static test::TempDir* dir_;
  static bool made_;
};
test::TempDir* NiftiReference::dir_ = nullptr;
bool NiftiReference::made_ = false;

TEST_F(NiftiReference, SlicesAndSelectionsEqualNibabelAndNumpy) {
  std::ifstream tsv(dir_->file("cases.tsv"));
  ASSERT_TRUE(tsv) << "the fixture script wrote no cases.tsv";
  NiftiVolumeCache cache;
  std::string line;
  int cases = 0;
  double worst = 0;
  bool colin = false;
  while (std::getline(tsv, line)) {
    const auto f = split(line, '\t');
    ASSERT_EQ(f.size(), 7u) << line;
    const std::string& name = f[0];
    const std::string& path = f[1];
    SCOPED_TRACE(name);
    colin = colin || name.rfind("ch2", 0) == 0;
    const auto opts = parse_nifti_options(YAML::Load(f[2]), name);
    std::vector<std::int64_t> want;
    if (f[3] != "-")
      for (const auto& s : split(f[3], ',')) want.push_back(*parse_number<std::int64_t>(s));
    const auto rows = *parse_number<int>(f[4]);
    const auto cols = *parse_number<int>(f[5]);
    EXPECT_EQ(nifti_slices(path, opts, cache), want);
    std::vector<float> expected(want.size() * static_cast<std::size_t>(rows * cols));
    std::ifstream(dir_->file(f[6]), std::ios::binary)
        .read(reinterpret_cast<char*>(expected.data()),
              static_cast<std::streamsize>(expected.size() * sizeof(float)));
    for (std::size_t s = 0; s < want.size(); ++s) {
      const Image img = read_nifti_slice(path, want[s], opts, kDefaultMaxImagePixels, cache);
      ASSERT_EQ(img.height, rows);
      ASSERT_EQ(img.width, cols);
      ASSERT_EQ(img.channels, 1);
      ASSERT_TRUE(img.is_unit());
      ASSERT_TRUE(img.samples.empty());
      const float* e = expected.data() + s * static_cast<std::size_t>(rows * cols);
      for (int p = 0; p < rows * cols; ++p) {
        const double d = std::fabs(static_cast<double>(img.unit[p]) - e[p]);
        worst = std::max(worst, d);
        ASSERT_LE(d, 1e-6) << "slice " << want[s] << ", row " << p / cols << ", column " << p % cols
                           << ": " << img.unit[p] << " vs nibabel " << e[p];
      }
    }
    ++cases;
  }
  EXPECT_GE(cases, 60);
  RecordProperty("cases", cases);
  RecordProperty("max_abs_difference", fmt::format("{:.3g}", worst));
  if (!colin) std::cout << "note: /usr/share/mricron/templates/ch2.nii.gz (mricron-data) absent\n";
}

// ---- hand-checked ----

TEST(Nifti, RampSlicesAreCutAsDocumented) {
  test::TempDir dir;
  const auto path = write_file(dir.file("ramp.nii"), nifti_bytes(ramp()));
  NiftiVolumeCache cache;
  const auto mm = options("{intensity: minmax}");  // (v - 0) / 321
  auto u = [](double v) { return static_cast<float>(v / 321.0); };
  // axial k = 1: rows j = 2, 1, 0 (anterior at the top), columns i = 0, 1
  auto axial = read_nifti_slice(dir.file("ramp.nii"), 1, mm, 100, cache);
  ASSERT_EQ(axial.height, 3);
  ASSERT_EQ(axial.width, 2);
  EXPECT_EQ(axial.unit, (std::vector<float>{u(120), u(121), u(110), u(111), u(100), u(101)}));
  // coronal j = 2: rows k = 3 .. 0 (superior at the top), columns i
  auto coronal_opts = mm;
  coronal_opts.axis = NiftiOptions::Axis::coronal;
  auto coronal = read_nifti_slice(path, 2, coronal_opts, 100, cache);
  ASSERT_EQ(coronal.height, 4);
  ASSERT_EQ(coronal.width, 2);
  EXPECT_EQ(coronal.unit[0], u(320));
  EXPECT_EQ(coronal.unit[1], u(321));
  EXPECT_EQ(coronal.unit[6], u(20));
  // sagittal i = 1: rows k = 3 .. 0, columns j = 0 .. 2 (posterior -> anterior)
  auto sagittal_opts = mm;
  sagittal_opts.axis = NiftiOptions::Axis::sagittal;
  auto sagittal = read_nifti_slice(path, 1, sagittal_opts, 100, cache);
  ASSERT_EQ(sagittal.height, 4);
  ASSERT_EQ(sagittal.width, 3);
  EXPECT_EQ(sagittal.unit, (std::vector<float>{u(301), u(311), u(321), u(201), u(211), u(221),
                                               u(101), u(111), u(121), u(1), u(11), u(21)}));
  EXPECT_EQ(cache.stats().decodes, 1u);
  EXPECT_EQ(nifti_slices(path, mm), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(nifti_slices(path, options("{slices: {every: 3}}")), (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(nifti_slices(path, options("{slices: {central: 0.5}}")),
            (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(nifti_slices(path, options("{axis: sagittal, slices: {central: 0.1}}")),
            (std::vector<std::int64_t>{0}));  // at least one: (2 - 1) / 2 = 0
}

// Task sets: the volumes of a class folder or manifest are their selected slices, named by
// file and slice, decoded with the task's options, the mapping recorded for the provenance.
TEST(NiftiTaskSet, VolumesInFoldersAndManifestsAreTheirSelectedSlices) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "root" / "a");
  std::filesystem::create_directories(dir.path() / "root" / "b");
  write_file(dir.file("root/a/one.nii"), nifti_bytes(ramp()));
  write_file(dir.file("root/b/two.nii.gz"), gzip(nifti_bytes(ramp())));
  std::ofstream(dir.file("m.csv")) << "path,label,split\nroot/a/one.nii,x,train\n";
  std::ofstream(dir.file("s.yaml"))
      << "tasks:\n  - name: f\n    root: root\n    nifti: {slices: {central: 0.5}, intensity: minmax}\n"
      << "  - name: m\n    manifest: m.csv\n";
  const auto specs = read_image_taskset(dir.file("s.yaml"));
  ASSERT_EQ(specs.size(), 2u);
  const auto f = list_task_images(specs[0]);
  EXPECT_EQ(f.classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.index, (std::vector<std::int64_t>{1, 2, 1, 2}));
  EXPECT_EQ(f.labels, (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(f.describe(1), dir.file("root/a/one.nii") + " [slice 2]");
  const auto mm = options("{intensity: minmax}");
  EXPECT_EQ(f.read(3).unit, read_nifti_slice(dir.file("root/a/one.nii"), 2, mm).unit);
  EXPECT_NE(f.inputs.find("central fraction 0.5"), std::string::npos) << f.inputs;
  EXPECT_NE(f.inputs.find("min-max"), std::string::npos) << f.inputs;
  // The manifest's task has the defaults: every slice, percentiles.
  const auto m = list_task_images(specs[1]);
  EXPECT_EQ(m.index, (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(m.read(0).unit, read_nifti_slice(dir.file("root/a/one.nii"), 0, NiftiOptions{}).unit);
  EXPECT_NE(m.inputs.find("percentiles [0.5, 99.5]"), std::string::npos) << m.inputs;
  // A bad `nifti:` value names the task set and the task.
  std::ofstream(dir.file("bad.yaml")) << "tasks:\n  - name: f\n    root: root\n    nifti: {axis: diagonal}\n";
  try {
    read_image_taskset(dir.file("bad.yaml"));
    ADD_FAILURE() << "accepted axis: diagonal";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("task 'f'"), std::string::npos) << e.what();
  }
}

TEST(Nifti, FlippedAndPermutedAxesComeOutCanonical) {
  test::TempDir dir;
  NiftiVolumeCache cache;
  const auto mm = options("{intensity: minmax}");
  auto u = [](double v) { return static_cast<float>(v / 321.0); };
  TestVolume las = ramp();  // x runs right to left: canonical i = 1 - stored i
  las.srow = {{{-1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}};
  const auto a =
      read_nifti_slice(write_file(dir.file("las.nii"), nifti_bytes(las)), 1, mm, 100, cache);
  EXPECT_EQ(a.unit, (std::vector<float>{u(121), u(120), u(111), u(110), u(101), u(100)}));
  // stored i -> superior, j -> right, k -> anterior: canonical (j, k, i), dims 3 x 4 x 2
  TestVolume perm = ramp();
  perm.srow = {{{0, 1, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}}};
  const auto path = write_file(dir.file("perm.nii"), nifti_bytes(perm));
  EXPECT_EQ(nifti_slices(path, mm).size(), 2u);              // axial runs along stored i
  const auto p = read_nifti_slice(path, 1, mm, 100, cache);  // stored i = 1
  ASSERT_EQ(p.height, 4);  // canonical j = stored k, anterior first
  ASSERT_EQ(p.width, 3);   // canonical i = stored j
  EXPECT_EQ(p.unit[0], u(1 + 0 + 300));
  EXPECT_EQ(p.unit[2], u(1 + 20 + 300));
  EXPECT_EQ(p.unit[11], u(1 + 20 + 0));
  // The same in NIfTI-2, gzipped.
  perm.version = 2;
  const auto path2 = write_file(dir.file("perm2.nii.gz"), gzip(nifti_bytes(perm)));
  EXPECT_EQ(read_nifti_slice(path2, 1, mm, 100, cache).unit, p.unit);
}

TEST(Nifti, PercentilesAndScalingFollowNumpy) {
  test::TempDir dir;
  NiftiVolumeCache cache;
  TestVolume v;  // 100 voxels 0 .. 99 (int16, counted) and the same as float32 (selected)
  v.dim = {3, 4, 5, 5, 1, 1, 1, 1};
  std::vector<std::int16_t> ints(100);
  std::vector<float> floats(100);
  for (int n = 0; n < 100; ++n)
    ints[n] = static_cast<std::int16_t>(n), floats[n] = static_cast<float>(n);
  v.datatype = kInt16;
  v.data = raw(ints);
  const auto pint = write_file(dir.file("int.nii"), nifti_bytes(v));
  v.datatype = kFloat32;
  v.data = raw(floats);
  const auto pfloat = write_file(dir.file("float.nii"), nifti_bytes(v));
  // numpy: percentile 0.5 of 0..99 is 0.495, 99.5 is 98.505. Voxel 50 sits at stored (2, 2, 2):
  // axial slice 2, row 5 - 1 - 2 = 2, column 2; voxel 0 at slice 0, row 4, column 0.
  const float want = static_cast<float>((50 - 0.495) / (98.505 - 0.495));
  for (const auto& path : {pint, pfloat}) {
    const auto img = read_nifti_slice(path, 2, NiftiOptions{}, 100, cache);
    EXPECT_NEAR(img.unit[2 * 4 + 2], want, 1e-7) << path;
    EXPECT_EQ(read_nifti_slice(path, 0, NiftiOptions{}, 100, cache).unit[4 * 4 + 0], 0.0f)
        << "voxel 0 is below the 0.5th percentile";
    EXPECT_EQ(read_nifti_slice(path, 4, NiftiOptions{}, 100, cache).unit[0 * 4 + 3], 1.0f)
        << "voxel 99 is above the 99.5th";
  }
  // A negative slope reverses the order: the mapping becomes 1 - x for min-max.
  v.datatype = kInt16;
  v.data = raw(ints);
  v.slope = -2;
  v.inter = 7;
  const auto pneg = write_file(dir.file("neg.nii"), nifti_bytes(v));
  const auto mm = options("{intensity: minmax}");
  const auto a = read_nifti_slice(pint, 2, mm, 100, cache);
  const auto b = read_nifti_slice(pneg, 2, mm, 100, cache);
  for (std::size_t p = 0; p < a.unit.size(); ++p) EXPECT_NEAR(b.unit[p], 1 - a.unit[p], 1e-7);
  const auto c = read_nifti_slice(pneg, 2, NiftiOptions{}, 100, cache);
  EXPECT_NEAR(c.unit[2 * 4 + 2], 1 - want, 1e-6);
  // Constant volumes map to 0.
  std::vector<std::int16_t> same(100, 9);
  v.data = raw(same);
  v.slope = 0;
  const auto pconst = write_file(dir.file("const.nii"), nifti_bytes(v));
  for (const auto& o : {NiftiOptions{}, mm})
    for (const float x : read_nifti_slice(pconst, 0, o, 100, cache).unit) EXPECT_EQ(x, 0.0f);
}

TEST(Nifti, ForegroundIsJudgedAfterScaling) {
  test::TempDir dir;
  TestVolume v;  // int16 2 x 3 x 4, stored 4 everywhere except slice k = 2; 4 * 2.5 - 10 = 0
  v.datatype = kInt16;
  std::vector<std::int16_t> values(24, 4);
  values[2 * 6 + 1] = 9;
  v.data = raw(values);
  v.slope = 2.5;
  v.inter = -10;
  const auto path = write_file(dir.file("fg.nii"), nifti_bytes(v));
  EXPECT_EQ(nifti_slices(path, options("{slices: foreground}")), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(nifti_slices(path, options("{axis: coronal, slices: foreground}")),
            (std::vector<std::int64_t>{0}));
  EXPECT_EQ(nifti_slices(path, options("{axis: sagittal, slices: foreground}")),
            (std::vector<std::int64_t>{1}));
  v.slope = 0;  // unscaled: every voxel is 4
  const auto unscaled = write_file(dir.file("fg2.nii"), nifti_bytes(v));
  EXPECT_EQ(nifti_slices(unscaled, options("{slices: foreground}")).size(), 4u);
  std::vector<std::int16_t> zeros(24, 0);
  v.data = raw(zeros);
  EXPECT_TRUE(nifti_slices(write_file(dir.file("zero.nii"), nifti_bytes(v)),
                           options("{slices: foreground}"))
                  .empty());
}

TEST(Nifti, FourDimensionalFilesGiveTheirFirstVolume) {
  test::TempDir dir;
  TestVolume v = ramp();
  v.dim[0] = 4;
  v.dim[4] = 2;
  std::string second = v.data;  // volume 2: ramp + 1000
  for (std::size_t at = 0; at < second.size(); at += 4) {
    float x = 0;
    std::memcpy(&x, second.data() + at, 4);
    x += 1000;
    std::memcpy(second.data() + at, &x, 4);
  }
  v.data += second;
  const auto a = read_nifti_slice(write_file(dir.file("4d.nii.gz"), gzip(nifti_bytes(v))), 1,
                                  options("{intensity: minmax}"));
  EXPECT_EQ(a.unit[0], static_cast<float>(120 / 321.0));
  EXPECT_NE(NiftiOptions{}.describe().find("first 3D volume"), std::string::npos);
}

// ---- options ----

TEST(NiftiOptions, ParseEveryFormAndDescribeEveryNumber) {
  EXPECT_EQ(parse_nifti_options(YAML::Node(), "t"), NiftiOptions{});
  EXPECT_EQ(options("{}"), NiftiOptions{});
  const auto o =
      options("{axis: sagittal, slices: {every: 3}, intensity: {percentiles: [2, 98.5]}}");
  EXPECT_EQ(o.axis, NiftiOptions::Axis::sagittal);
  EXPECT_EQ(o.slices, NiftiOptions::Slices::every);
  EXPECT_EQ(o.every, 3);
  EXPECT_EQ(o.percentile_lo, 2);
  EXPECT_EQ(o.percentile_hi, 98.5);
  const auto d = o.describe();
  for (const char* s : {"sagittal", "every 3", "[2, 98.5]"})
    EXPECT_NE(d.find(s), std::string::npos) << d;
  EXPECT_EQ(d.find('\n'), std::string::npos);
  const auto c = options("{axis: coronal, slices: {central: 0.25}, intensity: minmax}");
  EXPECT_EQ(c.central, 0.25);
  EXPECT_NE(c.describe().find("central fraction 0.25"), std::string::npos) << c.describe();
  EXPECT_NE(c.describe().find("min-max"), std::string::npos);
  EXPECT_EQ(options("{slices: foreground}").slices, NiftiOptions::Slices::foreground);
  EXPECT_EQ(options("{slices: all}").slices, NiftiOptions::Slices::all);
  EXPECT_NE(NiftiOptions{}.describe().find("[0.5, 99.5]"), std::string::npos);
  EXPECT_NE(NiftiOptions{}.describe(), c.describe());
}

TEST(NiftiOptions, BadKeysAndValuesNameWhere) {
  const std::map<std::string, std::string> bad = {
      {"[axial]", "must be a map"},
      {"{axes: axial}", "unknown key 'axes'"},
      {"{axis: transverse}", "axial, coronal or sagittal"},
      {"{axis: [axial]}", "axial, coronal or sagittal"},
      {"{slices: some}", "all, foreground"},
      {"{slices: {every: 0}}", ">= 1"},
      {"{slices: {every: 2.5}}", ">= 1"},
      {"{slices: {every: 2, central: 0.5}}", "all, foreground"},
      {"{slices: {central: 0}}", "(0, 1]"},
      {"{slices: {central: 1.5}}", "(0, 1]"},
      {"{slices: {central: half}}", "must be a number"},
      {"{slices: {middle: 3}}", "got 'middle'"},
      {"{intensity: linear}", "minmax or"},
      {"{intensity: {percentiles: [50, 10]}}", "0 <= lo < hi <= 100"},
      {"{intensity: {percentiles: [-1, 10]}}", "0 <= lo < hi <= 100"},
      {"{intensity: {percentiles: [1, 101]}}", "0 <= lo < hi <= 100"},
      {"{intensity: {percentiles: [1]}}", "a list [lo, hi]"},
      {"{intensity: {percentiles: 5}}", "a list [lo, hi]"},
      {"{intensity: {percentiles: [1, .nan]}}", "must be a number"},
      {"{axis: axial, axis: coronal}", "appears twice"},
  };
  for (const auto& [yaml, want] : bad) {
    const auto msg =
        message_of([&] { parse_nifti_options(YAML::Load(yaml), "task set 'x.yaml': task 't'"); });
    EXPECT_EQ(msg.rfind("task set 'x.yaml': task 't': ", 0), 0u) << yaml << " -> " << msg;
    EXPECT_NE(msg.find(want), std::string::npos) << yaml << " -> " << msg;
  }
}

TEST(NiftiOptions, LooksLikeNiftiByName) {
  for (const char* yes : {"a.nii", "dir/b.NII", "c.nii.gz", "D.Nii.Gz"})
    EXPECT_TRUE(looks_like_nifti(yes)) << yes;
  for (const char* no : {"a.png", "nii", "a.nii.gz.bak", "a.gz", "a.niigz", "a.hdr"})
    EXPECT_FALSE(looks_like_nifti(no)) << no;
}

// ---- damaged and hostile files ----

TEST(NiftiErrors, DamagedFilesGiveOneLineErrorsNamingTheFile) {
  test::TempDir dir;
  NiftiVolumeCache cache;
  const std::string good = nifti_bytes(ramp());
  auto expect_refused = [&](const std::string& name, const std::string& bytes,
                            const std::string& why, bool at_listing) {
    SCOPED_TRACE(name);
    const auto path = write_file(dir.file(name), bytes);
    const auto msg = message_of([&] {
      for (const auto s : nifti_slices(path, NiftiOptions{}, cache))
        (void)read_nifti_slice(path, s, NiftiOptions{}, 100, cache);
    });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    if (at_listing) {
      EXPECT_THROW(nifti_slices(path, NiftiOptions{}, cache), InputError);
    }
  };
  expect_refused("text.nii", "hello, I am not a volume\n", "a NIfTI header's size", true);
  expect_refused("png.nii", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(400, 'x'),
                 "not a NIfTI-1 or NIfTI-2", true);
  expect_refused("short.nii", good.substr(0, good.size() - 5), "is truncated", true);
  expect_refused("short.nii.gz", gzip(good).substr(0, gzip(good).size() / 2 + 20), "truncated",
                 false);
  expect_refused("header_only.nii.gz", gzip(good).substr(0, 30), "a NIfTI header's size", true);
  std::string crc = gzip(good);
  crc[crc.size() - 6] ^= 0x55;  // the CRC32 in gzip's trailer
  expect_refused("crc.nii.gz", crc, "corrupt", false);
  std::string pair = good;
  std::memcpy(pair.data() + 344, "ni1\0", 4);
  expect_refused("pair.nii", pair, "two-file", true);
  std::string analyze = good;
  std::memcpy(analyze.data() + 344, "abc\0", 4);
  expect_refused("analyze.nii", analyze, "ANALYZE", true);

  auto with = [&](auto edit) {
    TestVolume v = ramp();
    edit(v);
    return nifti_bytes(v);
  };
  expect_refused("huge.nii",
                 with([](TestVolume& v) { v.dim = {3, 32767, 32767, 32767, 1, 1, 1, 1}; }),
                 "more than the limit", true);
  expect_refused("huge2.nii", with([](TestVolume& v) {
                   v.version = 2;
                   v.dim = {3, std::int64_t{1} << 40, 1, 1, 1, 1, 1, 1};
                 }),
                 "more than the limit", true);
  expect_refused(
      "overflow.nii", with([](TestVolume& v) {
        v.version = 2;
        v.dim = {3, std::int64_t{1} << 40, std::int64_t{1} << 40, std::int64_t{1} << 40, 1, 1, 1,
                 1};
      }),
      "more than the limit", true);
  // 400^3 int16 (128 MB) claimed by a few hundred bytes of gzip
  expect_refused("bomb.nii.gz", gzip(with([](TestVolume& v) {
                   v.dim = {3, 400, 400, 400, 1, 1, 1, 1};
                   v.datatype = kInt16;
                 })),
                 "decompression bomb", true);
  expect_refused("empty_dim.nii", with([](TestVolume& v) { v.dim[2] = 0; }), "empty dimension",
                 true);
  expect_refused("dim0.nii", with([](TestVolume& v) { v.dim[0] = 9; }), "dimensions", true);
  expect_refused("complex.nii", with([](TestVolume& v) { v.datatype = 32; }), "COMPLEX64", true);
  expect_refused("rgb.nii", with([](TestVolume& v) { v.datatype = 128; }), "RGB24", true);
  expect_refused("degenerate.nii", with([](TestVolume& v) { v.srow = {}; }), "degenerate", true);
  expect_refused("nan_sform.nii", with([](TestVolume& v) { v.srow[1][1] = NAN; }), "non-finite",
                 true);
  expect_refused("inter.nii", with([](TestVolume& v) {
                   v.slope = 1;
                   v.inter = INFINITY;
                 }),
                 "scl_inter", true);
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::string nan = good;
    std::memcpy(nan.data() + 352 + 4 * 7, &bad, 4);
    expect_refused(std::isnan(bad) ? "nan.nii.gz" : "inf.nii.gz", gzip(nan),
                   std::isnan(bad) ? "NaN voxel" : "infinite voxel", false);
  }
  EXPECT_NE(message_of([&] {
              nifti_slices(dir.file("missing.nii"), NiftiOptions{}, cache);
            }).find("missing.nii"),
            std::string::npos);
  EXPECT_EQ(cache.stats().volumes, 0u) << "failed decodes are not kept";
}

TEST(NiftiErrors, SliceIndexAndPixelLimitAreCheckedBeforeDecoding) {
  test::TempDir dir;
  NiftiVolumeCache cache;
  const auto path = write_file(dir.file("ramp.nii.gz"), gzip(nifti_bytes(ramp())));
  EXPECT_NE(message_of([&] {
              read_nifti_slice(path, 4, NiftiOptions{}, 100, cache);
            }).find("no axial slice 4"),
            std::string::npos);
  EXPECT_THROW(read_nifti_slice(path, -1, NiftiOptions{}, 100, cache), InputError);
  const auto msg = message_of([&] { read_nifti_slice(path, 0, NiftiOptions{}, 5, cache); });
  EXPECT_NE(msg.find("2 x 3 pixels, more than the limit of 5"), std::string::npos) << msg;
  EXPECT_EQ(cache.stats().decodes, 0u);
  EXPECT_EQ(read_nifti_slice(path, 0, NiftiOptions{}, 6, cache).unit.size(), 6u);
  EXPECT_THROW(read_nifti_slice(path, 0, NiftiOptions{}, 5, cache), InputError);  // kept volume
}

// ---- the cache ----

TEST(NiftiCache, DecodesEachVolumeOnceAndAgainWhenTheFileChanges) {
  test::TempDir dir;
  NiftiVolumeCache cache;
  const auto path = write_file(dir.file("ramp.nii.gz"), gzip(nifti_bytes(ramp())));
  for (const auto axis : {"axial", "coronal", "sagittal"}) {
    const auto o = options(fmt::format("{{axis: {}}}", axis));
    for (const auto s : nifti_slices(path, o, cache))
      (void)read_nifti_slice(path, s, o, 100, cache);
  }
  EXPECT_EQ(cache.stats().decodes, 1u);
  EXPECT_EQ(cache.stats().hits, 4u + 3u + 2u - 1u);
  EXPECT_EQ(cache.stats().volumes, 1u);
  EXPECT_GE(cache.stats().bytes, 24 * sizeof(float));
  (void)read_nifti_slice(path, 0, options("{intensity: minmax}"), 100, cache);
  EXPECT_EQ(cache.stats().decodes, 2u) << "other intensity options are another volume";
  // Replaced (a new file renamed over it): decoded again, with the new values.
  TestVolume v = ramp();
  std::vector<float> ones(24, 1.0f);
  ones[0] = 0;
  v.data = raw(ones);
  write_file(dir.file("new.nii.gz"), gzip(nifti_bytes(v)));
  fs::rename(dir.file("new.nii.gz"), path);
  const auto img = read_nifti_slice(path, 3, NiftiOptions{}, 100, cache);
  EXPECT_EQ(cache.stats().decodes, 3u);
  for (const float x : img.unit) EXPECT_EQ(x, 1.0f);
  cache.clear();
  EXPECT_EQ(cache.stats().volumes, 0u);
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(NiftiCache, ThreadsInRandomOrderGetTheSameSlicesAndDecodeOnce) {
  test::TempDir dir;
  std::vector<std::string> files;
  for (int f = 0; f < 6; ++f) {
    TestVolume v;
    v.dim = {3, 17, 19, 23, 1, 1, 1, 1};
    std::vector<float> values(17 * 19 * 23);
    std::mt19937 rng(f);
    for (auto& x : values) x = std::uniform_real_distribution<float>(-5, 5)(rng);
    v.data = raw(values);
    if (f % 2) v.srow = {{{0, -1, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}}};
    const std::string name = fmt::format("v{}.nii{}", f, f % 3 ? ".gz" : "");
    files.push_back(write_file(dir.file(name), f % 3 ? gzip(nifti_bytes(v)) : nifti_bytes(v)));
  }
  struct Request {
    int file;
    NiftiOptions options;
    std::int64_t slice;
  };
  std::vector<Request> requests;
  std::mt19937 rng(7);
  for (int r = 0; r < 600; ++r) {
    Request q{static_cast<int>(rng() % files.size()), NiftiOptions{}, 0};
    q.options.axis = static_cast<NiftiOptions::Axis>(rng() % 3);
    const auto n = nifti_slices(files[q.file], q.options).size();
    q.slice = static_cast<std::int64_t>(rng() % n);
    requests.push_back(q);
  }
  std::vector<std::vector<float>> serial(requests.size());
  {
    NiftiVolumeCache none(0);  // keeps nothing: every request decodes
    for (std::size_t r = 0; r < requests.size(); ++r)
      serial[r] = read_nifti_slice(files[requests[r].file], requests[r].slice, requests[r].options,
                                   kDefaultMaxImagePixels, none)
                      .unit;
    EXPECT_EQ(none.stats().decodes, requests.size());
    EXPECT_EQ(none.stats().volumes, 0u);
  }
  for (const std::size_t budget :
       {std::size_t{64} << 20, std::size_t{2} * 17 * 19 * 23 * 4 + 500}) {
    NiftiVolumeCache cache(budget);
    std::vector<std::vector<float>> parallel(requests.size());
#pragma omp parallel for num_threads(8) schedule(dynamic, 1)
    for (std::size_t r = 0; r < requests.size(); ++r)
      parallel[r] = read_nifti_slice(files[requests[r].file], requests[r].slice,
                                     requests[r].options, kDefaultMaxImagePixels, cache)
                        .unit;
    for (std::size_t r = 0; r < requests.size(); ++r) ASSERT_EQ(parallel[r], serial[r]) << r;
    const auto s = cache.stats();
    EXPECT_EQ(s.decodes + s.hits, requests.size());
    EXPECT_LE(s.bytes, budget);
    if (budget > (1u << 20)) {
      EXPECT_EQ(s.decodes, files.size()) << "each volume decoded once";
    } else {
      EXPECT_LE(s.volumes, 2u);
    }
  }
}

// ---- fuzz ----

// Seeded mutants of small valid volumes (header fields set to edge values, flipped bytes,
// truncation, trailing junk, each plain or gzipped, and damage to gzip streams): every call
// returns a well-formed slice or throws InputError, prints nothing, within a few seconds.
// TASKFP_FUZZ_SEED and TASKFP_NIFTI_FUZZ_MUTANTS (default 400) make longer campaigns.
TEST(NiftiFuzz, MutantsGiveSlicesOrInputErrorsOnly) {
  auto env = [](const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    return v ? parse_number<std::uint64_t>(v).value_or(fallback) : fallback;
  };
  const auto seed = env("TASKFP_FUZZ_SEED", 20240611);
  const int mutants = static_cast<int>(env("TASKFP_NIFTI_FUZZ_MUTANTS", 400));
  test::TempDir dir;
  std::vector<std::string> seeds;
  {
    TestVolume a;  // int16, scaled, oblique-ish sform, 5 x 6 x 7
    a.dim = {3, 5, 6, 7, 1, 1, 1, 1};
    a.datatype = kInt16;
    std::vector<std::int16_t> v(210);
    for (int n = 0; n < 210; ++n) v[n] = static_cast<std::int16_t>((n * 37) % 211 - 50);
    a.data = raw(v);
    a.slope = 1.5;
    a.inter = -3;
    a.srow = {{{0.1, 0, -2, 1}, {1, 0.2, 0, 2}, {0, 1.5, 0.3, 3}}};
    seeds.push_back(nifti_bytes(a));
    TestVolume b = ramp();  // float32, 4D, NIfTI-2
    b.version = 2;
    b.dim[0] = 4;
    b.dim[4] = 2;
    b.data += b.data;
    seeds.push_back(nifti_bytes(b));
    TestVolume c;  // uint8 with a qform
    c.dim = {3, 4, 3, 5, 1, 1, 1, 1};
    c.datatype = kUint8;
    c.sform_code = 0;
    c.qform_code = 1;
    c.data = std::string(60, '\0');
    for (int n = 0; n < 60; ++n) c.data[n] = static_cast<char>(n * 3);
    seeds.push_back(nifti_bytes(c));
  }
  struct Field {
    std::size_t at;
    int width;  // bytes
    bool real;
  };
  const std::vector<Field> n1_fields = {
      {0, 4, false},  {40, 2, false}, {42, 2, false}, {44, 2, false},  {46, 2, false},
      {48, 2, false}, {70, 2, false}, {72, 2, false}, {76, 4, true},   {80, 4, true},
      {108, 4, true}, {112, 4, true}, {116, 4, true}, {252, 2, false}, {254, 2, false},
      {256, 4, true}, {268, 4, true}, {280, 4, true}, {300, 4, true},  {316, 4, true},
      {344, 4, false}};
  const std::vector<Field> n2_fields = {
      {0, 4, false},   {4, 8, false},  {12, 2, false}, {16, 8, false},  {24, 8, false},
      {32, 8, false},  {40, 8, false}, {48, 8, false}, {104, 8, true},  {112, 8, true},
      {168, 8, false}, {176, 8, true}, {184, 8, true}, {344, 4, false}, {348, 4, false},
      {352, 8, true},  {400, 8, true}, {440, 8, true}};
  std::mt19937_64 rng(seed);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  auto set_field = [&](std::string& s, const Field& f) {
    if (f.at + static_cast<std::size_t>(f.width) > s.size()) return;
    if (f.real) {
      const double values[] = {0, -1, 1e-30, 1e30, 3.5, NAN, INFINITY, -INFINITY, 352, 1e18};
      const double x = values[pick(std::size(values))];
      if (f.width == 4)
        put<float>(s, f.at, static_cast<float>(x));
      else
        put<double>(s, f.at, x);
      return;
    }
    const std::int64_t values[] = {0,      -1,    1,       2,
                                   7,      8,     255,     32767,
                                   -32768, 65536, 1 << 30, std::numeric_limits<std::int64_t>::max(),
                                   348,    540,   16,      4};
    const std::int64_t x =
        pick(4) == 0 ? static_cast<std::int64_t>(rng()) : values[pick(std::size(values))];
    std::memcpy(s.data() + f.at, &x, static_cast<std::size_t>(f.width));  // low bytes
  };
  const auto started = std::chrono::steady_clock::now();
  int ok = 0, refused = 0;
  ::testing::internal::CaptureStderr();
  for (int m = 0; m < mutants; ++m) {
    const std::size_t which = pick(seeds.size());
    std::string s = seeds[which];
    const bool n2 = which == 1;
    const int edits = 1 + static_cast<int>(pick(3));
    for (int e = 0; e < edits; ++e) {
      switch (pick(4)) {
        case 0: {
          const auto& fields = n2 ? n2_fields : n1_fields;
          set_field(s, fields[pick(fields.size())]);
          break;
        }
        case 1:
          for (int k = 0; k < 1 + static_cast<int>(pick(8)) && !s.empty(); ++k) {
            const std::size_t at =
                pick(4) ? pick(std::min<std::size_t>(s.size(), 560)) : pick(s.size());
            s[at] = static_cast<char>(s[at] ^ static_cast<char>(1 + pick(255)));
          }
          break;
        case 2:
          s.resize(pick(s.size() + 1));
          break;
        default:
          s += std::string(1 + pick(64), static_cast<char>(pick(256)));
      }
    }
    const bool gz = pick(2) == 0;
    if (gz) {
      s = gzip(s);
      if (pick(3) == 0) {  // damage the compressed stream itself
        if (pick(2))
          s.resize(pick(s.size() + 1));
        else if (!s.empty())
          s[pick(s.size())] ^= static_cast<char>(1 + pick(255));
      }
    }
    const auto path = write_file(dir.file(fmt::format("m{:05d}.nii{}", m, gz ? ".gz" : "")), s);
    NiftiVolumeCache cache(std::size_t{1} << 20);
    for (int axis = 0; axis < 3; ++axis) {
      NiftiOptions o;
      o.axis = static_cast<NiftiOptions::Axis>(axis);
      if (m % 3 == 1) o.slices = NiftiOptions::Slices::foreground;
      if (m % 4 == 2) o.intensity = NiftiOptions::Intensity::minmax;
      try {
        const auto slices = nifti_slices(path, o, cache);
        for (std::size_t k = 0; k < std::min<std::size_t>(slices.size(), 2); ++k) {
          const Image img = read_nifti_slice(path, slices[k], o, 1u << 16, cache);
          ASSERT_EQ(img.unit.size(), static_cast<std::size_t>(img.width) * img.height);
          for (const float x : img.unit) ASSERT_TRUE(x >= 0 && x <= 1) << path;
        }
        ++ok;
      } catch (const InputError& e) {
        ++refused;
        ASSERT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << path << ": " << typeid(e).name() << ": " << e.what();
      }
    }
  }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(printed, "") << "nifticlib or zlib printed to stderr";
  EXPECT_GT(ok, mutants / 8) << "too few mutants get through: the mutations are too coarse";
  EXPECT_GT(refused, mutants / 4);
  EXPECT_LT(seconds, mutants / 20.0);
  RecordProperty("mutants", mutants);
  RecordProperty("calls_ok", ok);
  RecordProperty("calls_refused", refused);
  std::cout << fmt::format("fuzz (seed {}): {} calls, {} gave slices, {} InputError, {:.2f} s\n",
                           seed, 3 * mutants, ok, refused, seconds);
}

}  // namespace
}  // namespace taskfp
