// The DICOM reader against pydicom: synthetic files and pydicom's own test files decoded and
// mapped to [0, 1], expected values made by tests/fixtures/make_dicom_fixtures.py with pydicom's
// functions; errors, series order, options; and a seeded mutation run (damaged files are read or
// refused with InputError, never crash).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "images/dicom.hpp"
#include "images/image_taskset.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

// The generated fixtures: made once per process (each test runs in its own process under
// CTest), in a temporary folder.
class DicomFixtures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>();
    const std::string script =
        std::string(TASKFP_SOURCE_DIR) + "/tests/fixtures/make_dicom_fixtures.py";
    const std::string cmd =
        "/usr/bin/python3 '" + script + "' '" + dir_->path().string() + "' 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
    std::ifstream in(dir_->file("manifest.txt"));
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::vector<std::string> w;
      for (std::string word; words >> word;) w.push_back(word);
      if (!w.empty()) manifest_.push_back(w);
    }
  }
  static void TearDownTestSuite() {
    manifest_.clear();
    dir_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(ok_ && !manifest_.empty())
        << "tests/fixtures/make_dicom_fixtures.py failed: it needs /usr/bin/python3 with pydicom "
           "and numpy "
           "(apt-get install python3-pydicom python3-numpy; scripts/test.sh installs them)";
  }
  static std::string path(const std::string& name) {
    return fs::path(name).is_absolute() ? name : dir_->file(name);
  }
  static std::vector<std::vector<std::string>> lines(const std::string& kind) {
    std::vector<std::vector<std::string>> out;
    for (const auto& l : manifest_)
      if (l[0] == kind) out.push_back(l);
    return out;
  }

  static std::unique_ptr<test::TempDir> dir_;
  static bool ok_;
  static std::vector<std::vector<std::string>> manifest_;
};
std::unique_ptr<test::TempDir> DicomFixtures::dir_;
bool DicomFixtures::ok_ = false;
std::vector<std::vector<std::string>> DicomFixtures::manifest_;

// "file", "minmax", a preset or "<center>:<width>", through the YAML parser.
DicomOptions options_for(const std::string& window) {
  const auto colon = window.find(':');
  const std::string yaml = colon == std::string::npos ? "{window: " + window + "}"
                                                      : "{window: [" + window.substr(0, colon) +
                                                            ", " + window.substr(colon + 1) + "]}";
  return parse_dicom_options(YAML::Load(yaml), "test");
}

std::vector<double> read_f64(const std::string& file, std::size_t n) {
  std::vector<double> v(n);
  std::ifstream in(file, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(double)));
  EXPECT_EQ(static_cast<std::size_t>(in.gcount()), n * sizeof(double)) << file;
  return v;
}

TEST_F(DicomFixtures, ImagesEqualPydicomsReference) {
  // image <label> <file> <frame> <window> <height> <width> <channels> <expected> <tolerance>
  const auto cases = lines("image");
  ASSERT_GT(cases.size(), 100u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c[1] + " (" + c[2] + ")");
    const int h = std::stoi(c[5]), w = std::stoi(c[6]), ch = std::stoi(c[7]);
    const double tolerance = std::stod(c[9]);
    Image img;
    try {
      img = read_dicom(path(c[2]), std::stoll(c[3]), options_for(c[4]));
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    EXPECT_TRUE(img.is_unit());
    EXPECT_TRUE(img.samples.empty());
    ASSERT_EQ(img.height, h);
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.channels, ch);
    const auto want =
        read_f64(path(c[8]), static_cast<std::size_t>(h) * static_cast<std::size_t>(w) *
                                 static_cast<std::size_t>(ch));
    ASSERT_EQ(img.unit.size(), want.size());
    double worst = 0;
    std::size_t at = 0, off = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(img.unit[i] >= 0.0f && img.unit[i] <= 1.0f)
          << "value " << img.unit[i] << " at " << i;
      const double d = std::fabs(static_cast<double>(img.unit[i]) - want[i]);
      if (d > tolerance) ++off;
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    EXPECT_LE(worst, tolerance) << off << " of " << want.size() << " values off; worst at " << at
                                << ": " << img.unit[at] << " vs " << want[at];
  }
}

TEST_F(DicomFixtures, JpegExtendedHasTheValuesReadInOsirix) {
  // spot <label> <file> <frame> <window> <row> <col> <channel> <value> <tolerance>
  const auto cases = lines("spot");
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c[1]);
    const Image img = read_dicom(path(c[2]), std::stoll(c[3]), options_for(c[4]));
    const std::size_t i =
        (std::stoul(c[5]) * static_cast<std::size_t>(img.width) + std::stoul(c[6])) *
            static_cast<std::size_t>(img.channels) +
        std::stoul(c[7]);
    EXPECT_NEAR(img.unit.at(i), std::stod(c[8]), std::stod(c[9]));
  }
}

TEST_F(DicomFixtures, FrameCountsComeFromTheHeader) {
  const auto cases = lines("frames");
  ASSERT_GT(cases.size(), 40u);
  for (const auto& c : cases) EXPECT_EQ(dicom_frame_count(path(c[1])), std::stoll(c[2])) << c[1];
}

TEST_F(DicomFixtures, ErrorsNameTheFileAndTheReason) {
  // error <label> <file> <frame> <text...>
  const auto cases = lines("error");
  ASSERT_GE(cases.size(), 9u);
  for (const auto& c : cases) {
    std::string text;
    for (std::size_t i = 4; i < c.size(); ++i) text += (i > 4 ? " " : "") + c[i];
    const std::string file = path(c[2]);
    try {
      (void)read_dicom(file, std::stoll(c[3]), DicomOptions{});
      ADD_FAILURE() << c[1] << ": no error";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(file), std::string::npos) << c[1] << ": " << what;
      EXPECT_NE(what.find(text), std::string::npos)
          << c[1] << ": '" << what << "' does not say '" << text << "'";
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  // The frame count says the same for files that are not images or not whole.
  for (const char* name : {"rtplan", "MR_truncated", "not_dicom", "empty"}) {
    for (const auto& c : cases)
      if (c[1] == name) {
        EXPECT_THROW(dicom_frame_count(path(c[2])), InputError) << name;
      }
  }
  // Huge: refused by the limit, whatever the default, before anything is decoded.
  try {
    (void)read_dicom(path("huge.dcm"), 0, DicomOptions{}, 100);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--max-image-pixels"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)read_dicom(path("ct_rescale.dcm"), 0, DicomOptions{}, 11u * 13u - 1u),
               InputError);
  EXPECT_NO_THROW((void)read_dicom(path("ct_rescale.dcm"), 0, DicomOptions{}, 11u * 13u));
  EXPECT_THROW((void)read_dicom(dir_->file("missing.dcm"), 0, DicomOptions{}), InputError);
}

TEST_F(DicomFixtures, SeriesFilesAreOrderedAndSingleSeries) {
  for (const auto& c : lines("series")) {
    const auto files = dicom_series_files(path(c[1]));
    std::vector<std::string> want;
    for (std::size_t i = 2; i < c.size(); ++i) want.push_back(path(c[1] + "/" + c[i]));
    EXPECT_EQ(files, want) << c[1];
  }
  for (const auto& c : lines("series_error")) {
    std::string text;
    for (std::size_t i = 2; i < c.size(); ++i) text += (i > 2 ? " " : "") + c[i];
    try {
      (void)dicom_series_files(path(c[1]));
      ADD_FAILURE() << c[1] << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path(c[1])), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(dicom_series_files(dir_->file("no-such-folder")), InputError);
}

// Task sets: a class folder's DICOM files (with or without the .dcm name) are their frames, or
// the chosen frame; a manifest row may name a series folder; each frame decodes with the task's
// window, and the window goes into the provenance.
TEST_F(DicomFixtures, TaskSetsListFramesOfFilesAndSeries) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "root" / "multi");
  fs::create_directories(dir.path() / "root" / "single");
  fs::copy_file(path("multiframe.dcm"), dir.path() / "root" / "multi" / "m.dcm");
  fs::copy_file(path("ct_rescale.dcm"), dir.path() / "root" / "single" / "IM0001");  // no extension
  std::ofstream(dir.file("m.csv")) << "path,label,split\n" << path("series_instances") << ",s,train\n";
  std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: all\n    root: root\n    dicom: {window: minmax}\n"
                                    << "  - name: second\n    root: root/multi/..\n    dicom: {frame: 1}\n"
                                    << "  - name: series\n    manifest: m.csv\n";
  const auto specs = read_image_taskset(dir.file("s.yaml"));
  ASSERT_EQ(specs.size(), 3u);
  const auto all = list_task_images(specs[0]);
  EXPECT_EQ(all.classes, (std::vector<std::string>{"multi", "single"}));
  EXPECT_EQ(all.index, (std::vector<std::int64_t>{0, 1, 2, 0}));
  EXPECT_EQ(all.describe(2), dir.file("root/multi/m.dcm") + " [frame 2]");
  const auto minmax = options_for("minmax");
  EXPECT_EQ(all.read(2).unit, read_dicom(dir.file("root/multi/m.dcm"), 2, minmax).unit);
  EXPECT_EQ(all.read(3).unit, read_dicom(dir.file("root/single/IM0001"), 0, minmax).unit);
  EXPECT_NE(all.inputs.find(minmax.describe()), std::string::npos) << all.inputs;
  // frame: 1 takes that frame of every file; a file without it is an error naming it.
  try {
    (void)list_task_images(specs[1]);
    ADD_FAILURE() << "a one-frame file gave frame 1";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("IM0001"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no frame 1"), std::string::npos) << e.what();
  }
  fs::remove(dir.path() / "root" / "single" / "IM0001");
  fs::remove(dir.path() / "root" / "single");
  const auto second = list_task_images(specs[1]);
  EXPECT_EQ(second.index, (std::vector<std::int64_t>{1}));
  // A series folder in a manifest: its files in series order, each file's frames.
  const auto series = list_task_images(specs[2]);
  const auto want = dicom_series_files(path("series_instances"));
  ASSERT_EQ(series.files.size(), want.size());
  for (std::size_t k = 0; k < want.size(); ++k) EXPECT_EQ(series.files[k], want[k]);
  // A file whose header cannot be read stops the listing naming it; with skip_bad it is left out
  // and noted, the other files listed.
  {
    std::ifstream in(path("multiframe.dcm"), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir.file("root/multi/cut.dcm"), std::ios::binary) << bytes.substr(0, 200);
  }
  try {
    (void)list_task_images(specs[0]);
    ADD_FAILURE() << "a truncated DICOM file was listed";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.dcm"), std::string::npos) << e.what();
  }
  const auto skipping = list_task_images(specs[0], 0, kDefaultMaxImagePixels, true);
  EXPECT_EQ(skipping.index, (std::vector<std::int64_t>{0, 1, 2}));
  ASSERT_EQ(skipping.unreadable.size(), 1u);
  EXPECT_NE(skipping.unreadable[0].find("cut.dcm"), std::string::npos) << skipping.unreadable[0];
}

TEST_F(DicomFixtures, ImagesWithoutAReferenceDecodeToTheirShape) {
  // shape <label> <file> <height> <width> <channels>
  const auto cases = lines("shape");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const Image img = read_dicom(path(c[2]), 0, DicomOptions{});
    EXPECT_EQ(img.height, std::stoi(c[3])) << c[1];
    EXPECT_EQ(img.width, std::stoi(c[4])) << c[1];
    EXPECT_EQ(img.channels, std::stoi(c[5])) << c[1];
  }
}

// Seeded mutants of every kind of file above (native, big endian, implicit, deflated, RLE,
// JPEG baseline, lossless and 12-bit, JPEG-LS, JPEG 2000, palette, enhanced multi-frame): each
// is read or refused with an InputError, and a decoded image is whole, finite and in [0, 1].
// Byte flips anywhere, flips in the first kilobytes (the header) and after each codestream's
// start marker, integer fields set to extreme values, truncations, cut-out chunks.
// TASKFP_DICOM_FUZZ_MUTANTS sets the count (default 600, about 2 s), TASKFP_DICOM_FUZZ_SEED the
// seed, TASKFP_DICOM_FUZZ_FILES the files mutated (comma-separated; names without a folder are
// pydicom's test files).
TEST_F(DicomFixtures, MutantsAreReadOrRefused) {
  const std::string data = fs::path(path(lines("shape").at(0)[2])).parent_path().string();
  std::vector<std::string> seeds;
  for (const char* name :
       {"ct_rescale.dcm", "ct_big_endian.dcm", "ct_implicit.dcm", "ct_deflated.dcm",
        "multiframe.dcm", "rle_multiframe.dcm", "rgb_planar1.dcm", "ybr_full_422.dcm",
        "palette.dcm", "enhanced.dcm", "modality_lut.dcm", "voi_lut.dcm"})
    seeds.push_back(path(name));
  for (const char* name :
       {"SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_jpeg_gdcm.dcm",
        "JPGExtended.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
        "SC_rgb_gdcm_KY.dcm", "693_J2KI.dcm", "MR_small_RLE.dcm", "rtdose_rle.dcm",
        "liver_1frame.dcm", "image_dfl.dcm", "SC_rgb_jpeg.dcm"})
    seeds.push_back(data + "/" + name);
  if (const char* list = std::getenv("TASKFP_DICOM_FUZZ_FILES")) {  // a campaign on other seeds
    seeds.clear();
    std::istringstream names(list);
    for (std::string name; std::getline(names, name, ',');)
      if (!name.empty()) seeds.push_back(fs::path(name).is_absolute() ? name : data + "/" + name);
  }
  const char* env = std::getenv("TASKFP_DICOM_FUZZ_MUTANTS");
  const int mutants = env ? std::atoi(env) : 600;
  const char* seed_env = std::getenv("TASKFP_DICOM_FUZZ_SEED");
  std::mt19937_64 rng(seed_env ? std::strtoull(seed_env, nullptr, 10) : 20240611);
  const auto pick = [&](std::size_t n) {
    return static_cast<std::size_t>(rng() % std::max<std::size_t>(n, 1));
  };
  const std::string mutant = dir_->file("mutant.dcm");
  int read = 0, refused = 0;
  ::testing::internal::CaptureStderr();
  for (int m = 0; m < mutants; ++m) {
    const std::string& seed = seeds[static_cast<std::size_t>(m) % seeds.size()];
    std::ifstream in(seed, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 132u) << seed;
    std::string how;
    switch (rng() % 6) {
      case 0:  // a few bytes anywhere
        for (std::size_t k = 0, n = 1 + pick(8); k < n; ++k)
          bytes[pick(bytes.size())] = static_cast<char>(rng());
        how = "flips";
        break;
      case 1:  // a few bytes of the header
        for (std::size_t k = 0, n = 1 + pick(4); k < n; ++k)
          bytes[132 + pick(std::min<std::size_t>(bytes.size(), 2048) - 132)] =
              static_cast<char>(rng());
        how = "header flips";
        break;
      case 2: {  // a 16 or 32-bit field of the header set to an extreme value
        static constexpr std::uint32_t kExtreme[] = {
            0,      1,      2,      3,       7,          8,          12,         15,
            16,     17,     31,     32,      33,         0x7F,       0x80,       0xFF,
            0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF};
        const std::uint32_t v = kExtreme[pick(std::size(kExtreme))];
        const std::size_t at = 132 + pick(std::min<std::size_t>(bytes.size(), 2048) - 136);
        const std::size_t width = rng() % 2 ? 2 : 4;
        for (std::size_t k = 0; k < width; ++k) bytes[at + k] = static_cast<char>(v >> (8 * k));
        how = "field";
        break;
      }
      case 3: {  // bytes right after a codestream's start (JPEG SOI, JPEG 2000 SOC, RLE header)
        std::vector<std::size_t> starts;
        for (std::size_t i = 132; i + 2 < bytes.size(); ++i) {
          const auto a = static_cast<unsigned char>(bytes[i]),
                     b = static_cast<unsigned char>(bytes[i + 1]);
          if (a == 0xFF && (b == 0xD8 || b == 0x4F)) starts.push_back(i);
        }
        const std::size_t base = starts.empty()
                                     ? bytes.size() - std::min<std::size_t>(bytes.size(), 512)
                                     : starts[pick(starts.size())];
        for (std::size_t k = 0, n = 1 + pick(4); k < n; ++k) {
          const std::size_t at = base + pick(96);
          if (at < bytes.size()) bytes[at] = static_cast<char>(rng());
        }
        how = "codestream flips";
        break;
      }
      case 4:  // truncated
        bytes.resize(132 + pick(bytes.size() - 132));
        how = "truncated";
        break;
      default: {  // a chunk cut out
        const std::size_t at = 132 + pick(bytes.size() - 132);
        bytes.erase(at, 1 + pick(std::min<std::size_t>(64, bytes.size() - at)));
        how = "cut";
      }
    }
    std::ofstream(mutant, std::ios::binary | std::ios::trunc) << bytes;
    SCOPED_TRACE(fmt::format("mutant {} of {} ({})", m, seed, how));
    try {
      const std::int64_t frames = dicom_frame_count(mutant);
      for (const std::int64_t frame : {std::int64_t{0}, frames - 1}) {
        const Image img = read_dicom(mutant, frame, DicomOptions{}, 4u << 20);
        ASSERT_EQ(img.unit.size(), static_cast<std::size_t>(img.width) *
                                       static_cast<std::size_t>(img.height) *
                                       static_cast<std::size_t>(img.channels));
        for (float v : img.unit) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
      }
      ++read;
    } catch (const InputError& e) {
      ASSERT_NE(std::string(e.what()).find(mutant), std::string::npos) << e.what();
      ++refused;
    }
  }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed, "") << "the decoders printed to stderr";
  EXPECT_GT(read, mutants / 10);
  EXPECT_GT(refused, mutants / 10);
  RecordProperty("read", read);
  RecordProperty("refused", refused);
}

TEST(DicomOptionsTest, ParseEveryFormAndRefuseTheRest) {
  const auto parse = [](const std::string& yaml) {
    return parse_dicom_options(YAML::Load(yaml), "task 'ct'");
  };
  EXPECT_EQ(parse("~").window, DicomOptions::Window::file);
  EXPECT_FALSE(parse("~").frame.has_value());
  EXPECT_EQ(parse("{window: minmax}").window, DicomOptions::Window::minmax);
  const auto lung = parse("{window: Lung, frame: 2}");
  EXPECT_EQ(lung.window, DicomOptions::Window::fixed);
  EXPECT_EQ(lung.center, -600);
  EXPECT_EQ(lung.width, 1500);
  EXPECT_EQ(lung.preset, "lung");
  EXPECT_EQ(*lung.frame, 2);
  const auto fixed = parse("{window: [-50.5, 350], frame: all}");
  EXPECT_EQ(fixed.center, -50.5);
  EXPECT_EQ(fixed.width, 350);
  EXPECT_TRUE(fixed.preset.empty());
  EXPECT_FALSE(fixed.frame.has_value());
  for (const auto& [name, c, w] :
       std::vector<std::tuple<std::string, double, double>>{{"soft-tissue", 40, 400},
                                                            {"mediastinum", 40, 400},
                                                            {"bone", 400, 1800},
                                                            {"brain", 40, 80}}) {
    const auto o = parse("{window: " + name + "}");
    EXPECT_EQ(o.center, c) << name;
    EXPECT_EQ(o.width, w) << name;
  }
  for (const char* bad :
       {"{window: abdomen}", "{window: [1]}", "{window: [1, 0.5]}", "{window: [a, 2]}",
        "{window: [1, .inf]}", "{window: {c: 1}}", "{frame: -1}", "{frame: 1.5}", "{frame: [1]}",
        "{frames: 1}", "[1, 2]", "{window: file, window: minmax}"}) {
    try {
      (void)parse(bad);
      ADD_FAILURE() << bad << ": no error";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("task 'ct': dicom: ", 0), 0u)
          << bad << ": " << e.what();
    } catch (const YAML::Exception& e) {  // a repeated key is refused by yaml-cpp's loader itself
      EXPECT_STREQ(bad, "{window: file, window: minmax}") << e.what();
    }
  }
}

TEST(DicomOptionsTest, DescribeHasEveryNumber) {
  EXPECT_NE(DicomOptions{}.describe().find("min-max"), std::string::npos);
  EXPECT_NE(DicomOptions{}.describe().find("frames all"), std::string::npos);
  DicomOptions o = parse_dicom_options(YAML::Load("{window: bone, frame: 3}"), "t");
  const std::string d = o.describe();
  for (const char* part : {"bone", "400", "1800", "LINEAR", "frames 3"})
    EXPECT_NE(d.find(part), std::string::npos) << d << " lacks " << part;
  EXPECT_EQ(d.find('\n'), std::string::npos);
}

TEST(DicomFiles, LooksLikeDicomByMarkerOrName) {
  test::TempDir dir;
  std::string dicm(132, '\0');
  dicm.replace(128, 4, "DICM");
  std::ofstream(dir.file("marker")) << dicm;
  std::ofstream(dir.file("IMAGE.DCM")) << "x";
  std::ofstream(dir.file("short")) << "DICM";
  std::ofstream(dir.file("image.png")) << std::string(200, 'x');
  EXPECT_TRUE(looks_like_dicom(dir.file("marker")));
  EXPECT_TRUE(looks_like_dicom(dir.file("IMAGE.DCM")));
  EXPECT_FALSE(looks_like_dicom(dir.file("short")));
  EXPECT_FALSE(looks_like_dicom(dir.file("image.png")));
  EXPECT_FALSE(looks_like_dicom(dir.file("missing")));
}

}  // namespace
}  // namespace taskfp
