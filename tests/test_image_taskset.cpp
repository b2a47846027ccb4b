// Image task sets: the procedural generator, class folders and manifests, shrunk variants, the
// seeded draw of samples, and bad task sets.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>

#include <zlib.h>

#include "core/error.hpp"
#include "evaluate/task_set.hpp"
#include "images/idx.hpp"
#include "images/image.hpp"
#include "images/image_taskset.hpp"
#include "images/preprocess.hpp"
#include "images/synth_images.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ImageSynth, WritesEveryFormatDeterministicallyAndATaskSet) {
  test::TempDir a, b;
  ImageSynthOptions o;
  o.families = 4, o.tasks_per_family = 2, o.classes = 2, o.images_per_class = 3;
  const auto names = write_image_tasks(a.path().string(), o);
  write_image_tasks(b.path().string(), o);
  ASSERT_EQ(names.size(), 8u);
  const auto specs = read_image_taskset(a.file("taskset.yaml"));
  ASSERT_EQ(specs.size(), 8u);
  std::set<std::pair<int, int>> kinds;  // (channels, bit depth), plus JPEG seen
  bool jpeg = false;
  for (const auto& spec : specs) {
    const auto t = list_task_images(spec);
    EXPECT_EQ(t.classes, (std::vector<std::string>{"class0", "class1"}));
    ASSERT_EQ(t.files.size(), 6u);
    for (const auto& f : t.files) {
      const auto img = read_image(f);
      kinds.insert({img.channels, img.bit_depth});
      jpeg |= fs::path(f).extension() == ".jpg";
      // Same seed, same bytes.
      EXPECT_EQ(file_bytes(f), file_bytes(b.path() / fs::relative(f, a.path()))) << f;
      EXPECT_EQ(preprocess(img).size(), 3u * 256u * 256u);
    }
  }
  EXPECT_TRUE(jpeg);
  EXPECT_TRUE(kinds.count({1, 8}) && kinds.count({3, 8}) && kinds.count({1, 16}));
}

// `extract --tasks`: the named tasks in the order named, every task when none is named, and an
// InputError naming the task set for a name it lacks.
TEST(ImageTaskSet, SelectTasksKeepsTheOrderNamed) {
  std::vector<ImageTaskSpec> all(3);
  all[0].name = "a", all[1].name = "b", all[2].name = "c";
  const auto chosen = select_image_tasks(all, {"c", "a"}, "the task set t.yaml");
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(chosen[0].name, "c");
  EXPECT_EQ(chosen[1].name, "a");
  EXPECT_EQ(select_image_tasks(all, {}, "the task set t.yaml").size(), 3u);
  try {
    select_image_tasks(all, {"a", "z"}, "the task set t.yaml");
    ADD_FAILURE() << "an unknown task was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("z"), std::string::npos) << e.what();
  }
}

TEST(ImageSynth, SizesAndJpegOnly) {
  for (const int min : {40, 100}) {
    test::TempDir dir;
    ImageSynthOptions o;
    o.families = 1, o.tasks_per_family = 4, o.classes = 1, o.images_per_class = 2, o.min_size = min;
    write_image_tasks(dir.path().string(), o);
    std::set<int> heights;
    for (const auto& spec : read_image_taskset(dir.file("taskset.yaml")))
      for (const auto& f : list_task_images(spec).files) {
        const auto img = read_image(f);
        heights.insert(img.height);
        EXPECT_GE(img.width, img.height) << f;
        EXPECT_LE(img.width, img.height + 8) << f;
      }
    const int step = min * 2 / 5;  // the four tasks: 1, 1.4, 1.8, 2.2 times the minimum
    EXPECT_EQ(heights, (std::set<int>{min, min + step, min + 2 * step, min + 3 * step})) << "min " << min;
  }
  {  // --jpeg-only: every image an RGB JPEG
    test::TempDir dir;
    ImageSynthOptions o;
    o.families = 2, o.tasks_per_family = 2, o.classes = 1, o.images_per_class = 2, o.jpeg_only = true;
    write_image_tasks(dir.path().string(), o);
    std::size_t n = 0;
    for (const auto& spec : read_image_taskset(dir.file("taskset.yaml")))
      for (const auto& f : list_task_images(spec).files) {
        EXPECT_EQ(fs::path(f).extension(), ".jpg") << f;
        EXPECT_EQ(read_image(f).channels, 3) << f;
        ++n;
      }
    EXPECT_EQ(n, 8u);
  }
  ImageSynthOptions tiny;
  tiny.min_size = 4;
  test::TempDir dir;
  EXPECT_THROW(write_image_tasks(dir.path().string(), tiny), InputError);
}

// Options outside their domain are refused, naming the option, before anything is written.
TEST(ImageSynth, OptionsOutsideTheirDomainAreRefusedNamingTheOption) {
  struct Case {
    std::function<void(ImageSynthOptions&)> set;
    std::string option;
  };
  const std::vector<Case> cases = {
      {[](ImageSynthOptions& o) { o.families = 0; }, "--families"},
      {[](ImageSynthOptions& o) { o.tasks_per_family = -1; }, "--tasks-per-family"},
      {[](ImageSynthOptions& o) { o.classes = 0; }, "--classes"},
      {[](ImageSynthOptions& o) { o.images_per_class = 0; }, "--images-per-class"},
      {[](ImageSynthOptions& o) { o.min_size = 7; }, "--min-size"},
      {[](ImageSynthOptions& o) { o.min_size = 8193; }, "--min-size"},
  };
  for (const auto& c : cases) {
    test::TempDir dir;
    ImageSynthOptions o;
    o.families = 1, o.tasks_per_family = 1, o.classes = 1, o.images_per_class = 1;
    c.set(o);
    try {
      write_image_tasks(dir.file("out"), o);
      ADD_FAILURE() << c.option << " out of its domain was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.option), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir.file("out"))) << c.option;
  }
}

TEST(ImageTaskSet, ManifestAndShrunkVariants) {
  test::TempDir dir;
  ImageSynthOptions o;
  o.families = 1, o.tasks_per_family = 1, o.classes = 2, o.images_per_class = 5;
  write_image_tasks(dir.path().string(), o);
  const auto listed = list_task_images(read_image_taskset(dir.file("taskset.yaml")).front());
  // The same images through a manifest (relative paths, another split ignored).
  {
    std::ofstream m(dir.file("manifest.csv"));
    m << "path,label,split\n";
    for (std::size_t k = 0; k < listed.files.size(); ++k)
      m << fs::relative(listed.files[k], dir.path()).string() << ",c" << listed.labels[k] << ",train\n";
    m << "imgfam0_task0/train/class0/0000.png,c0,test\n";
  }
  {
    std::ofstream y(dir.file("set.yaml"));
    y << "tasks:\n  - name: viaManifest\n    manifest: manifest.csv\n    shrink: [4, 100]\n";
  }
  const auto specs = read_image_taskset(dir.file("set.yaml"));
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[1].name, "viaManifest --shrink_train 4");
  const auto full = list_task_images(specs[0]);
  EXPECT_EQ(full.files, listed.files);
  EXPECT_EQ(full.classes, (std::vector<std::string>{"c0", "c1"}));
  const auto shrunk = list_task_images(specs[1], 3);
  ASSERT_EQ(shrunk.files.size(), 4u);
  for (const auto& f : shrunk.files) EXPECT_NE(std::find(full.files.begin(), full.files.end(), f), full.files.end());
  EXPECT_EQ(list_task_images(specs[1], 3).files, shrunk.files);  // deterministic
  EXPECT_EQ(list_task_images(specs[2], 3).files.size(), 10u);    // more than there are: all
}

// What class folders hold besides images is passed over and counted by reason: hidden files
// (.DS_Store, AppleDouble ._x.png), other extensions, subfolders; a hidden folder beside the
// classes (.ipynb_checkpoints) is never a class. Files beside the class folders are no class's
// and not counted. TIFFs and upper-case extensions are images.
TEST(ImageTaskSet, ClassFoldersListImagesAndCountWhatTheyIgnore) {
  test::TempDir dir;
  const auto base = dir.path() / "t" / "train";
  for (const char* f :
       {".DS_Store", "labels.csv", "cat/a.png", "cat/b.jpg", "cat/c.TIF", "cat/._a.png",
        "cat/.DS_Store", "cat/notes.txt", "cat/thumbs/x.png", "dog/d.tiff", "dog/e.JPEG",
        "dog/readme.md", ".ipynb_checkpoints/a-checkpoint.png"}) {
    fs::create_directories((base / f).parent_path());
    std::ofstream(base / f) << "x";
  }
  std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: pets\n    root: t\n    shrink: [2]\n";
  const auto specs = read_image_taskset(dir.file("s.yaml"));
  const auto t = list_task_images(specs[0]);
  EXPECT_EQ(t.classes, (std::vector<std::string>{"cat", "dog"}));
  std::vector<std::string> names;
  for (const auto& f : t.files) names.push_back(fs::relative(f, base).string());
  EXPECT_EQ(names, (std::vector<std::string>{"cat/a.png", "cat/b.jpg", "cat/c.TIF", "dog/d.tiff",
                                             "dog/e.JPEG"}));
  EXPECT_EQ(t.labels, (std::vector<int>{0, 0, 0, 1, 1}));
  EXPECT_EQ(t.ignored.unknown_extension, 2u);  // notes.txt, readme.md
  EXPECT_EQ(t.ignored.hidden, 3u);             // .ipynb_checkpoints, cat/.DS_Store, cat/._a.png
  EXPECT_EQ(t.ignored.subfolders, 1u);         // cat/thumbs
  EXPECT_EQ(t.ignored.other, 0u);
  EXPECT_EQ(t.ignored.examples, (std::vector<std::string>{(base / ".ipynb_checkpoints").string(),
                                                          (base / "cat/.DS_Store").string(),
                                                          (base / "cat/._a.png").string()}));
  EXPECT_EQ(
      t.ignored.summary(),
      fmt::format(
          "ignored 6 files or folders (2 of unknown extension, 3 hidden, 1 subfolder of class "
          "folders), e.g. '{}', '{}', '{}'",
          t.ignored.examples[0], t.ignored.examples[1], t.ignored.examples[2]));
  // The shrunk variant lists the same folders.
  EXPECT_EQ(list_task_images(specs[1]).ignored.count(), 6u);
  // Nothing ignored, nothing said; a class folder of ignored files only is an error saying so.
  fs::remove_all(base / ".ipynb_checkpoints");
  for (const char* f : {"cat/._a.png", "cat/.DS_Store", "cat/notes.txt", "dog/readme.md"})
    fs::remove(base / f);
  fs::remove_all(base / "cat/thumbs");
  EXPECT_EQ(list_task_images(specs[0]).ignored.summary(), "");
  fs::create_directories(base / "owl");
  std::ofstream(base / "owl" / "owl.bmp") << "x";
  try {
    list_task_images(specs[0]);
    ADD_FAILURE() << "a class folder without images was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + (base / "owl").string() +
                                         "' has no images (PNG, JPEG, TIFF, NIfTI or DICOM files) (only 1 "
                                         "other file or folder)"),
              std::string::npos)
        << e.what();
  }
}

TEST(ImageTaskSet, DrawsAreSeededPerTaskAndReplaceOnlyWhenShort) {
  const auto a = draw_samples(50, 20, 1, "task a");
  EXPECT_EQ(a, draw_samples(50, 20, 1, "task a"));
  EXPECT_NE(a, draw_samples(50, 20, 1, "task b"));
  EXPECT_NE(a, draw_samples(50, 20, 2, "task a"));
  EXPECT_EQ(std::set<std::size_t>(a.begin(), a.end()).size(), 20u);  // no repeats
  const auto all = draw_samples(50, 50, 1, "task a");
  EXPECT_EQ(std::set<std::size_t>(all.begin(), all.end()).size(), 50u);  // a permutation
  const auto more = draw_samples(7, 1000, 1, "task a");
  ASSERT_EQ(more.size(), 1000u);
  std::vector<int> hits(7, 0);
  for (auto k : more) ++hits.at(k);
  for (int h : hits) EXPECT_GT(h, 100);  // with replacement, every image drawn often
  EXPECT_THROW(draw_samples(0, 5, 1, "empty"), InputError);
}

// The template for the paper's datasets names exactly the paper's 71 tasks and their 56 shrunk
// variants, as the evaluation's task set has them.
TEST(ImageTaskSet, PaperTemplateNamesThePapersTasks) {
  const std::string configs = std::string(TASKFP_SOURCE_DIR) + "/configs/tasksets/";
  const auto specs = read_image_taskset(configs + "paper-images.yaml");
  const auto paper = TaskSet::load(configs + "paper.yaml");
  std::vector<std::string> want, got;
  for (const auto& t : paper.all()) {
    want.push_back(t);
    if (paper.is_shrinkable(t)) want.push_back(paper.shrunk_name(t));
  }
  for (const auto& s : specs) got.push_back(s.name);
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got.size(), 127u);
  EXPECT_EQ(got, want);
}

TEST(ImageTaskSet, BadTaskSetsAreClearErrors) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "t" / "train" / "empty_class");
  fs::create_directories(dir.path() / "none");
  std::ofstream(dir.file("m.csv")) << "file,label\nx.png,0\n";
  auto expect_error = [&](const std::string& yaml, const std::string& words) {
    std::ofstream(dir.file("s.yaml")) << yaml;
    try {
      const auto specs = read_image_taskset(dir.file("s.yaml"));
      for (const auto& s : specs) list_task_images(s);
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error("tasks:\n  - name: a\n    root: t\n", "has no images (PNG");
  expect_error("tasks:\n  - name: a\n    root: none\n", "no class folders");
  expect_error("tasks:\n  - name: a\n    root: missing\n", "not a readable folder");
  expect_error("tasks:\n  - name: a\n", "needs exactly one of root, manifest and idx");
  expect_error("tasks:\n  - name: a\n    root: t\n  - name: a\n    root: t\n", "appears twice");
  expect_error("tasks:\n  - name: a\n    manifest: m.csv\n", "no column 'path'");
  expect_error("tasks: [", "cannot read task set");
  expect_error("other: 1\n", "needs a 'tasks:' list");
  expect_error("tasks: []\n", "lists no tasks");
}

// Every key's YAML type is checked: a wrong one is an error naming the file, the task and the key
// (`shrink: 5` was silently ignored; `shrink: [abc]` escaped as yaml-cpp's exception). Unknown
// keys (a misspelt `shrinks:`) are refused too.
TEST(ImageTaskSet, WrongYamlTypesAreRefusedNamingFileTaskAndKey) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "t" / "train" / "c");
  const std::string task = "tasks:\n  - name: a\n    root: t\n";
  struct Case {
    std::string yaml;
    std::vector<std::string> words;
  };
  for (const auto& c : std::vector<Case>{
           {task + "    shrink: 5\n", {"'a'", "'shrink'"}},
           {task + "    shrink: [abc]\n", {"'a'", "'shrink'", "abc"}},
           {task + "    shrink: [-3]\n", {"'a'", "'shrink'", "-3"}},
           {task + "    shrink: [1.5]\n", {"'a'", "'shrink'"}},
           {task + "    shrink: [0]\n", {"'a'", "'shrink'"}},
           {task + "    shrink: [[800]]\n", {"'a'", "'shrink'"}},
           {task + "    shrink: {n: 800}\n", {"'a'", "'shrink'"}},
           {task + "    shrink:\n", {"'a'", "'shrink'"}},
           {task + "    split: [train]\n", {"'a'", "'split'"}},
           {task + "    split:\n", {"'a'", "'split'"}},
           {task + "    shrinks: [800]\n", {"'a'", "'shrinks'"}},
           {"tasks:\n  - name: a\n    root: [t, u]\n", {"'a'", "'root'"}},
           {"tasks:\n  - name: a\n    root: {x: t}\n", {"'a'", "'root'"}},
           {"tasks:\n  - name: a\n    root:\n", {"'a'", "'root'"}},
           {"tasks:\n  - name: a\n    manifest: [m.csv]\n", {"'a'", "'manifest'"}},
           {"tasks:\n  - name: [a, b]\n    root: t\n", {"'name'"}},
           {"tasks:\n  - name: {x: 1}\n    root: t\n", {"'name'"}},
           {"tasks:\n  - name:\n    root: t\n", {"'name'"}},
           {"tasks:\n  - just a string\n", {"entry 1"}},
           {"tasks:\n  - name: a\n    root: t\n  - [b, t]\n", {"entry 2"}},
           {"tasks: 5\n", {"'tasks:' list"}},
           {"- name: a\n  root: t\n", {"'tasks:' list"}},
           {"tasks:\n  - name: a\n    root: t\nextra: 1\n", {"'extra'"}},
           {"tasks:\n  - name: a\n    root: t\n    root: t\n", {"s.yaml"}},  // duplicate key
       }) {
    std::ofstream(dir.file("s.yaml")) << c.yaml;
    try {
      read_image_taskset(dir.file("s.yaml"));
      ADD_FAILURE() << "accepted: " << c.yaml;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("s.yaml"), std::string::npos) << msg;
      for (const auto& w : c.words)
        EXPECT_NE(msg.find(w), std::string::npos) << c.yaml << " -> " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  // Scalars of every YAML style are text: a numeric name, quoted paths, a block list of counts.
  std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: 42\n    root: \"t\"\n    split: 'train'\n"
                                       "    shrink:\n      - 1\n      - 2\n";
  const auto specs = read_image_taskset(dir.file("s.yaml"));
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].name, "42");
  EXPECT_EQ(specs[2].name, "42 --shrink_train 2");
  EXPECT_EQ(specs[2].shrink, 2u);
}

// Task names become HDF5 group names: '/', '.', '..' and empty names are refused when the task set
// is read, before any image is decoded, naming the file and the task.
TEST(ImageTaskSet, TaskNamesAreValidatedWhenTheSetIsRead) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "t" / "train" / "c");
  for (const std::string name : {"a/b", "..", ".", "/lead", "tab\there"}) {
    std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: '" << name << "'\n    root: t\n";
    try {
      read_image_taskset(dir.file("s.yaml"));
      ADD_FAILURE() << "accepted: " << name;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("s.yaml"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("'" + name + "'"), std::string::npos) << e.what();
    }
  }
  std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: ''\n    root: t\n";
  try {
    read_image_taskset(dir.file("s.yaml"));
    ADD_FAILURE() << "an empty name was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("s.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

// Manifest rows need a path and a label.
TEST(ImageTaskSet, ManifestRowsWithoutPathOrLabelAreRefused) {
  test::TempDir dir;
  std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: a\n    manifest: m.csv\n";
  for (const std::string row : {",c0,train", "x.png,,train"}) {
    std::ofstream(dir.file("m.csv")) << "path,label,split\nok.png,c1,train\n" << row << "\n";
    try {
      list_task_images(read_image_taskset(dir.file("s.yaml")).front());
      ADD_FAILURE() << "accepted: " << row;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("m.csv"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace taskfp

namespace taskfp {
namespace {

// An IDX file written byte by byte: magic 0 0 8 <dims>, big-endian sizes, then the bytes.
void write_idx(const std::string& path, const std::vector<std::uint32_t>& sizes, const std::vector<std::uint8_t>& bytes,
               bool gzip = false) {
  std::string data = {'\0', '\0', '\x08', static_cast<char>(sizes.size())};
  for (auto v : sizes)
    for (int s = 24; s >= 0; s -= 8) data.push_back(static_cast<char>((v >> s) & 0xff));
  data.append(bytes.begin(), bytes.end());
  if (!gzip) {
    std::ofstream(path, std::ios::binary) << data;
    return;
  }
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
  gzclose(f);
}

// Five 2 x 3 images whose pixels are 10 k + p, labels 1 0 1 2 1.
struct IdxFixture {
  test::TempDir dir;
  IdxFixture(bool gzip = false) {
    std::vector<std::uint8_t> pixels;
    for (int k = 0; k < 5; ++k)
      for (int p = 0; p < 6; ++p) pixels.push_back(static_cast<std::uint8_t>(10 * k + p));
    write_idx(dir.file("images"), {5, 2, 3}, pixels, gzip);
    write_idx(dir.file("labels"), {5}, {1, 0, 1, 2, 1}, gzip);
  }
  std::string taskset(const std::string& extra) const {
    std::ofstream(dir.file("s.yaml")) << "tasks:\n  - name: t\n    idx: {images: images, labels: labels" << extra
                                      << "}\n";
    return dir.file("s.yaml");
  }
};

TEST(ImageTaskSet, IdxTasksKeepTheChosenLabelsInClassThenItemOrder) {
  for (const bool gzip : {false, true}) {
    IdxFixture fx(gzip);
    const auto specs = read_image_taskset(fx.taskset(", classes: [2, 1], names: [zero, one, two]"));
    ASSERT_EQ(specs.size(), 1u);
    const auto t = list_task_images(specs[0]);
    EXPECT_EQ(t.classes, (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(t.index, (std::vector<std::int64_t>{0, 2, 4, 3}));
    EXPECT_EQ(t.labels, (std::vector<int>{0, 0, 0, 1}));
    EXPECT_EQ(t.describe(3), fx.dir.file("images") + " [item 3]");
    const Image img = t.read(1);
    EXPECT_EQ(img.width, 3);
    EXPECT_EQ(img.height, 2);
    EXPECT_EQ(img.channels, 1);
    EXPECT_EQ(img.samples, (std::vector<std::uint16_t>{20, 21, 22, 23, 24, 25}));
    // Every label, named by its value; a shrunk variant keeps items of the same files.
    const auto all = list_task_images(read_image_taskset(fx.taskset(""))[0]);
    EXPECT_EQ(all.classes, (std::vector<std::string>{"0", "1", "2"}));
    EXPECT_EQ(all.index, (std::vector<std::int64_t>{1, 0, 2, 4, 3}));
  }
}

TEST(ImageTaskSet, BadIdxFilesAndEntriesAreErrorsNamingTheFile) {
  IdxFixture fx;
  auto expect_error = [&](const std::string& extra, const std::string& words) {
    try {
      for (const auto& s : read_image_taskset(fx.taskset(extra))) list_task_images(s);
      ADD_FAILURE() << "accepted: " << extra;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error(", classes: [3]", "no image of");
  expect_error(", classes: [1, 1]", "listed twice");
  expect_error(", classes: [300]", "label values 0-255");
  expect_error(", names: []", "non-empty list");
  expect_error(", other: 1", "unknown key 'other'");
  // Counts that differ, the files swapped, a truncated file, a header claiming 2^31 - 1 images.
  write_idx(fx.dir.file("labels4"), {4}, {1, 0, 1, 2});
  auto expect_file_error = [&](const std::string& yaml, const std::string& words) {
    std::ofstream(fx.dir.file("s2.yaml")) << yaml;
    try {
      for (const auto& s : read_image_taskset(fx.dir.file("s2.yaml"))) list_task_images(s);
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_file_error("tasks:\n  - name: t\n    idx: {images: images, labels: labels4}\n", "5 images but 4 labels");
  expect_file_error("tasks:\n  - name: t\n    idx: {images: labels, labels: images}\n", "is not an IDX");
  write_idx(fx.dir.file("short"), {5, 2, 3}, {1, 2, 3});
  expect_file_error("tasks:\n  - name: t\n    idx: {images: short, labels: labels}\n", "is truncated");
  write_idx(fx.dir.file("huge"), {0x7fffffff, 28, 28}, {1, 2, 3});
  write_idx(fx.dir.file("hugel"), {0x7fffffff}, {1, 2, 3});
  expect_file_error("tasks:\n  - name: t\n    idx: {images: huge, labels: hugel}\n", "is truncated");
  write_idx(fx.dir.file("long"), {5, 2, 3}, std::vector<std::uint8_t>(31, 1));
  expect_file_error("tasks:\n  - name: t\n    idx: {images: long, labels: labels}\n", "more bytes than");
  expect_file_error("tasks:\n  - name: t\n    idx: {images: images, labels: labels}\n    split: test\n",
                    "has no 'split'");
  expect_file_error("tasks:\n  - name: t\n    idx: {images: images, labels: labels}\n    root: .\n",
                    "exactly one of");
  expect_file_error("tasks:\n  - name: t\n    idx: {images: missing, labels: labels}\n", "cannot open IDX file");
}

// Mutated IDX pairs (seeded byte flips, header sizes set to extremes, truncations, gzip of a
// mutant) are read or refused with InputError: never a crash, another exception or a
// runaway allocation.
TEST(ImageTaskSet, MutatedIdxFilesAreReadOrRefused) {
  IdxFixture fx;
  const auto read_bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string images = read_bytes(fx.dir.file("images")), labels = read_bytes(fx.dir.file("labels"));
  std::mt19937_64 rng(2026);
  int refused = 0, read = 0;
  for (int m = 0; m < 300; ++m) {
    std::string a = images, b = labels;
    std::string& target = (m % 3 == 0) ? b : a;
    switch (m % 5) {
      case 0:  // byte flips anywhere
        for (int k = 0; k < 3; ++k) target[rng() % target.size()] ^= static_cast<char>(1 + rng() % 255);
        break;
      case 1:  // a header size set to an extreme
        for (int k = 0; k < 4; ++k)
          target[4 + 4 * (rng() % (&target == &a ? 3 : 1)) + static_cast<std::size_t>(k)] =
              static_cast<char>(rng() % 2 ? 0xff : 0x00);
        break;
      case 2:  // truncated
        target.resize(rng() % target.size());
        break;
      case 3:  // bytes appended
        target.append(1 + rng() % 40, static_cast<char>(rng()));
        break;
      default:  // the magic's type or dimension count changed
        target[2 + rng() % 2] = static_cast<char>(rng());
    }
    std::ofstream(fx.dir.file("mi"), std::ios::binary) << a;
    std::ofstream(fx.dir.file("ml"), std::ios::binary) << b;
    try {
      const auto idx = read_idx(fx.dir.file("mi"), fx.dir.file("ml"));
      ASSERT_EQ(idx->pixels.size(), static_cast<std::size_t>(idx->count * idx->rows * idx->columns));
      ASSERT_EQ(idx->labels.size(), static_cast<std::size_t>(idx->count));
      ++read;
    } catch (const InputError& e) {
      ASSERT_NE(std::string(e.what()).find(fx.dir.file("m")), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(read, 10);  // flipped pixel bytes are still images
}

// The packaged Fashion-MNIST (Debian dataset-fashion-mnist), where installed: 60,000 training
// images of 28 x 28 in ten classes of 6,000, the first an ankle boot (label 9), as the dataset's
// documentation shows.
TEST(ImageTaskSet, PackagedFashionMnistReadsAsPublished) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(dir + "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto idx = read_idx(dir + "train-images-idx3-ubyte.gz", dir + "train-labels-idx1-ubyte.gz");
  EXPECT_EQ(idx->count, 60000);
  EXPECT_EQ(idx->rows, 28);
  EXPECT_EQ(idx->columns, 28);
  EXPECT_EQ(idx->labels[0], 9);
  std::vector<int> per(10, 0);
  for (auto l : idx->labels) ++per[l];
  EXPECT_EQ(per, std::vector<int>(10, 6000));
}

}  // namespace
}  // namespace taskfp
