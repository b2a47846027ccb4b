// core/error: running out of memory becomes a user error that says what was being done.
#include <gtest/gtest.h>

#include <new>
#include <vector>

#include "core/error.hpp"

namespace taskfp {
namespace {

TEST(Errors, OutOfMemorySaysWhatWasBeingDone) {
  try {
    out_of_memory_as_error("reading 'big.h5'", []() -> int { throw std::bad_alloc(); });
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("out of memory while reading 'big.h5'"), std::string::npos) << e.what();
  }
  // A real allocation beyond any address space, and a value passed through when all is well.
  EXPECT_THROW(out_of_memory_as_error("allocating", [] { return std::vector<char>(std::size_t{1} << 62).size(); }),
               InputError);
  EXPECT_EQ(out_of_memory_as_error("adding", [] { return 1 + 1; }), 2);
}

}  // namespace
}  // namespace taskfp
