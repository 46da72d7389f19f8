// greenring — a doubly-linked intrusive list (internal). The links live in
// the elements (a waiting frame, a task record), so linking and unlinking
// never allocate, and an element unlinks itself in O(1) on every way out.
#pragma once

namespace greenring::detail {

template <class T, T* T::*Prev, T* T::*Next>
struct intrusive_list {
  T* head = nullptr;
  T* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }

  void push_back(T& x) noexcept {
    x.*Next = nullptr;
    x.*Prev = tail;
    if (tail)
      tail->*Next = &x;
    else
      head = &x;
    tail = &x;
  }

  /// `x` must be in this list.
  void erase(T& x) noexcept {
    if (x.*Prev)
      (x.*Prev)->*Next = x.*Next;
    else
      head = x.*Next;
    if (x.*Next)
      (x.*Next)->*Prev = x.*Prev;
    else
      tail = x.*Prev;
    x.*Prev = x.*Next = nullptr;
  }

  T* pop_front() noexcept {
    T* x = head;
    if (x) {
      head = x->*Next;
      if (head)
        head->*Prev = nullptr;
      else
        tail = nullptr;
      x->*Next = nullptr;  // x->*Prev is null already: x was the head
    }
    return x;
  }
};

}  // namespace greenring::detail
