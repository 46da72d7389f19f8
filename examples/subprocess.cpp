// The seeds' subprocess programs: run a command and print its exit code;
// start one with pipes and feed it input through communicate(); and, as a
// task each, run several at once: their waits park tasks, not the thread.
//   subprocess                 the demo below
//   subprocess CMD [ARGS...]   runs CMD with this terminal, prints its code
#include <greenring/greenring.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc > 1) {
    std::vector<std::string> cmd(argv + 1, argv + argc);
    try {
      int r = greenring::call(cmd);
      std::printf("Exit code: %d\n", r);
      return r == 0 ? 0 : 1;
    } catch (const std::exception& e) {
      std::printf("%s\n", e.what());
      return 1;
    }
  }

  // subprocess.call(['echo', ...])
  std::printf("$ echo hello from a child\n");
  std::fflush(stdout);  // the child writes to the same terminal
  int r = greenring::call({"echo", "hello from a child"});
  std::printf("Exit code: %d\n", r);

  // Popen(['sort'], stdin=PIPE, stdout=PIPE, stderr=PIPE).communicate(input)
  std::printf("$ sort\n");
  greenring::process_options o;
  o.in = o.out = o.err = greenring::stdio::pipe;
  auto p = greenring::process::spawn({"sort"}, o);
  auto [out, err] = p.communicate("python.org\ngevent.org\ngreenring\n");
  std::printf("%s", out.c_str());
  std::printf("Exit code: %d\n", p.wait());

  // Three children of 0.3 s each, one task each: about 0.3 s in all.
  const auto start = std::chrono::steady_clock::now();
  std::vector<greenring::task<std::string>> tasks;
  for (int i = 1; i <= 3; ++i)
    tasks.push_back(greenring::spawn([i] {
      return greenring::check_output({"sh", "-c", "sleep 0.3; echo child $0 done", std::to_string(i)});
    }));
  for (auto& t : tasks) std::printf("%s", t.get().c_str());
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("3 children of 0.3 s each, run at once: %.2f s in all.\n", took);
}
