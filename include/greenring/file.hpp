// greenring — regular files through io_uring: the task parks, the thread
// keeps running other tasks while the kernel reads or writes.
//
//   auto f = greenring::file::open("data.bin");
//   std::vector<char> buf(4096);
//   std::size_t n = f.read_at(buf, 0);
//
// Errors follow socket.hpp: an `std::error_code&` form, and a throwing form
// whose message names the operation and the path.
#pragma once

#include <greenring/buffer.hpp>
#include <greenring/detail/io_counter.hpp>

#include <fcntl.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace greenring {

class file {
 public:
  file() = default;
  file(file&& o) noexcept;
  file& operator=(file&& o) noexcept;
  /// Closes (waiting for this file's requests in flight).
  ~file() { close(); }

  /// openat(2) through the ring; O_CLOEXEC is always added.
  static file open(const std::string& path, int flags = O_RDONLY, mode_t mode = 0644);
  static file open(const std::string& path, int flags, mode_t mode, std::error_code& ec);

  /// Reads up to buf.size bytes at `offset`; 0 at end of file. A short
  /// read is not an error.
  std::size_t read_at(mutable_buffer buf, std::uint64_t offset);
  std::size_t read_at(mutable_buffer buf, std::uint64_t offset, std::error_code& ec);
  /// Writes all of `buf` at `offset` (looping over short writes).
  void write_at(const_buffer buf, std::uint64_t offset);
  std::size_t write_at(const_buffer buf, std::uint64_t offset, std::error_code& ec);
  /// fsync(2) (`data_only`: fdatasync).
  void sync(bool data_only = false);
  /// Current size (fstat).
  std::uint64_t size() const;
  void close() noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }
  int native_handle() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  std::string path_;
  detail::io_counter counter_;
};

/// The whole file's contents.
std::string read_file(const std::string& path);
/// Creates or truncates `path` and writes `bytes` to it.
void write_file(const std::string& path, std::string_view bytes);

}  // namespace greenring
