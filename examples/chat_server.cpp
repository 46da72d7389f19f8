// chat_server [PORT | --demo]: the chat room of Boost.Asio's and Go's
// examples, line by line with buffered_reader. A client's first line is its
// name; every later line goes to everyone else as "name: text"; "/who"
// lists the room, "/quit" leaves. Default port 8008, on 127.0.0.1 (try
// `nc 127.0.0.1 8008` from two terminals). SIGINT/SIGTERM says goodbye to
// everyone and exits 0.
//
// Each member has a bounded outbox and a writer task of its own, so a
// client that stops reading never holds up the others: when its outbox is
// full it is dropped. Lines are at most 1 KiB; a longer one ends the
// connection with a message instead of growing a buffer.
//
// --demo starts the server on an ephemeral port, lets two clients talk,
// prints what each received and exits.
#include <greenring/greenring.hpp>

#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::size_t max_line = 1024;
constexpr std::size_t outbox_size = 256;  // messages a member may fall behind by

struct member {
  std::string name;
  greenring::tcp_stream* conn = nullptr;
  greenring::queue<std::string> outbox{outbox_size};
  bool dropped = false;
  bool in_room = false;
};

class room {
 public:
  void join(member& m) {
    m.in_room = true;
    members_.push_back(&m);
    broadcast("*** " + m.name + " joined (" + std::to_string(members_.size()) + " here)\n", nullptr);
  }
  void leave(member& m) {
    if (!m.in_room) return;
    m.in_room = false;
    members_.remove(&m);
    broadcast("*** " + m.name + (m.dropped ? " was too slow and was dropped\n" : " left\n"), nullptr);
  }
  void broadcast(const std::string& line, const member* from) {
    for (member* m : members_) {
      if (m == from || m->dropped || m->outbox.closed()) continue;
      if (!m->outbox.try_put(line)) {
        // Its outbox is full: it stopped reading. Drop it rather than wait.
        // Nothing here may switch tasks (a member that ran meanwhile could
        // leave and invalidate this loop), so no close(), which waits: the
        // shutdown ends its reader (EOF) and its writer (EPIPE) at once,
        // and its own task then leaves and closes.
        m->dropped = true;
        m->outbox.close();
        m->conn->shutdown(SHUT_RDWR);
      }
    }
  }
  std::string who() const {
    std::string s = "*** here:";
    for (const member* m : members_) s += " " + m->name;
    return s + "\n";
  }
  void close_all(const std::string& goodbye) {
    for (member* m : members_) {
      if (m->outbox.closed()) continue;
      m->outbox.try_put(goodbye);
      m->outbox.close();  // its writer sends what is queued, then hangs up
    }
  }

 private:
  std::list<member*> members_;
};

std::string_view chomp(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A member's own message (a /who answer, a farewell): dropped when its
// outbox is full or already closed.
void tell(member& m, const std::string& line) {
  if (!m.outbox.closed()) m.outbox.try_put(line);
}

void serve_client(room& r, greenring::tcp_stream& conn) {
  greenring::buffered_reader in(conn, max_line);
  member me;
  me.conn = &conn;
  std::error_code ec;
  conn.write_all("welcome; your name?\n", ec);
  std::string first = in.read_line(ec, 60s);
  me.name = std::string(chomp(first));
  if (ec || me.name.empty()) return;
  // The writer: the outbox to the socket, until the outbox is closed and
  // drained. Whatever has queued up goes out in one vectored write, so a
  // reader that keeps up is never dropped for our one-send-per-line pace.
  auto writer = greenring::spawn([&] {
    std::vector<std::string> batch;
    std::vector<greenring::const_buffer> bufs;
    std::error_code wec;
    try {
      for (;;) {
        batch.clear();
        batch.push_back(me.outbox.get());
        while (batch.size() < 64 && !me.outbox.empty()) batch.push_back(*me.outbox.try_get());
        bufs.assign(batch.begin(), batch.end());
        conn.write_all(bufs, wec, 10s);
        if (wec) break;
      }
    } catch (const greenring::queue_closed&) {
      // closed and drained: all said
    }
    conn.shutdown();  // FIN after the last message
  });
  r.join(me);
  // However this task ends (a kill from server.stop() included), it leaves
  // the room and the writer, which uses `me` and `conn`, is gone first.
  struct departure {
    room& r;
    member& me;
    greenring::task<void>& writer;
    ~departure() {
      r.leave(me);
      me.outbox.close();
      writer.kill();  // a no-op once it has finished on its own
    }
  } leaving{r, me, writer};
  for (;;) {
    std::string line = in.read_line(ec);
    if (ec == greenring::io_errc::too_long) {
      tell(me, "*** line longer than " + std::to_string(max_line) + " bytes; bye\n");
      break;
    }
    if (ec || line.empty()) break;  // gone, or dropped by the room
    const std::string_view text = chomp(line);
    if (text == "/quit") break;
    if (text == "/who") {
      tell(me, r.who());
      continue;
    }
    r.broadcast(me.name + ": " + std::string(text) + "\n", &me);
  }
  r.leave(me);
  me.outbox.close();
  writer.join();  // what is queued goes out first
}

// --demo: two clients on the same hub as the server. Each prints, once done,
// the lines it received, so the output does not depend on timing.
int demo() {
  room r;
  greenring::stream_server server(greenring::address::parse("127.0.0.1:0"),
                                  [&r](greenring::tcp_stream& c) { serve_client(r, c); });
  server.start();
  const greenring::address at = server.local();
  std::printf("chat server on %s\n", at.to_string().c_str());

  greenring::event bob_here, alice_said, bob_said;
  auto client = [&](const std::string& name, auto script) {
    return greenring::spawn([&, name, script] {
      auto c = greenring::tcp_stream::connect(at, 5s);
      greenring::buffered_reader in(c);
      std::vector<std::string> got;
      got.push_back(in.read_line(5s));  // the welcome
      c.write_all(name + "\n");
      script(c, in, got);
      for (std::string l = in.read_line(5s); !l.empty(); l = in.read_line(5s)) got.push_back(l);
      return got;
    });
  };
  auto alice = client("alice", [&](greenring::tcp_stream& c, greenring::buffered_reader<greenring::tcp_stream>& in,
                                   std::vector<std::string>& got) {
    got.push_back(in.read_line(5s));  // *** alice joined
    bob_here.wait(5s);
    got.push_back(in.read_line(5s));  // *** bob joined
    c.write_all("hello bob\n");
    alice_said.set();
    bob_said.wait(5s);
    got.push_back(in.read_line(5s));  // bob's answer
    c.write_all("/quit\n");
  });
  auto bob = client("bob", [&](greenring::tcp_stream& c, greenring::buffered_reader<greenring::tcp_stream>& in,
                               std::vector<std::string>& got) {
    got.push_back(in.read_line(5s));  // *** bob joined
    bob_here.set();
    alice_said.wait(5s);
    got.push_back(in.read_line(5s));  // alice: hello bob
    c.write_all("/who\n");
    got.push_back(in.read_line(5s));
    c.write_all("hi alice, bye\n");
    bob_said.set();
    got.push_back(in.read_line(5s));  // *** alice left
    c.write_all("/quit\n");
  });
  for (auto* t : {&alice, &bob}) {
    const auto& lines = t->get();
    std::printf("%s received:\n", t == &alice ? "alice" : "bob");
    for (const auto& l : lines) std::printf("  %s", l.c_str());
  }
  server.stop(1s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--demo") return demo();
  long port = 8008;
  if (argc > 2 || (argc == 2 && ((port = std::strtol(argv[1], nullptr, 10)) <= 0 || port > 65535))) {
    std::fprintf(stderr, "usage: %s [PORT | --demo]\n", argv[0]);
    return 2;
  }
  greenring::block_signals({SIGINT, SIGTERM});
  room r;
  greenring::stream_server server(greenring::address::ip("127.0.0.1", static_cast<std::uint16_t>(port)),
                                  [&r](greenring::tcp_stream& c) { serve_client(r, c); });
  server.start();
  std::printf("chat server on %s (Ctrl-C stops it)\n", server.local().to_string().c_str());
  std::fflush(stdout);
  greenring::wait_signal({SIGINT, SIGTERM});
  r.close_all("*** the server is shutting down\n");
  server.stop(5s);
  std::printf("stopped after %llu connections\n", static_cast<unsigned long long>(server.accepted()));
  return 0;
}
