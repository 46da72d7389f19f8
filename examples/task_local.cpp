// The seeds' ThreadLocal idea with tasks: each task stores "its" student in
// a task-local and the functions it calls read it, without passing it down.
#include <greenring/greenring.hpp>

#include <cstdio>
#include <string>

greenring::local<std::string> local_school;  // one value per task

void process_student() {
  const std::string& std = *local_school;  // this task's, whoever else runs
  std::printf("Hello, %s (in %s)\n", std.c_str(), greenring::greenlet::current().name().c_str());
}

void process_task(const std::string& name) {
  *local_school = name;
  greenring::sleep(0);  // the other task runs and sets its own value
  process_student();
}

int main() {
  auto t1 = greenring::spawn(greenring::task_options{"Task-A"}, process_task, "Alice");
  auto t2 = greenring::spawn(greenring::task_options{"Task-B"}, process_task, "Bob");
  greenring::joinall({t1, t2});
}
