// Typed errors: user mistakes throw InputError (the CLI prints the message and exits non-zero);
// internal invariants use assert.
#pragma once

#include <fmt/format.h>

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

/// Throws InputError with a formatted message when `cond` is false.
template <typename... Args>
void require(bool cond, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace taskfp
