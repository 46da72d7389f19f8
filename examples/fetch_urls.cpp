// fetch_urls [options] URL...: the seeds' gevent program, for real URLs.
// One task per URL (at most --concurrency at once); each prints "GET: url"
// when it starts and "N bytes received from url." (or a one-line error)
// when it ends; then a summary line. Exit status 0 only if every fetch
// succeeded.
//
// With no URL it starts greenring's own HTTP server on 127.0.0.1 (an
// ephemeral port) serving pages of different sizes, and an HTTPS one with a
// certificate made at start-up by a CA made at start-up (which the client
// then trusts: verification stays on), and fetches those, so it runs on a
// machine with no network.
//
// Options: --concurrency N (default 100), --timeout SECONDS (total per
// URL, default 30), --repeat K (fetch each URL K times), --quiet (summary
// only), --insecure (https without certificate verification), --cacert FILE
// (also trust the CA certificates in this PEM file), --compressed (ask for
// gzip/deflate and count the decoded bytes).
#include <greenring/greenring.hpp>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  std::size_t concurrency = 100;
  double timeout_s = 30;
  int repeat = 1;
  bool quiet = false;
  bool insecure = false;
  bool compressed = false;
  std::string cacert;
  std::vector<std::string> urls;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fetch_urls: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    // A whole number in [1, max], or exit 2 naming the option.
    auto count = [&](const char* name, unsigned long max) {
      const char* v = value(name);
      char* end = nullptr;
      errno = 0;
      const unsigned long n = std::strtoul(v, &end, 10);
      if (errno || end == v || *end || v[0] == '-' || n < 1 || n > max) {
        std::fprintf(stderr, "fetch_urls: %s wants a whole number from 1 to %lu, not '%s'\n", name, max, v);
        std::exit(2);
      }
      return n;
    };
    if (!std::strcmp(argv[i], "--concurrency")) concurrency = count("--concurrency", 1'000'000);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = static_cast<int>(count("--repeat", 1'000'000));
    else if (!std::strcmp(argv[i], "--timeout")) {
      const char* v = value("--timeout");
      char* end = nullptr;
      timeout_s = std::strtod(v, &end);
      // Up to a day: beyond that a double does not convert to nanoseconds
      // safely, and no fetch should wait so long.
      if (end == v || *end || !(timeout_s > 0) || timeout_s > 86400) {
        std::fprintf(stderr, "fetch_urls: --timeout wants seconds above 0 and at most 86400, not '%s'\n", v);
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--cacert")) cacert = value("--cacert");
    else if (!std::strcmp(argv[i], "--quiet")) quiet = true;
    else if (!std::strcmp(argv[i], "--insecure")) insecure = true;
    else if (!std::strcmp(argv[i], "--compressed")) compressed = true;
    else if (argv[i][0] == '-') {
      std::fprintf(stderr,
                   "usage: fetch_urls [--concurrency N] [--timeout S] [--repeat K] [--quiet] [--insecure] [--cacert FILE] "
                   "[--compressed] URL...\n");
      return 2;
    } else urls.emplace_back(argv[i]);
  }

  greenring::http::options opts;
  opts.insecure = insecure;
  opts.decompress = compressed;
  if (!cacert.empty()) {
    // Extra CAs to trust (PEM, as curl --cacert), besides the system's.
    try {
      opts.ca_pem.push_back(greenring::read_file(cacert));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fetch_urls: --cacert: %s\n", e.what());
      return 2;
    }
  }

  // No URLs: serve a few pages ourselves, over http and https.
  std::unique_ptr<greenring::http::server> local, local_tls;
  if (urls.empty()) {
    auto pages = [](const greenring::http::request& r) {
      std::size_t size = 0;
      if (r.target == "/") size = 512;
      else if (r.target == "/small") size = 2 * 1024;
      else if (r.target == "/medium") size = 64 * 1024;
      else if (r.target == "/large") size = 1024 * 1024;
      else return greenring::http::reply{404, {}, "not found\n"};
      return greenring::http::reply{200, {{"Content-Type", "text/plain"}}, std::string(size, 'g')};
    };
    local = std::make_unique<greenring::http::server>(greenring::address::parse("127.0.0.1:0"), pages);
    local->start();
    const std::string base = "http://" + local->local().to_string();
    for (const char* p : {"/", "/small", "/medium", "/large"}) urls.push_back(base + p);
    // A CA and a server certificate for localhost, made now; the client
    // trusts this CA, so the certificate is really verified.
    auto ca = greenring::tls::make_certificate({"fetch_urls demo CA", {}, {}, 0, 1, true, nullptr});
    auto leaf = greenring::tls::make_certificate({"localhost", {"localhost"}, {"127.0.0.1"}, 0, 1, false, &ca});
    greenring::http::server_options so;
    so.tls_cert_pem = leaf.cert_pem;
    so.tls_key_pem = leaf.key_pem;
    local_tls = std::make_unique<greenring::http::server>(greenring::address::parse("127.0.0.1:0"), pages, so);
    local_tls->start();
    opts.ca_pem.push_back(ca.cert_pem);
    urls.push_back("https://localhost:" + std::to_string(local_tls->local().port()) + "/medium");
  }

  opts.total_timeout = std::chrono::duration_cast<greenring::duration>(std::chrono::duration<double>(timeout_s));
  greenring::http::client client(opts);
  greenring::semaphore slots(concurrency);
  std::size_t failures = 0;
  std::uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  std::vector<greenring::task<void>> tasks;
  for (int k = 0; k < repeat; ++k)
    for (const auto& url : urls) {
      slots.acquire();  // at most `concurrency` fetches in flight
      tasks.push_back(greenring::spawn([&, url] {
        std::lock_guard<greenring::semaphore> slot(slots, std::adopt_lock);
        if (!quiet) std::printf("GET: %s\n", url.c_str());
        try {
          auto r = client.get(url);
          total += r.body_bytes;
          if (r.status >= 400) {
            ++failures;
            if (!quiet) std::printf("%s: HTTP %d %s\n", url.c_str(), r.status, r.reason.c_str());
          } else if (!quiet) {
            std::printf("%llu bytes received from %s.\n", static_cast<unsigned long long>(r.body_bytes), url.c_str());
          }
        } catch (const std::exception& e) {
          ++failures;
          std::printf("error: %s\n", e.what());
        }
      }));
    }
  greenring::joinall(tasks);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu fetched, %zu failed, %llu bytes in %.3f s\n", tasks.size(), failures,
              static_cast<unsigned long long>(total), secs);
  if (local) local->stop();
  if (local_tls) local_tls->stop();
  return failures == 0 ? 0 : 1;
}
