// buffered_reader: records across any fragmentation, mixed with exact
// reads, the record limit against a hostile peer, timeouts that keep what
// arrived, kills, and the other streams (TLS, a child's pipe).
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>
#include <greenring/reader.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using greenring::address;
using greenring::buffered_reader;
using greenring::tcp_listener;
using greenring::tcp_stream;

namespace {

// Every test gets a connected pair on 127.0.0.1: `a` (the client end, read
// through a buffered_reader) and `b` (the server end, the peer).
class Reader : public greenring_test::Runtime {
 protected:
  void SetUp() override {
    Runtime::SetUp();
    tcp_listener l = tcp_listener::bind(address::parse("127.0.0.1:0"));
    auto acc = greenring::spawn([&] { b = l.accept(); });
    a = tcp_stream::connect(l.local());
    acc.get();
  }
  void TearDown() override {
    a.close();
    b.close();
    Runtime::TearDown();
  }
  tcp_stream a, b;
};

// Writes each piece as its own send (a short pause between them so they
// arrive as separate reads), then closes.
greenring::task<void> send_pieces(tcp_stream& s, std::vector<std::string> pieces) {
  return greenring::spawn([&s, pieces = std::move(pieces)] {
    for (const auto& p : pieces) {
      s.write_all(p);
      greenring::sleep(1ms);
    }
    s.close();
  });
}

TEST_F(Reader, LinesAcrossAnyFragmentation) {
  auto w = send_pieces(b, {"alpha\nbe", "ta\n", "\ngam", "ma"});
  buffered_reader in(a);
  EXPECT_EQ(in.read_line(), "alpha\n");
  EXPECT_EQ(in.read_line(), "beta\n");
  EXPECT_EQ(in.read_line(), "\n");      // an empty line is "\n", not ""
  EXPECT_EQ(in.read_line(), "gamma");   // the unterminated tail at EOF
  EXPECT_EQ(in.read_line(), "");        // then end of stream, again and again
  EXPECT_EQ(in.read_line(), "");
  w.get();
}

TEST_F(Reader, EveryByteAloneGivesTheSameRecords) {
  const std::string text = "GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  auto w = send_pieces(b, bytes);
  buffered_reader in(a);
  EXPECT_EQ(in.read_until("\r\n\r\n"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // the delimiter split over reads
  EXPECT_EQ(in.read_until("\r\n\r\n"), "rest");
  EXPECT_EQ(in.read_until("\r\n\r\n"), "");
  w.get();
}

TEST_F(Reader, RecordsMixWithExactReads) {
  const std::string body(10000, 'x');
  auto w = send_pieces(b, {"HEAD 10000\n" + body.substr(0, 3000), body.substr(3000) + "TAIL\nmore"});
  buffered_reader in(a);
  EXPECT_EQ(in.read_line(), "HEAD 10000\n");
  std::string got(body.size(), '\0');
  in.read_exact(got);  // what was read ahead with the line comes first
  EXPECT_EQ(got, body);
  EXPECT_EQ(in.read_line(), "TAIL\n");
  char buf[16];
  std::size_t n = in.read_some(buf);
  EXPECT_EQ(std::string(buf, n), "more");
  EXPECT_EQ(in.read_some(buf), 0u);
  std::error_code ec;
  EXPECT_EQ(in.read_exact(greenring::mutable_buffer(buf, 1), ec), 0u);
  EXPECT_EQ(ec, greenring::io_errc::end_of_stream);
  w.get();
}

TEST_F(Reader, ExactReadShortAtEofSaysHowMuch) {
  auto w = send_pieces(b, {"line\nabc"});
  buffered_reader in(a);
  EXPECT_EQ(in.read_line(), "line\n");
  char buf[10];
  std::error_code ec;
  EXPECT_EQ(in.read_exact(buf, ec), 3u);
  EXPECT_EQ(ec, greenring::io_errc::end_of_stream);
  EXPECT_EQ(std::string(buf, 3), "abc");
  try {
    in.read_exact(buf);
    FAIL() << "read_exact past the end succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), greenring::io_errc::end_of_stream);
    EXPECT_NE(std::string(e.what()).find("read_exact 127.0.0.1:"), std::string::npos) << e.what();
  }
  w.get();
}

// A peer that never sends the delimiter gets an error naming the limit,
// and the reader's memory stays bounded however much it sends.
TEST_F(Reader, RecordLimitStopsAHostilePeer) {
  auto flood = greenring::spawn([this] {
    const std::string junk(64 * 1024, 'j');
    std::error_code ec;
    for (int i = 0; i < 64 && !ec; ++i) b.write_all(junk, ec);  // 4 MiB at most, or until we close
    b.close();
  });
  buffered_reader in(a, 1000);
  try {
    in.read_line();
    FAIL() << "a 4 MiB line was accepted with a 1000-byte limit";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), greenring::io_errc::too_long);
    const std::string what = e.what();
    EXPECT_NE(what.find("read_line 127.0.0.1:"), std::string::npos) << what;
    EXPECT_NE(what.find("limit 1000 bytes"), std::string::npos) << what;
  }
  EXPECT_LE(in.size(), 1000u + buffered_reader<tcp_stream>::chunk);
  EXPECT_GE(in.size(), 1000u);  // kept, not dropped: the caller decides
  a.close();
  flood.get();
}

TEST_F(Reader, DelimiterJustPastTheLimitIsTooLong) {
  auto w = send_pieces(b, {std::string(9, 'a') + "\n" + std::string(10, 'b') + "\n"});
  buffered_reader in(a, 10);
  EXPECT_EQ(in.read_line(), std::string(9, 'a') + "\n");  // exactly 10 with its "\n": fits
  std::error_code ec;
  EXPECT_EQ(in.read_line(ec), "");
  EXPECT_EQ(ec, greenring::io_errc::too_long);  // 11: does not
  w.get();
}

// A timeout keeps the bytes that came before it: the next call finds them.
TEST_F(Reader, TimeoutKeepsWhatArrived) {
  b.write_all("par");  // there before the reader asks
  buffered_reader in(a);
  std::error_code ec;
  EXPECT_EQ(in.read_line(ec, 20ms), "");
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(in.buffered(), "par");
  b.write_all("tial\n");
  EXPECT_EQ(in.read_line(), "partial\n");
  try {
    in.read_line(10ms);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_NE(std::string(e.what()).find("read_line 127.0.0.1:"), std::string::npos) << e.what();
  }
}

TEST_F(Reader, KilledWhileWaitingLeavesTheReaderUsable) {
  buffered_reader in(a);
  b.write_all("one\ntw");
  EXPECT_EQ(in.read_line(), "one\n");
  auto t = greenring::spawn([&] { return in.read_line(); });
  greenring::yield();  // t now waits for the rest of "tw..."
  t.kill();
  EXPECT_THROW(t.get(), greenring::task_killed);
  EXPECT_EQ(in.buffered(), "tw");
  b.write_all("o\n");
  EXPECT_EQ(in.read_line(), "two\n");
}

TEST_F(Reader, ConsumeAndBadArguments) {
  auto w = send_pieces(b, {"abc\ndef\n"});
  buffered_reader in(a);
  EXPECT_EQ(in.read_line(), "abc\n");
  ASSERT_EQ(in.buffered(), "def\n");
  in.consume(2);
  EXPECT_EQ(in.read_line(), "f\n");
  EXPECT_THROW(in.read_until(""), std::invalid_argument);
  EXPECT_THROW(buffered_reader<tcp_stream>(a, 0), std::invalid_argument);
  w.get();
}

TEST_F(Reader, AMovedReaderTakesWhatWasBuffered) {
  auto w = send_pieces(b, {"one\ntwo\nthree\n"});
  buffered_reader in(a);
  EXPECT_EQ(in.read_line(), "one\n");
  ASSERT_EQ(in.buffered(), "two\nthree\n");
  buffered_reader moved(std::move(in));
  EXPECT_EQ(in.size(), 0u);  // NOLINT(bugprone-use-after-move): emptied on purpose
  EXPECT_EQ(moved.read_line(), "two\n");
  in = std::move(moved);
  EXPECT_EQ(in.read_line(), "three\n");
  EXPECT_EQ(in.read_line(), "");
  w.get();
}

// Thousands of records in one stream, each checked: nothing lost, nothing
// duplicated, whatever the reads' boundaries.
TEST_F(Reader, ManyRecordsByteExact) {
  constexpr int count = 5000;
  auto w = greenring::spawn([this] {
    std::string batch;
    for (int i = 0; i < count; ++i) {
      batch += "record " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), '.') + "\n";
      if (batch.size() > 3000) {
        b.write_all(batch);
        batch.clear();
      }
    }
    b.write_all(batch);
    b.close();
  });
  buffered_reader in(a);
  for (int i = 0; i < count; ++i)
    ASSERT_EQ(in.read_line(), "record " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), '.') + "\n");
  EXPECT_EQ(in.read_line(), "");
  w.get();
}

TEST_F(Reader, ReadsAChildsOutputByLine) {
  greenring::process_options o;
  o.out = greenring::stdio::pipe;
  auto p = greenring::process::spawn({"printf", "first\\nsecond\\nno newline"}, o);
  buffered_reader in(p.out());
  EXPECT_EQ(in.read_line(), "first\n");
  EXPECT_EQ(in.read_line(), "second\n");
  EXPECT_EQ(in.read_line(), "no newline");
  EXPECT_EQ(in.read_line(), "");
  EXPECT_EQ(p.wait(), 0);
}

TEST_F(Reader, OverTls) {
  using namespace greenring;
  auto cert = tls::make_certificate({});
  auto server_ctx = tls::context::server(cert.cert_pem, cert.key_pem);
  tls::client_options co;
  co.verify = false;
  auto client_ctx = tls::context::client(co);
  tcp_listener l = tcp_listener::bind(address::parse("127.0.0.1:0"));
  auto srv = spawn([&] {
    tls::stream s = tls::stream::accept(l.accept(), server_ctx, 10s);
    s.write_all("hello over tls\nand a second line\n");
    s.shutdown();
  });
  tls::stream c = tls::stream::connect(tcp_stream::connect(l.local()), client_ctx, "localhost", 10s);
  buffered_reader in(c);
  EXPECT_EQ(in.read_line(), "hello over tls\n");
  EXPECT_EQ(in.read_line(), "and a second line\n");
  EXPECT_EQ(in.read_line(), "");  // close_notify: a clean end
  srv.get();
}

}  // namespace
