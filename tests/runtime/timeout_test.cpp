#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <type_traits>

using namespace std::chrono_literals;
using greenring::spawn;
using greenring::timeout;
using greenring::timeout_error;
using Timeout = greenring_test::Runtime;

static_assert(!std::is_base_of_v<std::exception, timeout_error>, "generic handlers must not catch timeouts");
static_assert(!std::is_base_of_v<std::exception, greenring::greenlet_exit>, "generic handlers must not catch kills");

TEST_F(Timeout, ExpiryRaisesAtTheSwitchPoint) {
  bool after = false;
  try {
    timeout t(5ms);
    greenring::sleep(10s);
    after = true;
  } catch (const timeout_error& e) {
    EXPECT_NE(e.source, nullptr);
  }
  EXPECT_FALSE(after);
}

TEST_F(Timeout, LeavingTheScopeCancelsIt) {
  {
    timeout t(5ms);  // no switch point inside: it cannot have fired
    EXPECT_EQ(greenring::stats().timers, 1u);
  }
  EXPECT_EQ(greenring::stats().timers, 0u);
  EXPECT_NO_THROW(greenring::sleep(10ms));  // past its deadline: would raise if still armed
}

TEST_F(Timeout, ExpiredIsTrueOnlyAfterFiring) {
  timeout t(1ms);
  EXPECT_FALSE(t.expired());
  EXPECT_THROW(greenring::sleep(10s), timeout_error);
  EXPECT_TRUE(t.expired());
}

TEST_F(Timeout, GenericHandlersDoNotSwallowIt) {
  int caught_generic = 0;
  EXPECT_THROW(
      {
        timeout t(2ms);
        for (int i = 0; i < 3; ++i) {
          try {
            greenring::sleep(10s);
          } catch (const std::exception&) {
            ++caught_generic;
          }
        }
      },
      timeout_error);
  EXPECT_EQ(caught_generic, 0);
}

TEST_F(Timeout, InnerTimeoutFiresFirstAndIsIdentified) {
  timeout outer(10s);
  try {
    timeout inner(2ms);
    greenring::sleep(10s);
    FAIL();
  } catch (const timeout_error& e) {
    EXPECT_FALSE(outer.is(e));
    EXPECT_NE(e.source, &outer);
  }
  EXPECT_FALSE(outer.expired());
}

TEST_F(Timeout, OuterTimeoutPassesThroughTheInnerScope) {
  bool inner_handled = false;
  try {
    timeout outer(2ms);
    timeout inner(10s);
    try {
      greenring::sleep(10s);
    } catch (const timeout_error& e) {
      if (inner.is(e)) inner_handled = true;  // never: not ours
      throw;
    }
  } catch (const timeout_error& e) {
    EXPECT_NE(e.source, nullptr);
  }
  EXPECT_FALSE(inner_handled);
}

TEST_F(Timeout, InterruptsAJoin) {
  auto slow = spawn([] { greenring::sleep(10s); });
  EXPECT_THROW(
      {
        timeout t(2ms);
        slow.join();
      },
      timeout_error);
  EXPECT_FALSE(slow.ready());
  slow.kill();
}

TEST_F(Timeout, InsideATaskFailsThatTaskOnly) {
  auto t = spawn([] {
    timeout limit(1ms);
    greenring::sleep(10s);
  });
  t.join();
  EXPECT_FALSE(t.successful());
  EXPECT_THROW(
      {
        try {
          t.get();
        } catch (const timeout_error&) {
          throw std::runtime_error("rethrown timeout");
        }
      },
      std::runtime_error);
}

TEST_F(Timeout, WithTimeoutReturnsTheFallbackOnItsOwnExpiry) {
  int v = greenring::with_timeout(
      2ms,
      [] {
        greenring::sleep(10s);
        return 1;
      },
      -1);
  EXPECT_EQ(v, -1);
  int w = greenring::with_timeout(10s, [] { return 7; }, -1);
  EXPECT_EQ(w, 7);
  EXPECT_THROW(greenring::with_timeout(1ms, [] { greenring::sleep(10s); }), timeout_error);
}

TEST_F(Timeout, ZeroTimeoutFiresAtTheNextSwitch) {
  EXPECT_THROW(
      {
        timeout t(0ms);
        greenring::sleep(10s);
      },
      timeout_error);
}

TEST_F(Timeout, ForeverNeverArmsATimer) {
  timeout t(greenring::forever);
  EXPECT_EQ(greenring::stats().timers, 0u);
  greenring::sleep(1ms);
}

TEST_F(Timeout, HugeDurationsDoNotOverflow) {
  auto t = spawn([] {
    timeout huge(std::chrono::hours::max());
    greenring::sleep(std::chrono::seconds::max());
  });
  EXPECT_FALSE(t.join(2ms));
  t.kill();
  EXPECT_TRUE(t.killed());
}

TEST_F(Timeout, KillWinsOverAPendingTimeout) {
  auto t = spawn([] {
    timeout limit(1ms);
    greenring::sleep(10s);
  });
  greenring::yield();
  t.kill();
  EXPECT_TRUE(t.killed());
}
