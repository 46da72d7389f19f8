// libFuzzer target: URL parsing and Location resolution (RELIABILITY P9 c).
#include <greenring/http.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  try {
    auto u = greenring::http::url::parse(in.substr(0, nl));
    // Whatever parses must format back into something that parses the same.
    auto again = greenring::http::url::parse(u.to_string());
    if (again.host != u.host || again.port != u.port || again.target != u.target) __builtin_trap();
    if (nl != std::string_view::npos) u.resolve(in.substr(nl + 1));
  } catch (const greenring::http::error&) {
  }
  return 0;
}
