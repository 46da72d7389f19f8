// greenring — files on the hub's io_uring. Regular-file requests cannot
// always be cancelled once a kernel worker runs them; io_op waits for their
// CQE either way, so a buffer is never written after its task moved on.
#include "../runtime/detail/io.hpp"
#include "../runtime/detail/assert.hpp"

#include <greenring/file.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace greenring {
namespace {

template <class Prep>
int file_op(int fd, detail::io_counter* c, const char* what, Prep prep) {
  detail::hub& h = detail::hub::get();
  for (;;) {
    detail::io_op op(h, fd, c);
    prep(op.sqe());
    int r = op.wait(what);
    if (r == -EINTR || r == -EAGAIN) continue;
    return r;
  }
}

[[noreturn]] void throw_file(const char* op, const std::string& path, std::error_code ec) {
  throw std::system_error(ec, std::string(op) + " " + path);
}

}  // namespace

file::file(file&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {
  GREENRING_ASSERT(o.counter_.in_flight == 0, "a file was moved while a task was using it");
}

file& file::operator=(file&& o) noexcept {
  if (this != &o) {
    close();
    GREENRING_ASSERT(o.counter_.in_flight == 0, "a file was moved while a task was using it");
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
  }
  return *this;
}

file file::open(const std::string& path, int flags, mode_t mode, std::error_code& ec) {
  ec.clear();
  file f;
  int r = file_op(-1, nullptr, "open", [&](io_uring_sqe* q) {
    io_uring_prep_openat(q, AT_FDCWD, path.c_str(), flags | O_CLOEXEC, mode);
  });
  if (r < 0) {
    ec = {-r, std::system_category()};
    return f;
  }
  f.fd_ = r;
  f.path_ = path;
  return f;
}

file file::open(const std::string& path, int flags, mode_t mode) {
  std::error_code ec;
  file f = open(path, flags, mode, ec);
  if (ec) throw_file("open", path, ec);
  return f;
}

std::size_t file::read_at(mutable_buffer buf, std::uint64_t offset, std::error_code& ec) {
  ec.clear();
  if (fd_ < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  int r = file_op(fd_, &counter_, "read", [&](io_uring_sqe* q) {
    io_uring_prep_read(q, fd_, buf.data, static_cast<unsigned>(std::min<std::size_t>(buf.size, 1u << 30)), offset);
  });
  if (r < 0) {
    ec = {-r, std::system_category()};
    return 0;
  }
  return static_cast<std::size_t>(r);
}

std::size_t file::read_at(mutable_buffer buf, std::uint64_t offset) {
  std::error_code ec;
  std::size_t n = read_at(buf, offset, ec);
  if (ec) throw_file("read", path_, ec);
  return n;
}

std::size_t file::write_at(const_buffer buf, std::uint64_t offset, std::error_code& ec) {
  ec.clear();
  if (fd_ < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  std::size_t done = 0;
  const auto* p = static_cast<const char*>(buf.data);
  while (done < buf.size) {
    const std::size_t chunk = std::min<std::size_t>(buf.size - done, 1u << 30);
    int r = file_op(fd_, &counter_, "write", [&](io_uring_sqe* q) {
      io_uring_prep_write(q, fd_, p + done, static_cast<unsigned>(chunk), offset + done);
    });
    if (r < 0) {
      ec = {-r, std::system_category()};
      return done;
    }
    if (r == 0) {
      ec = std::make_error_code(std::errc::no_space_on_device);
      return done;
    }
    done += static_cast<std::size_t>(r);
  }
  return done;
}

void file::write_at(const_buffer buf, std::uint64_t offset) {
  std::error_code ec;
  write_at(buf, offset, ec);
  if (ec) throw_file("write", path_, ec);
}

void file::sync(bool data_only) {
  int r = file_op(fd_, &counter_, "fsync", [&](io_uring_sqe* q) {
    io_uring_prep_fsync(q, fd_, data_only ? IORING_FSYNC_DATASYNC : 0);
  });
  if (r < 0) throw_file("fsync", path_, {-r, std::system_category()});
}

std::uint64_t file::size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_file("fstat", path_, {errno, std::system_category()});
  return static_cast<std::uint64_t>(st.st_size);
}

void file::close() noexcept {
  if (fd_ < 0 && !counter_.closing) return;
  detail::close_fd(fd_, counter_);
}

std::string read_file(const std::string& path) {
  file f = file::open(path);
  std::string out;
  std::uint64_t off = 0;
  std::size_t chunk = 64 * 1024;
  try {
    chunk = std::max<std::size_t>(chunk, static_cast<std::size_t>(f.size()) + 1);
  } catch (const std::system_error&) {
  }
  for (;;) {
    out.resize(off + chunk);
    std::size_t n = f.read_at(mutable_buffer(out.data() + off, chunk), off);
    off += n;
    out.resize(off);
    if (n == 0) return out;
  }
}

void write_file(const std::string& path, std::string_view bytes) {
  file f = file::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  f.write_at(bytes, 0);
  f.close();
}

}  // namespace greenring
