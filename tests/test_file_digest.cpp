// io/file_digest: equal contents give equal digests; any change of a byte, a size or a name in a
// folder gives another.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/file_digest.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

TEST(FileDigest, FollowsContentsSizesAndNames) {
  test::TempDir dir;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir.file(name)).parent_path());
    std::ofstream(dir.file(name), std::ios::binary) << text;
  };
  write("a.h5", "fingerprints");
  write("b.h5", "fingerprints");
  write("c.h5", "fingerprintS");
  EXPECT_EQ(file_digest(dir.file("a.h5")), file_digest(dir.file("b.h5")));
  EXPECT_NE(file_digest(dir.file("a.h5")), file_digest(dir.file("c.h5")));
  EXPECT_EQ(file_digest(dir.file("a.h5")).rfind("12 bytes, xxh3 ", 0), 0u) << file_digest(dir.file("a.h5"));
  // Folders: the same files under the same names.
  write("x/t1/features_0001.npy", "1");
  write("x/t2/features_0001.npy", "2");
  write("y/t1/features_0001.npy", "1");
  write("y/t2/features_0001.npy", "2");
  write("z/t1/features_0001.npy", "1");
  write("z/t3/features_0001.npy", "2");
  EXPECT_EQ(file_digest(dir.file("x")), file_digest(dir.file("y")));
  EXPECT_NE(file_digest(dir.file("x")), file_digest(dir.file("z")));
  EXPECT_THROW(file_digest(dir.file("absent.h5")), InputError);
}

}  // namespace
}  // namespace taskfp
