// greenring — saturating conversion of any chrono duration to the runtime's.
#pragma once

#include <chrono>
#include <cmath>
#include <ratio>
#include <type_traits>

namespace greenring {

using duration = std::chrono::steady_clock::duration;
/// A timeout that never expires.
inline constexpr duration forever = duration::max();

namespace detail {

template <class Rep, class Period>
constexpr duration to_duration(std::chrono::duration<Rep, Period> d) noexcept {
  if constexpr (std::is_integral_v<Rep> && std::ratio_less_equal_v<std::nano, Period>) {
    // Integral and at least as coarse as ns: compare in the source unit.
    using source = std::chrono::duration<Rep, Period>;
    constexpr auto top = std::chrono::duration_cast<std::chrono::duration<long double, Period>>(duration::max());
    if (static_cast<long double>(d.count()) >= top.count()) return duration::max();
    if (static_cast<long double>(d.count()) <= -top.count()) return duration::min();
    (void)sizeof(source);
    return std::chrono::duration_cast<duration>(d);
  }
  using wide = std::chrono::duration<long double, std::nano>;
  const long double ns = std::chrono::duration_cast<wide>(d).count();
  if (!(ns == ns)) return duration::zero();  // NaN
  if (ns >= static_cast<long double>(duration::max().count())) return duration::max();
  if (ns <= static_cast<long double>(duration::min().count())) return duration::min();
  if constexpr (std::is_floating_point_v<Rep>) {
    return duration(static_cast<duration::rep>(std::ceil(ns)));
  } else {
    return std::chrono::duration_cast<duration>(d);
  }
}

}  // namespace detail
}  // namespace greenring
