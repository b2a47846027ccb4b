// Image decoding (PNG 8/16-bit, grey/colour/alpha; JPEG; TIFF; CMYK and damaged JPEGs against
// PIL's decoding), bad image files, and preprocessing: hand-computed resize weights, torch's
// antialiased resize (fixtures made by torch), ImageNet normalisation.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "images/image.hpp"
#include "images/preprocess.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

Image pattern(int w, int h, int channels, int bit_depth) {
  Image img;
  img.width = w, img.height = h, img.channels = channels, img.bit_depth = bit_depth;
  const int max = bit_depth == 16 ? 65535 : 255;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        img.samples.push_back(static_cast<std::uint16_t>((x * 977 + y * 131 + c * 4099) % (max + 1)));
  return img;
}

TEST(ImageIo, PngRoundTripsEveryLayoutExactly) {
  test::TempDir dir;
  for (int bits : {8, 16})
    for (int channels : {1, 2, 3, 4}) {
      const auto img = pattern(23, 17, channels, bits);
      const auto file = dir.file("p.png");
      write_png(file, img);
      const auto back = read_image(file);
      EXPECT_EQ(back.width, 23);
      EXPECT_EQ(back.height, 17);
      EXPECT_EQ(back.channels, channels);
      EXPECT_EQ(back.bit_depth, bits);
      EXPECT_EQ(back.samples, img.samples) << bits << " bits, " << channels << " channels";
    }
}

TEST(ImageIo, JpegDecodesCloseToWhatWasWritten) {
  test::TempDir dir;
  for (int channels : {1, 3}) {
    Image img;  // a smooth image: JPEG keeps it within a few levels
    img.width = 64, img.height = 48, img.channels = channels;
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x)
        for (int c = 0; c < channels; ++c) img.samples.push_back(static_cast<std::uint16_t>(40 + x * 2 + y + c * 10));
    write_jpeg(dir.file("j.jpg"), img, 95);
    const auto back = read_image(dir.file("j.jpg"));
    ASSERT_EQ(back.channels, channels);
    ASSERT_EQ(back.samples.size(), img.samples.size());
    int worst = 0;
    for (std::size_t k = 0; k < img.samples.size(); ++k)
      worst = std::max(worst, std::abs(static_cast<int>(back.samples[k]) - static_cast<int>(img.samples[k])));
    EXPECT_LE(worst, 6) << channels << " channels";
  }
}

TEST(ImageIo, BadFilesAreErrorsNamingTheFileAndReason) {
  test::TempDir dir;
  write_png(dir.file("ok.png"), pattern(32, 32, 3, 8));
  write_jpeg(dir.file("ok.jpg"), pattern(32, 32, 3, 8), 90);
  auto bytes = [&](const std::string& name) {
    std::ifstream in(dir.file(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto png = bytes("ok.png"), jpg = bytes("ok.jpg");
  std::ofstream(dir.file("short.png"), std::ios::binary) << png.substr(0, png.size() / 2);
  // Cut inside its tables (a JPEG cut inside its scan decodes, as PIL decodes it: PilDecoded).
  std::ofstream(dir.file("short.jpg"), std::ios::binary) << jpg.substr(0, 100);
  std::string broken = png;
  for (std::size_t k = 60; k < 90 && k < broken.size(); ++k) broken[k] = static_cast<char>(broken[k] ^ 0x5a);
  std::ofstream(dir.file("crc.png"), std::ios::binary) << broken;
  std::ofstream(dir.file("empty.png"), std::ios::binary);
  std::ofstream(dir.file("gif.gif"), std::ios::binary) << "GIF89a\x01\x00\x01\x00";
  for (auto [file, words] : {std::pair{"short.png", "PNG"},
                             {"short.jpg", "JPEG"},
                             {"crc.png", "PNG"},
                             {"empty.png", "empty"},
                             {"gif.gif", "neither PNG, JPEG nor TIFF"},
                             {"absent.png", "cannot open"}}) {
    try {
      read_image(dir.file(file));
      ADD_FAILURE() << file << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      EXPECT_NE(msg.find(words), std::string::npos) << msg;
    }
  }
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put_be16(std::string& bytes, std::size_t at, std::uint32_t v) {
  bytes[at] = static_cast<char>(v >> 8 & 0xff);
  bytes[at + 1] = static_cast<char>(v & 0xff);
}
void put_be32(std::string& bytes, std::size_t at, std::uint32_t v) {
  put_be16(bytes, at, v >> 16);
  put_be16(bytes, at + 2, v & 0xffff);
}

// PNG's chunk CRC (ISO 3309, reflected polynomial 0xEDB88320), bit by bit.
std::uint32_t png_crc(const std::string& bytes, std::size_t from, std::size_t count) {
  std::uint32_t c = 0xffffffffu;
  for (std::size_t k = from; k < from + count; ++k) {
    c ^= static_cast<unsigned char>(bytes[k]);
    for (int b = 0; b < 8; ++b) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xffffffffu;
}

// A small real PNG whose IHDR (bytes 8..32: length, "IHDR", width, height, ...) claims w x h, with
// the chunk's CRC recomputed so that libpng believes it.
std::string png_claiming(const std::string& file, std::uint32_t w, std::uint32_t h) {
  std::string bytes = file_bytes(file);
  put_be32(bytes, 16, w);
  put_be32(bytes, 20, h);
  put_be32(bytes, 29, png_crc(bytes, 12, 17));
  return bytes;
}

// A small real baseline JPEG whose frame header (FF C0, length, precision, height, width) claims
// w x h.
std::string jpeg_claiming(const std::string& file, std::uint32_t w, std::uint32_t h) {
  std::string bytes = file_bytes(file);
  const auto sof = bytes.find("\xff\xc0");
  EXPECT_NE(sof, std::string::npos);
  put_be16(bytes, sof + 5, h);
  put_be16(bytes, sof + 7, w);
  return bytes;
}

// Decompression bombs: a 1.5 KB JPEG claiming 40000 x 40000 pixels (9.6 GB decoded) and a PNG
// claiming 100000 x 100000 are refused from their headers, under the default limit of PIL's
// MAX_IMAGE_PIXELS, before their pixels are allocated: errors naming the file and the way out.
TEST(ImageIo, HeadersBeyondThePixelLimitAreRefusedBeforeDecoding) {
  test::TempDir dir;
  write_png(dir.file("small.png"), pattern(16, 16, 3, 8));
  write_jpeg(dir.file("small.jpg"), pattern(16, 16, 3, 8), 90);
  std::ofstream(dir.file("bomb.jpg"), std::ios::binary)
      << jpeg_claiming(dir.file("small.jpg"), 40000, 40000);
  std::ofstream(dir.file("bomb.png"), std::ios::binary)
      << png_claiming(dir.file("small.png"), 100000, 100000);
  // Just beyond the limit: 9460 x 9459 = 89,482,140 pixels.
  std::ofstream(dir.file("edge.png"), std::ios::binary)
      << png_claiming(dir.file("small.png"), 9460, 9459);
  EXPECT_LT(file_bytes(dir.file("bomb.jpg")).size(), 2000u);
  for (auto [file, size] : {std::pair{"bomb.jpg", "40000 x 40000"},
                            {"bomb.png", "100000 x 100000"},
                            {"edge.png", "9460 x 9459"}}) {
    try {
      read_image(dir.file(file));
      ADD_FAILURE() << file << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      EXPECT_NE(msg.find(size), std::string::npos) << msg;
      EXPECT_NE(msg.find("89478485"), std::string::npos) << msg;
      EXPECT_NE(msg.find("--max-image-pixels"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

// The limit is the caller's (`extract --max-image-pixels`): an image of exactly the limit is
// decoded, a limit one pixel lower refuses it.
TEST(ImageIo, ThePixelLimitIsTheCallers) {
  test::TempDir dir;
  write_png(dir.file("p.png"), pattern(20, 10, 1, 8));
  write_jpeg(dir.file("j.jpg"), pattern(20, 10, 3, 8), 90);
  for (const auto* file : {"p.png", "j.jpg"}) {
    EXPECT_EQ(read_image(dir.file(file), 200).width, 20) << file;
    try {
      read_image(dir.file(file), 199);
      ADD_FAILURE() << file << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("20 x 10 pixels"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("limit of 199"), std::string::npos) << e.what();
    }
  }
}

// Memory running out while decoding (here a PNG claiming 10^6 x 10^6 RGB pixels, 3 TB, with the
// limit lifted) is an error naming the file, not std::bad_alloc. Where the kernel grants any
// allocation (vm.overcommit_memory = 1) the test cannot run: touching 3 TB would end the machine.
TEST(ImageIo, RunningOutOfMemoryWhileDecodingNamesTheFile) {
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = -1;
  overcommit >> mode;
  if (mode != 0 && mode != 2) GTEST_SKIP() << "vm.overcommit_memory is " << mode << ", not 0 or 2";
  test::TempDir dir;
  write_png(dir.file("small.png"), pattern(16, 16, 3, 8));
  std::ofstream(dir.file("huge.png"), std::ios::binary)
      << png_claiming(dir.file("small.png"), 1000000, 1000000);
  try {
    read_image(dir.file("huge.png"), std::numeric_limits<std::uint64_t>::max());
    ADD_FAILURE() << "a 3 TB image was decoded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("huge.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("memory"), std::string::npos) << e.what();
  }
}

// A little-endian TIFF of 8-bit grey in one uncompressed strip holding `pixels`, whose header
// claims w x h (a real image when pixels has w x h bytes).
std::string grey_tiff(std::uint32_t w, std::uint32_t h, const std::string& pixels) {
  std::string bytes = "II*";
  bytes += '\0';
  auto put16 = [&](std::uint32_t v) {
    bytes += static_cast<char>(v & 0xff);
    bytes += static_cast<char>(v >> 8 & 0xff);
  };
  auto put32 = [&](std::uint32_t v) {
    put16(v & 0xffff);
    put16(v >> 16);
  };
  const auto ifd = static_cast<std::uint32_t>(8 + pixels.size() + pixels.size() % 2);
  put32(ifd);
  bytes += pixels;
  if (pixels.size() % 2) bytes += '\0';
  const std::vector<std::array<std::uint32_t, 3>> tags = {
      // tag, type (3 short, 4 long), value
      {256, 4, w}, {257, 4, h}, {258, 3, 8},
      {259, 3, 1}, {262, 3, 1}, {273, 4, 8},
      {277, 3, 1}, {278, 4, h}, {279, 4, static_cast<std::uint32_t>(pixels.size())}};
  put16(static_cast<std::uint32_t>(tags.size()));
  for (const auto& [tag, type, value] : tags) {
    put16(tag);
    put16(type);
    put32(1);
    if (type == 3) {
      put16(value);
      put16(0);
    } else {
      put32(value);
    }
  }
  put32(0);
  return bytes;
}

TEST(ImageIo, TiffHeadersBeyondThePixelLimitAreRefusedAndTheLimitIsTheCallers) {
  test::TempDir dir;
  std::ofstream(dir.file("bomb.tif"), std::ios::binary)
      << grey_tiff(40000, 40000, std::string(16, 'x'));
  std::string pixels;
  for (int k = 0; k < 200; ++k) pixels += static_cast<char>(k);
  std::ofstream(dir.file("small.tif"), std::ios::binary) << grey_tiff(20, 10, pixels);
  const auto small = read_image(dir.file("small.tif"), 200);
  ASSERT_EQ(small.width, 20);
  ASSERT_EQ(small.channels, 1);
  for (int k = 0; k < 200; ++k) EXPECT_EQ(small.samples[static_cast<std::size_t>(k)], k);
  for (auto [file, limit, words] : {std::tuple{"bomb.tif", kDefaultMaxImagePixels, "40000 x 40000"},
                                    {"small.tif", std::uint64_t{199}, "20 x 10 pixels"}}) {
    try {
      read_image(dir.file(file), limit);
      ADD_FAILURE() << file << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      EXPECT_NE(msg.find(words), std::string::npos) << msg;
      EXPECT_NE(msg.find(fmt::format("limit of {}", limit)), std::string::npos) << msg;
    }
  }
}

// Files of the kinds datasets hold, made by PIL (and TurboJPEG for YCCK) with the pixels PIL
// decodes from them (tests/fixtures/make_image_fixtures.py, run here with Debian's Python).
class PilDecoded : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>();
    const std::string cmd = "/usr/bin/python3 '" + std::string(TASKFP_SOURCE_DIR) +
                            "/tests/fixtures/make_image_fixtures.py' '" + dir_->path().string() +
                            "' 2>&1";
    made_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override {
    if (!made_)
      GTEST_SKIP() << "/usr/bin/python3 with PIL and numpy, and libturbojpeg0, are needed "
                      "(apt-get install python3-pil python3-numpy libturbojpeg0)";
  }
  static std::string file(const std::string& name) { return dir_->file(name); }

  struct Expected {
    int width = 0, height = 0, channels = 0, bits = 0;
    std::string coding;
    std::vector<int> samples;
  };
  static std::map<std::string, Expected> expected() {
    std::map<std::string, Expected> out;
    std::ifstream in(file("expected.txt"));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string name;
      Expected e;
      fields >> name >> e.width >> e.height >> e.channels >> e.bits >> e.coding;
      for (int v; fields >> v;) e.samples.push_back(v);
      out[name] = std::move(e);
    }
    return out;
  }

  static inline std::unique_ptr<test::TempDir> dir_;
  static inline bool made_ = false;
};

// Every file decodes to the pixels PIL decodes (16-bit RGB TIFFs, which PIL cuts to 8 bits, to
// the 16-bit values written). Losslessly stored pixels are equal; JPEG-coded ones (JPEG files,
// JPEG-compressed TIFF, CMYK and YCCK, the damaged JPEGs) may differ by 1: PIL decodes with the
// same libjpeg-turbo, so they agree exactly where both link the same build, and 1 allows for
// another build's rounding in its IDCT, upsampling or colour conversion. Clean files carry no
// warnings.
TEST_F(PilDecoded, EveryFileDecodesToPilsPixels) {
  const auto all = expected();
  EXPECT_GE(all.size(), 20u);
  for (const auto& [name, want] : all) {
    SCOPED_TRACE(name);
    const auto img = read_image(file(name));
    ASSERT_EQ(img.width, want.width);
    ASSERT_EQ(img.height, want.height);
    ASSERT_EQ(img.channels, want.channels);
    ASSERT_EQ(img.bit_depth, want.bits);
    ASSERT_EQ(img.samples.size(), want.samples.size());
    const int tolerance = want.coding == "jpeg" ? 1 : 0;
    int worst = 0;
    std::size_t at = 0;
    for (std::size_t k = 0; k < img.samples.size(); ++k) {
      const int diff = std::abs(static_cast<int>(img.samples[k]) - want.samples[k]);
      if (diff > worst) worst = diff, at = k;
    }
    EXPECT_LE(worst, tolerance) << "sample " << at << ": " << img.samples[at] << " vs PIL's "
                                << want.samples[at];
    const bool damaged =
        name == "truncated.jpg" || name == "extraneous_bytes.jpg" || name == "two_pages.tif";
    if (!damaged) {
      EXPECT_TRUE(img.warnings.empty()) << img.warnings.front();
    }
  }
}

// What decoding recovered from is said, not printed: libjpeg's warnings on a truncated JPEG and
// extraneous bytes, a TIFF's second page. libtiff prints nothing either for files it refuses.
TEST_F(PilDecoded, RecoveredDamageIsReportedAndNothingPrinted) {
  for (auto [name, words] : {std::pair{"truncated.jpg", "Premature end of JPEG file"},
                             {"extraneous_bytes.jpg", "extraneous bytes before marker"},
                             {"two_pages.tif", "2 pages: only the first is read"}}) {
    testing::internal::CaptureStderr();
    const auto img = read_image(file(name));
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << name;
    ASSERT_EQ(img.warnings.size(), 1u) << name;
    EXPECT_NE(img.warnings[0].find(words), std::string::npos) << img.warnings[0];
  }
  // Damaged and unsupported TIFFs, and a JPEG of more scans than any real one (each a pass over
  // the image: hours of work for a small hostile file): errors naming the file and the reason,
  // nothing on stderr.
  const auto whole = file_bytes(file("rgb8_lzw.tif"));
  std::ofstream(file("short.tif"), std::ios::binary) << whole.substr(0, whole.size() / 2);
  std::string bad_ifd = whole;
  bad_ifd[4] = '\x7f';  // the first IFD's offset, beyond the file
  std::ofstream(file("bad_ifd.tif"), std::ios::binary) << bad_ifd;
  for (auto [name, words] : {std::pair{"short.tif", "not a readable TIFF"},
                             {"bad_ifd.tif", "not a readable TIFF"},
                             {"refused/float32.tif", "32-bit floating-point samples"},
                             {"refused/int32.tif", "32-bit signed integer samples"},
                             {"refused/many_scans.jpg", "more than 1000 progressive scans"}}) {
    testing::internal::CaptureStderr();
    try {
      read_image(file(name));
      ADD_FAILURE() << name << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file(name)), std::string::npos) << msg;
      EXPECT_NE(msg.find(words), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << name;
  }
}

// Shrinking 4 -> 2 (scale 2, support 2): weights by hand from the triangle filter,
// output 0 covers inputs 0..2 with (0.75, 0.75, 0.25) / 1.75, output 1 inputs 1..3 with
// (0.25, 0.75, 0.75) / 1.75.
TEST(Resize, HandComputedShrinkAndIdentity) {
  const std::vector<float> row = {0.0f, 7.0f, 14.0f, 21.0f};
  const auto out = resize_antialias(row, 1, 1, 4, 1, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0], (0.75f * 0 + 0.75f * 7 + 0.25f * 14) / 1.75f, 1e-5);  // 5
  EXPECT_NEAR(out[1], (0.25f * 7 + 0.75f * 14 + 0.75f * 21) / 1.75f, 1e-5);  // 16
  // Same size: untouched, bit for bit.
  const std::vector<float> img = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  EXPECT_EQ(resize_antialias(img, 1, 2, 3, 2, 3), img);
  // A constant image stays constant at any size (weights sum to 1).
  const std::vector<float> flat(5 * 7, 0.25f);
  for (float v : resize_antialias(flat, 1, 5, 7, 13, 3)) EXPECT_NEAR(v, 0.25f, 1e-6);
}

// torch's interpolate(bilinear, antialias=True) on formula inputs, sampled outputs
// (tests/fixtures/make_resize_fixtures.py, torch 1.13).
TEST(Resize, MatchesTorchAntialiasedBilinear) {
  std::ifstream in(std::string(TASKFP_FIXTURES) + "/resize_fixtures.txt");
  ASSERT_TRUE(in.good());
  std::string line;
  int cases = 0;
  double worst = 0;
  while (std::getline(in, line)) {
    if (line.rfind("case ", 0) != 0) continue;
    std::istringstream head(line.substr(5));
    int c, h, w, oh, ow, n;
    head >> c >> h >> w >> oh >> ow >> n;
    std::vector<float> x(static_cast<std::size_t>(c) * h * w);
    for (int ci = 0; ci < c; ++ci)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j)
          x[(static_cast<std::size_t>(ci) * h + i) * w + j] =
              static_cast<float>((ci * 131 + i * 31 + j * 17 + (i * j) % 7) % 256) / 255.0f;
    const auto y = resize_antialias(x, c, h, w, oh, ow);
    std::getline(in, line);
    std::istringstream values(line);
    std::string item;
    int seen = 0;
    while (values >> item) {
      const auto colon = item.find(':');
      const std::size_t k = std::stoul(item.substr(0, colon));
      const double want = std::stod(item.substr(colon + 1));
      ASSERT_LT(k, y.size());
      worst = std::max(worst, std::fabs(y[k] - want));
      EXPECT_NEAR(y[k], want, 1e-6) << "case " << c << "x" << h << "x" << w << " -> " << oh << "x" << ow << " at " << k;
      ++seen;
    }
    EXPECT_EQ(seen, n);
    ++cases;
  }
  EXPECT_EQ(cases, 5);
  RecordProperty("max_abs_difference", fmt::format("{:g}", worst));
}

// Preprocessing: 8- and 16-bit grey scaled by their maxima, repeated to 3 channels, normalised.
TEST(Preprocess, ScalesGreyToThreeNormalisedChannels) {
  PreprocessOptions o;
  o.size = 4;
  for (int bits : {8, 16}) {
    Image img;
    img.width = 4, img.height = 4, img.channels = 1, img.bit_depth = bits;
    const int value = bits == 16 ? 32768 : 128;
    img.samples.assign(16, static_cast<std::uint16_t>(value));
    const auto out = preprocess(img, o);
    ASSERT_EQ(out.size(), 3u * 16u);
    const float v = static_cast<float>(value) / (bits == 16 ? 65535.0f : 255.0f);
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 16; ++k)
        EXPECT_FLOAT_EQ(out[static_cast<std::size_t>(c) * 16 + static_cast<std::size_t>(k)],
                        (v - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)]);
  }
  // RGBA: alpha dropped, channels kept apart.
  Image rgba;
  rgba.width = 1, rgba.height = 1, rgba.channels = 4, rgba.samples = {255, 0, 51, 7};
  o.size = 2;
  const auto out = preprocess(rgba, o);
  EXPECT_FLOAT_EQ(out[0], (1.0f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(out[4], (0.0f - 0.456f) / 0.224f);
  EXPECT_FLOAT_EQ(out[8], (51.0f / 255.0f - 0.406f) / 0.225f);
}

// Unit images (DICOM, NIfTI: intensities already mapped to [0, 1]) are taken as they are; a
// wrong value count is refused, not read out of bounds.
TEST(Preprocess, UnitImagesAreTakenAsTheyAre) {
  PreprocessOptions o;
  o.size = 2;
  Image img;
  img.width = 1, img.height = 1, img.channels = 3, img.bit_depth = 0;
  img.unit = {1.0f, 0.25f, 0.0f};
  const auto out = preprocess(img, o);
  for (int k = 0; k < 4; ++k) {
    EXPECT_FLOAT_EQ(out[static_cast<std::size_t>(k)], (1.0f - 0.485f) / 0.229f);
    EXPECT_FLOAT_EQ(out[4 + static_cast<std::size_t>(k)], (0.25f - 0.456f) / 0.224f);
    EXPECT_FLOAT_EQ(out[8 + static_cast<std::size_t>(k)], (0.0f - 0.406f) / 0.225f);
  }
  img.unit.pop_back();
  EXPECT_THROW(preprocess(img, o), InputError);
}

}  // namespace
}  // namespace taskfp
