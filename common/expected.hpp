// expected.hpp: expected<T>, a value or a walmux::error, and status
// (= expected<void>).
//
// C++20 has no std::expected; this is the small subset walmux needs. Both
// types are [[nodiscard]]: ignoring a status must be written out, e.g.
// `(void)file.close();` with a comment that says why it is safe.
#pragma once

#include "common/error.hpp"

#include <cassert>
#include <optional>
#include <utility>
#include <variant>

namespace walmux {

template <class T>
class [[nodiscard]] expected {
 public:
  expected(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}
  expected(error err)
      : state_(std::in_place_index<1>, std::move(err)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // REQUIRES: has_value().
  T& value() & {
    assert(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !has_value().
  const error& err() const& {
    assert(!has_value());
    return std::get<1>(state_);
  }
  error&& err() && {
    assert(!has_value());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, error> state_;
};

template <>
class [[nodiscard]] expected<void> {
 public:
  expected() = default;
  expected(error err)
      : error_(std::move(err)) {}

  bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

  // REQUIRES: !has_value().
  const error& err() const& {
    assert(error_.has_value());
    return *error_;
  }
  error&& err() && {
    assert(error_.has_value());
    return std::move(*error_);
  }

 private:
  std::optional<error> error_;
};

using status = expected<void>;

inline status ok() {
  return {};
}

} // namespace walmux
