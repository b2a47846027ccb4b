// Typed errors: user mistakes throw InputError (the CLI prints the message and exits non-zero);
// internal invariants use assert.
#pragma once

#include <fmt/format.h>

#include <new>
#include <stdexcept>
#include <string>

namespace taskfp {

/// Base of every error taskfp reports to a user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad input: a missing or unreadable file, a malformed value, a mismatch between inputs.
/// The message names the input and says what to do.
class InputError : public Error {
 public:
  using Error::Error;
};

/// Fingerprints or features that must not be compared (different backbone, ranges, ...).
class ProvenanceError : public InputError {
 public:
  using InputError::InputError;
};

/// Runs `fn`; running out of memory inside it becomes an InputError that says what was being
/// done (`what`: "reading 'x.h5'", "computing bkld-large for 127 x 127 tasks").
template <typename Fn>
auto out_of_memory_as_error(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    throw InputError(fmt::format("out of memory while {}: run with fewer tasks or metrics at a "
                                 "time, or on a machine with more memory",
                                 what));
  }
}

/// Throws InputError with a formatted message when `cond` is false.
template <typename... Args>
void require(bool cond, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace taskfp
