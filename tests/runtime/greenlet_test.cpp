#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using greenring::greenlet;
using greenring::value;
using Greenlet = greenring_test::Runtime;

TEST_F(Greenlet, SwitchPassesValuesBothWays) {
  greenlet g([](value first) {
    int a = first.get<int>();
    value second = greenlet::current().parent()->switch_to(a + 1);
    return second.get<int>() * 2;
  });
  EXPECT_FALSE(g.started());
  EXPECT_EQ(g.switch_to(1).get<int>(), 2);
  EXPECT_TRUE(g.started());
  EXPECT_FALSE(g.dead());
  EXPECT_EQ(g.switch_to(10).get<int>(), 20);  // its return value goes to the parent
  EXPECT_TRUE(g.dead());
}

TEST_F(Greenlet, CallableWithoutArgumentsGetsNothingAndReturnsEmpty) {
  int runs = 0;
  greenlet g([&] { ++runs; });
  value v = g.switch_to(5);
  EXPECT_FALSE(v.has_value());
  EXPECT_EQ(runs, 1);
}

TEST_F(Greenlet, CurrentIsTheRunningGreenlet) {
  greenlet& main = greenlet::current();
  greenlet* seen = nullptr;
  greenlet g([&] { seen = &greenlet::current(); });
  EXPECT_EQ(g.parent(), &main);
  g.switch_to();
  EXPECT_EQ(seen, &g);
  EXPECT_EQ(&greenlet::current(), &main);
}

TEST_F(Greenlet, SeedsTest1Test2PrintInGreenletOrder) {
  std::string out;
  greenlet* gr1 = nullptr;
  greenlet* gr2 = nullptr;
  greenlet g1([&] {
    out += "12 ";
    gr2->switch_to();
    out += "34 ";
    gr2->switch_to();
  });
  greenlet g2([&] {
    out += "56 ";
    gr1->switch_to();
    out += "78 ";
  });
  gr1 = &g1;
  gr2 = &g2;
  gr1->switch_to();
  EXPECT_EQ(out, "12 56 34 78 ");
  EXPECT_TRUE(g2.dead());
  EXPECT_FALSE(g1.dead());  // still suspended in its second switch; unwound by ~greenlet
}

TEST_F(Greenlet, DeathReturnsToParentNotToLastSwitcher) {
  std::vector<int> order;
  greenlet parent_g([&](value) -> value {
    order.push_back(1);
    value v = greenlet::current().parent()->switch_to();  // back to main
    order.push_back(3);
    return v;
  });
  parent_g.switch_to();
  greenlet child([&] {
    order.push_back(2);
    return 99;
  });
  child.set_parent(parent_g);
  // main -> child; child dies -> parent_g resumes with 99 -> returns 99 to main
  value r = child.switch_to();
  EXPECT_EQ(r.get<int>(), 99);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(parent_g.dead());
}

TEST_F(Greenlet, DeadParentIsSkippedForTheGrandparent) {
  greenlet dead_parent([] {});
  dead_parent.switch_to();
  ASSERT_TRUE(dead_parent.dead());
  greenlet child([] { return 7; });
  child.set_parent(dead_parent);
  EXPECT_EQ(child.switch_to().get<int>(), 7);  // dead_parent's parent is main
}

TEST_F(Greenlet, ExceptionPropagatesToParentSwitch) {
  greenlet g([] { throw std::runtime_error("boom"); });
  EXPECT_THROW(
      {
        try {
          g.switch_to();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "boom");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_TRUE(g.dead());
}

TEST_F(Greenlet, ThrowIntoStartedGreenletRaisesAtItsSuspensionPoint) {
  std::string caught;
  greenlet g([&] {
    try {
      greenlet::current().parent()->switch_to();
    } catch (const std::logic_error& e) {
      caught = e.what();
      return 1;
    }
    return 0;
  });
  g.switch_to();
  value r = g.throw_into(std::logic_error("injected"));
  EXPECT_EQ(caught, "injected");
  EXPECT_EQ(r.get<int>(), 1);
  EXPECT_TRUE(g.dead());
}

TEST_F(Greenlet, ThrowIntoUnstartedGreenletKillsItWithoutRunning) {
  bool ran = false;
  greenlet g([&] { ran = true; });
  EXPECT_THROW(g.throw_into(std::runtime_error("never")), std::runtime_error);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(g.dead());

  greenlet h([&] { ran = true; });
  value v = h.throw_into(greenring::greenlet_exit{});  // arrives as an empty value
  EXPECT_FALSE(v.has_value());
  EXPECT_FALSE(ran);
  EXPECT_TRUE(h.dead());
  EXPECT_EQ(greenring::stats().stacks_in_use, before_.stacks_in_use);  // never mapped
}

TEST_F(Greenlet, GreenletExitEndsTheGreenletNormally) {
  greenlet g([] {
    greenlet::current().parent()->switch_to();
    return 5;
  });
  g.switch_to();
  value v = g.throw_into(greenring::greenlet_exit{});
  EXPECT_FALSE(v.has_value());
  EXPECT_TRUE(g.dead());
}

TEST_F(Greenlet, DestroyingASuspendedGreenletRunsItsDestructors) {
  int destroyed = 0;
  bool saw_exit = false;
  struct guard {
    int& n;
    ~guard() { ++n; }
  };
  {
    greenlet g([&] {
      guard a{destroyed};
      try {
        greenlet::current().parent()->switch_to();
      } catch (const greenring::greenlet_exit&) {
        saw_exit = true;
        throw;
      }
    });
    g.switch_to();
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 1);
  EXPECT_TRUE(saw_exit);
}

TEST_F(Greenlet, SwitchToDeadGreenletThrows) {
  greenlet g([] {});
  g.switch_to();
  EXPECT_THROW(g.switch_to(), std::logic_error);
  EXPECT_THROW(g.throw_into(std::runtime_error("x")), std::logic_error);
}

TEST_F(Greenlet, SwitchToSelfReturnsTheValue) {
  greenlet& me = greenlet::current();
  EXPECT_EQ(me.switch_to(3).get<int>(), 3);
}

TEST_F(Greenlet, SetParentRejectsCycles) {
  greenlet a([] {});
  greenlet b([] {}, a);
  EXPECT_EQ(b.parent(), &a);
  EXPECT_THROW(a.set_parent(b), std::invalid_argument);
  EXPECT_THROW(a.set_parent(a), std::invalid_argument);
  EXPECT_EQ(a.parent(), &greenlet::current());
}

TEST_F(Greenlet, SwitchFromAnotherThreadIsRefused) {
  greenlet g([] {});
  std::string error;
  std::thread t([&] {
    try {
      g.switch_to();
    } catch (const std::logic_error& e) {
      error = e.what();
    }
  });
  t.join();
  EXPECT_NE(error.find("another thread"), std::string::npos) << error;
  EXPECT_FALSE(g.started());
}

// Each greenlet keeps its own C++ exception state across switches made
// inside catch blocks (the runtime swaps __cxa_eh_globals per greenlet).
TEST_F(Greenlet, ExceptionStateIsPerGreenletAcrossSwitchesInCatchBlocks) {
  greenlet* a_ptr = nullptr;
  greenlet* b_ptr = nullptr;
  std::string a_seen, b_seen, a_rethrown, b_rethrown;
  greenlet a([&] {
    try {
      throw std::runtime_error("from a");
    } catch (...) {
      b_ptr->switch_to();  // b throws and switches back inside its own catch
      try {
        std::rethrow_exception(std::current_exception());
      } catch (const std::runtime_error& e) {
        a_seen = e.what();
      }
      b_ptr->switch_to();
      try {
        throw;
      } catch (const std::runtime_error& e) {
        a_rethrown = e.what();
      }
    }
    EXPECT_EQ(std::current_exception(), nullptr);
  });
  greenlet b([&] {
    try {
      throw std::logic_error("from b");
    } catch (...) {
      a_ptr->switch_to();
      try {
        std::rethrow_exception(std::current_exception());
      } catch (const std::logic_error& e) {
        b_seen = e.what();
      }
      try {
        throw;
      } catch (const std::logic_error& e) {
        b_rethrown = e.what();
      }
    }
  }, a);  // b dies into a, which then resumes inside its own catch
  a_ptr = &a;
  b_ptr = &b;
  a.switch_to();
  EXPECT_EQ(a_seen, "from a");
  EXPECT_EQ(b_seen, "from b");
  EXPECT_EQ(a_rethrown, "from a");
  EXPECT_EQ(b_rethrown, "from b");
  EXPECT_EQ(std::current_exception(), nullptr);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

TEST_F(Greenlet, UncaughtExceptionsCountsOnlyTheGreenletsOwnUnwinding) {
  int inside_unwind = -1;
  int main_during = -1;
  struct probe {
    int& out;
    ~probe() {
      out = std::uncaught_exceptions();
      greenlet::current().parent()->switch_to();  // switch away mid-unwind
    }
  };
  greenlet g([&] {
    try {
      probe p{inside_unwind};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
  });
  g.switch_to();  // g is now suspended inside a destructor during unwinding
  main_during = std::uncaught_exceptions();
  g.switch_to();  // finish
  EXPECT_EQ(inside_unwind, 1);
  EXPECT_EQ(main_during, 0);
  EXPECT_TRUE(g.dead());
}

namespace {
// Integer, SSE, x87 and frame-pointer-relative values, more than there are
// registers, all live across every call of `pause`. The same arithmetic
// with and without switching in `pause` must give the same result.
template <class Pause>
__attribute__((noinline)) double churn(int seed, Pause pause) {
  using u = unsigned long;  // wraps: no overflow for UBSan to refuse
  u i0 = seed, i1 = seed * 3u, i2 = seed + 7u, i3 = seed ^ 0x55u, i4 = seed * 11u, i5 = seed - 2u, i6 = u(seed) << 3,
    i7 = seed + 100u, i8 = seed * 5u, i9 = seed + 13u, i10 = seed * 17u, i11 = seed + 19u;
  double d0 = seed * 0.5, d1 = seed * 1.5, d2 = seed + 0.25, d3 = seed / 3.0, d4 = seed * 2.5, d5 = seed - 0.75;
  long double x = seed * 1.25L;
  typedef double v2 __attribute__((vector_size(16)));
  v2 v = {seed * 1.0, seed * 2.0};
  for (int r = 0; r < 200; ++r) {
    pause();
    i0 = i0 * 3 + i11; i1 += i0; i2 ^= i1; i3 = i3 * 7 + i2; i4 += i3 >> 2; i5 -= i4; i6 ^= i5 << 1; i7 += i6;
    i8 = i8 * 5 + i7; i9 ^= i8; i10 += i9; i11 = (i11 ^ i10) + u(r);
    d0 = d0 * 0.75 + d5; d1 += d0 * 0.5; d2 = d2 * 0.9 + d1; d3 -= d2 * 0.01; d4 += d3; d5 = d5 * 0.5 + d4 * 0.1;
    x = x * 0.999L + static_cast<long double>(d0);
    v = v * 0.5 + v;
  }
  return static_cast<double>((i0 ^ i1 ^ i2 ^ i3 ^ i4 ^ i5 ^ i6 ^ i7 ^ i8 ^ i9 ^ i10 ^ i11) >> 12) + d0 + d1 + d2 + d3 + d4 +
         d5 + static_cast<double>(x) + v[0] + v[1];
}
}  // namespace

TEST_F(Greenlet, ValuesLiveAcrossSwitchesSurviveThem) {
  greenlet* main = &greenlet::current();
  double got_a = 0, got_b = 0;
  greenlet a([&] { got_a = churn(3, [&] { main->switch_to(); }); });
  greenlet b([&] { got_b = churn(8, [&] { main->switch_to(); }); });
  // Interleaved, so each switch lands in a greenlet whose registers the
  // other just filled with its own values.
  int rounds = 0;
  while (!a.dead() || !b.dead()) {
    if (!a.dead()) a.switch_to();
    if (!b.dead()) b.switch_to();
    ASSERT_LT(++rounds, 1000);
  }
  EXPECT_EQ(got_a, churn(3, [] {}));
  EXPECT_EQ(got_b, churn(8, [] {}));
  EXPECT_NE(got_a, got_b);
}

TEST_F(Greenlet, StackSizeIsRoundedAndHasAMinimum) {
  greenlet small([] {}, 1);
  EXPECT_EQ(small.stack_size(), greenlet::min_stack_size);
  greenlet odd([] {}, 70000);
  EXPECT_GE(odd.stack_size(), 70000u);
  EXPECT_EQ(odd.stack_size() % 4096, 0u);
}

TEST(GreenletDeathTest, SwallowingGreenletExitWhileBeingDestroyedAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* g = new greenlet([] {
          for (;;) {
            try {
              greenlet::current().parent()->switch_to();
            } catch (const greenring::greenlet_exit&) {
              // swallowed: the greenlet refuses to die
            }
          }
        });
        g->switch_to();
        delete g;
      },
      "swallowed greenlet_exit");
}

#if defined(__SANITIZE_ADDRESS__)
namespace {
__attribute__((noinline)) int* escape_local() {
  int local = 42;
  int* volatile p = &local;
  return p;
}
}  // namespace
#endif

// Inverted: ASan must still see stack bugs on greenlet stacks, which it
// can only if every switch is annotated. Runs only under ASan with
// detect_stack_use_after_return=1 (as scripts/test.sh sets it).
TEST(GreenletDeathTest, AsanCatchesUseAfterReturnOnAGreenletStack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        greenlet g([] {
          int* p = escape_local();
          greenlet::current().parent()->switch_to();  // switch away and back first
          return *p;
        });
        g.switch_to();
        g.switch_to();
      },
      "stack-use-after-return");
#else
  GTEST_SKIP() << "needs AddressSanitizer";
#endif
}
