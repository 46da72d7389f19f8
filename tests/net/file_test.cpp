// Files through io_uring: round trips, offsets, errors naming the path.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <string>
#include <vector>

namespace {

class File : public greenring_test::Runtime {
 protected:
  std::string path_ = "/tmp/greenring-file-test-" + std::to_string(::getpid());
  void TearDown() override {
    ::unlink(path_.c_str());
    Runtime::TearDown();
  }
};

TEST_F(File, WriteThenReadRoundTrip) {
  std::string data(3u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  greenring::write_file(path_, data);
  EXPECT_EQ(greenring::read_file(path_), data);
}

TEST_F(File, ReadAndWriteAtOffsets) {
  auto f = greenring::file::open(path_, O_RDWR | O_CREAT | O_TRUNC, 0600);
  f.write_at("hello world", 0);
  f.write_at("WORLD", 6);
  f.sync();
  EXPECT_EQ(f.size(), 11u);
  char buf[16];
  std::size_t n = f.read_at(buf, 6);
  EXPECT_EQ(std::string(buf, n), "WORLD");
  EXPECT_EQ(f.read_at(buf, 11), 0u) << "end of file";
}

TEST_F(File, ConcurrentReadersShareOneFile) {
  std::string data(1u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i / 4096);
  greenring::write_file(path_, data);
  auto f = greenring::file::open(path_);
  std::vector<greenring::task<bool>> readers;
  for (int t = 0; t < 64; ++t)
    readers.push_back(greenring::spawn([&f, &data, t] {
      char buf[4096];
      for (int i = 0; i < 16; ++i) {
        std::size_t off = static_cast<std::size_t>((t * 16 + i) % 256) * 4096;
        if (f.read_at(buf, off) != 4096 || std::string(buf, 4096) != data.substr(off, 4096)) return false;
      }
      return true;
    }));
  for (auto& r : readers) EXPECT_TRUE(r.get());
}

TEST_F(File, ErrorsNameOperationAndPath) {
  try {
    greenring::file::open("/nonexistent-dir/x");
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()), "open /nonexistent-dir/x: No such file or directory");
  }
  std::error_code ec;
  auto f = greenring::file::open("/nonexistent-dir/x", O_RDONLY, 0, ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_FALSE(f.is_open());
  auto ro = greenring::file::open("/proc/self/status");
  try {
    ro.write_at("x", 0);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("write /proc/self/status: ", 0), 0u) << e.what();
  }
}

}  // namespace
