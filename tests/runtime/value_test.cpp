#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

// Counts heap allocations so tests can prove a path does none.
static std::atomic<long> g_allocs{0};
void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using greenring::value;

TEST(Value, EmptyByDefault) {
  value v;
  EXPECT_FALSE(v.has_value());
  EXPECT_THROW(v.get<int>(), greenring::bad_value_cast);
}

TEST(Value, HoldsAndReturnsTheStoredType) {
  value v = 42;
  EXPECT_TRUE(v.holds<int>());
  EXPECT_FALSE(v.holds<long>());
  EXPECT_EQ(v.get<int>(), 42);
  EXPECT_EQ(v.get_if<long>(), nullptr);
  EXPECT_THROW(v.get<double>(), greenring::bad_value_cast);
}

TEST(Value, SmallTriviallyCopyableValuesDoNotAllocate) {
  struct point {
    double x, y;
    int z;
  };
  const long before = g_allocs.load();
  value a = point{1, 2, 3};
  value b = std::move(a);
  value c = 7;
  c = std::move(b);
  EXPECT_EQ(g_allocs.load(), before);
  EXPECT_EQ(c.get<point>().z, 3);
  EXPECT_FALSE(a.has_value());
}

TEST(Value, LargeAndNonTrivialValuesAreBoxedAndDestroyed) {
  auto counter = std::make_shared<int>(0);
  {
    value v = counter;  // shared_ptr: not trivially copyable
    EXPECT_EQ(counter.use_count(), 2);
    value w = std::move(v);
    EXPECT_EQ(counter.use_count(), 2);
    EXPECT_EQ(w.get<std::shared_ptr<int>>().get(), counter.get());
  }
  EXPECT_EQ(counter.use_count(), 1);
  value s = std::string(100, 'x');
  EXPECT_EQ(s.get<std::string>().size(), 100u);
}

TEST(Value, MoveOnlyPayloads) {
  value v = std::make_unique<int>(5);
  auto p = std::move(v.get<std::unique_ptr<int>>());
  EXPECT_EQ(*p, 5);
}

TEST(Value, StringLiteralsDecayToPointers) {
  value v = "hello";
  EXPECT_STREQ(v.get<const char*>(), "hello");
}

TEST(Greenlet, SwitchingSmallValuesDoesNotAllocate) {
  greenring::greenlet g([](value v) {
    for (;;) v = greenring::greenlet::current().parent()->switch_to(v.get<int>() + 1);
  });
  int x = g.switch_to(0).get<int>();  // maps the stack: may allocate
  const long before = g_allocs.load();
  for (int i = 0; i < 1000; ++i) x = g.switch_to(x).get<int>();
  EXPECT_EQ(g_allocs.load(), before);
  EXPECT_EQ(x, 1001);
}
