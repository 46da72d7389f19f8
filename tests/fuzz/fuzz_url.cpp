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
    if (nl != std::string_view::npos) {
      // A resolved target is an absolute path, without dot segments when
      // the base had none (a reference may keep the base's path as it is).
      const auto dotless = [](const std::string& target) {
        const std::string_view path = std::string_view(target).substr(0, target.find('?'));
        return !path.empty() && path.front() == '/' && path.find("/./") == std::string_view::npos &&
               path.find("/../") == std::string_view::npos && !path.ends_with("/.") && !path.ends_with("/..");
      };
      const bool base_dotless = dotless(u.target);
      const auto r = u.resolve(in.substr(nl + 1));
      if (r.target.empty() || r.target.front() != '/' || (base_dotless && !dotless(r.target))) __builtin_trap();
    }
  } catch (const greenring::http::error&) {
  }
  return 0;
}
