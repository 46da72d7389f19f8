// greenring — stackful coroutines for Linux on Boost.Context and io_uring.
// The umbrella header: everything a program needs.
#pragma once

#include <greenring/address.hpp>
#include <greenring/buffer.hpp>
#include <greenring/errors.hpp>
#include <greenring/event.hpp>
#include <greenring/file.hpp>
#include <greenring/group.hpp>
#include <greenring/greenlet.hpp>
#include <greenring/http.hpp>
#include <greenring/hub.hpp>
#include <greenring/hubs.hpp>
#include <greenring/local.hpp>
#include <greenring/lock.hpp>
#include <greenring/poll.hpp>
#include <greenring/process.hpp>
#include <greenring/queue.hpp>
#include <greenring/reader.hpp>
#include <greenring/resolver.hpp>
#include <greenring/signal.hpp>
#include <greenring/socket.hpp>
#include <greenring/sync.hpp>
#include <greenring/task.hpp>
#include <greenring/threadpool.hpp>
#include <greenring/ticker.hpp>
#include <greenring/timeout.hpp>
#include <greenring/tls.hpp>
#include <greenring/value.hpp>
#include <greenring/wait.hpp>
