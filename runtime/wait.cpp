// greenring — wait(objects, count, timeout): one watcher per object, all
// pointing at the calling greenlet; every watcher is unlinked on the way
// out, however the wait ends.
#include "detail/hub.hpp"

#include <greenring/wait.hpp>

namespace greenring {

std::vector<std::size_t> wait(std::span<const waitable> objects, std::size_t count, duration timeout) {
  if (count == 0 || count > objects.size()) count = objects.size();
  detail::hub& h = detail::hub::get();
  const auto deadline = detail::deadline_in(timeout);
  detail::wake_timer timer(h, h.current(), deadline);
  for (;;) {
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < objects.size(); ++i)
      if (objects[i].ready()) ready.push_back(i);
    if (ready.size() >= count || timer.fired) return ready;
    // Watch everything not ready yet, then block until one of them, the
    // timer, or a kill wakes us.
    std::vector<detail::wait_node> nodes(objects.size());
    detail::task_base::waiter_set task_nodes(objects.size());
    struct unwatch {
      std::vector<detail::wait_node>& n;
      ~unwatch() {
        for (auto& w : n) detail::wait_list::unlink(w);
      }
    } on_exit{nodes};
    for (std::size_t i = 0; i < objects.size(); ++i) {
      const waitable& o = objects[i];
      if (o.task_) {
        detail::task_base* t = detail_get(*static_cast<const any_task*>(o.obj_));
        if (t->done()) continue;
        auto& w = task_nodes.nodes[i];
        w.ctx = &h.current();
        w.notify = [](detail::waiter_node* n) noexcept { detail::hub::get().schedule(*static_cast<greenlet*>(n->ctx)); };
        t->add_waiter(w);
      } else {
        auto& w = nodes[i];
        w.ctx = &h.current();
        w.notify = [](detail::wait_node* n) noexcept { detail::hub::get().schedule(*static_cast<greenlet*>(n->ctx)); };
        o.list_->link(w);
      }
    }
    h.block("wait");
  }
}

}  // namespace greenring
