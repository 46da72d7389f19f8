#!/usr/bin/env bash
# Builds greenring in release mode, runs every benchmark REPS times (default
# 5) and prints one table: greenring beside the threads baseline measured in
# the same run, medians, with ratios. Usage: bench/compare.sh [REPS]
# BENCHES="echo_bench http_server_bench" limits the run to those programs
# (the other rows print "-").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps python3 wrk nginx-light libboost-fiber-dev
reps=${1:-5}
dir=build-bench
[ -d "$dir" ] || meson setup "$dir" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$dir" -j2 >/dev/null
out=$(mktemp -d)
# The Boost.Asio echo peer is built with the benchmarks: run it beside
# greenring, and head to head with it, unless the caller chose otherwise.
if [ -x "$dir/bench/echo_asio" ] && [[ "${ECHO_BENCH_PEERS:-}" != *asio=* ]]; then
  export ECHO_BENCH_PEERS="${ECHO_BENCH_PEERS:+$ECHO_BENCH_PEERS;}asio=$dir/bench/echo_asio"
  export ECHO_BENCH_DUEL="${ECHO_BENCH_DUEL:-greenring:uring;greenring:asio}"
fi
if [ -x "$dir/bench/http_asio" ] && [[ "${HTTP_BENCH_PEERS:-}" != *asio=* ]]; then
  export HTTP_BENCH_PEERS="${HTTP_BENCH_PEERS:+$HTTP_BENCH_PEERS;}asio=$dir/bench/http_asio"
fi
for b in ${BENCHES:-switch_bench spawn_bench idle_bench file_bench sync_bench fiber_bench fetch_bench echo_bench http_server_bench}; do
  r=$reps
  # One-shot runs of up to a million tasks, 12 s echo and wrk runs: at most 3.
  case $b in idle_bench|echo_bench|http_server_bench) r=$(( reps < 3 ? reps : 3 )) ;; fetch_bench) r=1 ;; esac  # fetch_bench repeats itself 3 times
  [ -x "./$dir/bench/$b" ] || { echo "compare.sh: no $dir/bench/$b (fiber_bench needs libboost-fiber-dev at meson setup)" >&2; continue; }
  for i in $(seq "$r"); do
    "./$dir/bench/$b" --benchmark_format=json >"$out/$b.$i.json" 2>/dev/null
  done
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys, os, platform
out = sys.argv[1]
vals = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    program = os.path.basename(f).split(".")[0]
    for b in json.load(open(f))["benchmarks"]:
        if b.get("error_occurred") or b.get("run_type") == "aggregate":
            continue
        if program == "fiber_bench":  # its greenring rows repeat other programs' names
            b["run_name"] = "fiber_bench:" + b["run_name"]
        for k in ("ns_per_switch", "ns_per_task", "rss_per_task_bytes", "wake_all_ms", "spawn_ns_per_task",
                  "MB_per_s", "req_per_s", "p50_us", "p99_us", "server_cpu_us_per_req",
                  "ns_per_round_trip", "items_per_s", "ns_per_lock", "peak_rss_mib", "peak_anon_mib", "cpu_ms"):
            if k in b:
                vals.setdefault((b["run_name"], k), []).append(
                    b[k] * (1e9 if k in ("ns_per_switch", "ns_per_task", "ns_per_round_trip", "ns_per_lock") else 1))
        if b["run_name"].startswith(("BM_echo_duel/", "BM_http_duel/")):  # counters named after the two servers
            for k, v in b.items():
                if k.endswith(("_req_per_s", "_cpu_us_per_req", "_p99_us")):
                    vals.setdefault((b["run_name"], k), []).append(v)
        if b["run_name"].startswith("BM_fetch_") and "real_time" in b:
            vals.setdefault((b["run_name"], "wall_ms"), []).append(b["real_time"])
        if b.get("time_unit") == "ns" and "cpu_time" in b:
            vals.setdefault((b["run_name"], "cpu_ns"), []).append(b["cpu_time"])
def med(name, key):
    v = vals.get((name, key))
    return statistics.median(v) if v else None
rows = [
    ("switch: greenlet ping-pong (ns/switch)", ("BM_greenlet_pingpong", "ns_per_switch"),
     ("BM_threads_condvar_pingpong/real_time", "ns_per_switch")),
    ("switch: raw boost::context::fiber (ns/switch)", ("BM_boost_fiber_pingpong", "ns_per_switch"),
     ("BM_threads_condvar_pingpong/real_time", "ns_per_switch")),
    ("switch: raw fiber, resumed via a call (ns/switch)", ("BM_boost_fiber_pingpong_called", "ns_per_switch"),
     ("BM_threads_condvar_pingpong/real_time", "ns_per_switch")),
    ("switch: sleep(0) among 10 tasks (ns/switch)", ("BM_sleep0_10_tasks/100000", "ns_per_switch"),
     ("BM_threads_condvar_pingpong/real_time", "ns_per_switch")),
    ("switch: vs threads on semaphores (ns/switch)", ("BM_sleep0_10_tasks/100000", "ns_per_switch"),
     ("BM_threads_semaphore_pingpong/real_time", "ns_per_switch")),
    ("spawn+run+join, 10k batch (ns/task)", ("BM_greenring_spawn_join/10000/real_time", "ns_per_task"),
     ("BM_thread_create_join/real_time", "ns_per_task")),
    ("spawn+run+join, 100k batch (ns/task)", ("BM_greenring_spawn_join/100000/real_time", "ns_per_task"),
     ("BM_thread_create_join/real_time", "ns_per_task")),
    ("spawn+run+join, one at a time (ns/task)", ("BM_greenring_spawn_join_each/real_time", "ns_per_task"),
     ("BM_thread_create_join/real_time", "ns_per_task")),
]
for n in ("10000", "100000", "1000000"):
    g = f"BM_greenring_idle/{n}/iterations:1"
    rows.append((f"idle {int(n):,} tasks: RSS per task (bytes)", (g, "rss_per_task_bytes"),
                 ("BM_threads_idle/10000/iterations:1", "rss_per_task_bytes")))
    rows.append((f"idle {int(n):,} tasks: wake all (ms)", (g, "wake_all_ms"),
                 ("BM_threads_idle/10000/iterations:1", "wake_all_ms") if n == "10000" else None))
# Rows where more is better (rates); everywhere else less is better.
higher = []
rows.append(("queue ping-pong between two tasks (ns/round trip)", ("BM_greenring_queue_pingpong", "ns_per_round_trip"),
             ("BM_threads_queue_pingpong/real_time", "ns_per_round_trip")))
# Each container against the threads' one with the same semantics, and
# against the threads' unbounded queue (the fastest threads baseline).
unbounded = ("BM_threads_queue_throughput/0/real_time", "items_per_s")
for g, label, same in (("BM_greenring_channel_throughput/real_time", "channel (unbuffered)",
                        ("BM_threads_channel_throughput/real_time", "items_per_s")),
                       ("BM_greenring_queue_throughput/0/real_time", "queue (unbounded)", None),
                       ("BM_greenring_queue_throughput/1024/real_time", "queue (bounded 1024)",
                        ("BM_threads_queue_throughput/1024/real_time", "items_per_s")),
                       ("BM_greenring_shared_queue_throughput/0/real_time", "two hubs' shared_queue (unbounded)", None),
                       ("BM_greenring_shared_queue_throughput/1024/real_time", "two hubs' shared_queue (bounded 1024)",
                        ("BM_threads_queue_throughput/1024/real_time", "items_per_s"))):
    if same:
        rows.append((f"1 producer -> 1 consumer, {label} vs the same between threads (items/s)",
                     (g, "items_per_s"), same))
        higher.append(rows[-1][0])
    rows.append((f"1 producer -> 1 consumer, {label} vs threads' unbounded queue (items/s)", (g, "items_per_s"), unbounded))
    higher.append(rows[-1][0])
rows.append(("lock+unlock uncontended (ns)", ("BM_greenring_lock_uncontended", "cpu_ns"), ("BM_std_mutex_uncontended", "cpu_ns")))
rows.append(("lock contended by 2 workers (ns/lock)", ("BM_greenring_lock_contended/real_time", "ns_per_lock"),
             ("BM_threads_mutex_contended/real_time", "ns_per_lock")))
# Boost.Fiber on the same work (fiber_bench).
for label, g, b, key in (
        ("vs Boost.Fiber: yield among 10 (ns/switch)", "BM_greenring_yield_10_tasks/real_time",
         "BM_fiber_yield_10_fibers/real_time", "ns_per_switch"),
        ("vs Boost.Fiber: spawn+run+join, 10k batch (ns/task)", "BM_greenring_spawn_join/10000/real_time",
         "BM_fiber_spawn_join/10000/real_time", "ns_per_task"),
        ("vs Boost.Fiber, pooled stacks: spawn+run+join, 10k batch (ns/task)", "BM_greenring_spawn_join/10000/real_time",
         "BM_fiber_spawn_join_pooled/10000/real_time", "ns_per_task"),
        ("vs Boost.Fiber: queue ping-pong (ns/round trip)", "BM_greenring_queue_pingpong",
         "BM_fiber_channel_pingpong", "ns_per_round_trip"),
        ("vs Boost.Fiber: unbuffered channel 1P/1C (items/s)", "BM_greenring_channel_throughput/real_time",
         "BM_fiber_unbuffered_channel_throughput/real_time", "items_per_s"),
        ("vs Boost.Fiber: queue/buffered channel of 1024, 1P/1C (items/s)", "BM_greenring_queue_1024_throughput/real_time",
         "BM_fiber_buffered_channel_1024_throughput/real_time", "items_per_s"),
        ("vs Boost.Fiber: mutex, 2 workers contending (ns/lock)", "BM_greenring_mutex_contended/real_time",
         "BM_fiber_mutex_contended/real_time", "ns_per_lock")):
    rows.append((label, ("fiber_bench:" + g, key), ("fiber_bench:" + b, key)))
    if key == "items_per_s":
        higher.append(label)
rows.append(("file: 4 KiB random reads, 64 workers, one hub (MB/s)", ("BM_greenring_random_reads/min_time:2.000/real_time", "MB_per_s"),
             ("BM_threads_random_preads/min_time:2.000/real_time", "MB_per_s")))
higher.append(rows[-1][0])
rows.append(("file: 4 KiB random reads, 64 workers, one hub per core (MB/s)",
             ("BM_greenring_random_reads_every_core/min_time:2.000/real_time", "MB_per_s"),
             ("BM_threads_random_preads/min_time:2.000/real_time", "MB_per_s")))
higher.append(rows[-1][0])
# Peers some programs ran (ECHO_BENCH_PEERS and the like, bench/peers/README.md).
def peer_names(prefix):
    return sorted({name[len(prefix):].split("/")[0] for name, _ in vals if name.startswith(prefix)})
for n in ("100", "1000"):
    g = f"BM_echo/greenring/{n}/iterations:1/real_time"
    for base, bname in [("threads", "threads"), ("uring", "raw liburing")] + [
            ("peer_" + p, p) for p in peer_names("BM_echo/peer_")]:
        b = f"BM_echo/{base}/{n}/iterations:1/real_time"
        rows.append((f"echo {n} conns vs {bname}: requests/s", (g, "req_per_s"), (b, "req_per_s")))
        higher.append(rows[-1][0])
        rows.append((f"echo {n} conns vs {bname}: p99 (us)", (g, "p99_us"), (b, "p99_us")))
        rows.append((f"echo {n} conns vs {bname}: server CPU us/request", (g, "server_cpu_us_per_req"),
                     (b, "server_cpu_us_per_req")))
def duel_rows(bench, other, label, args, what):
    """Head-to-head rows: greenring and `other` on CPU 0 at once (BM_*_duel)."""
    for a in args:
        d = f"{bench}/greenring_vs_{other}/{a}/iterations:1/real_time"
        rows.append((f"{what(a)} vs {label}: requests/s", (d, "greenring_req_per_s"), (d, f"{other}_req_per_s")))
        higher.append(rows[-1][0])
        rows.append((f"{what(a)} vs {label}: server CPU us/request",
                     (d, "greenring_cpu_us_per_req"), (d, f"{other}_cpu_us_per_req")))
duel_rows("BM_echo_duel", "uring", "raw liburing", ("100", "1000"), lambda n: f"echo head to head, {n} conns each")
duel_rows("BM_echo_duel", "asio", "Boost.Asio (C++20 coroutines)", ("100", "1000"),
          lambda n: f"echo head to head, {n} conns each")
def http_rows(bench, sizes, what, nginx_label):
    """greenring's HTTP server against each other server of `bench`."""
    for size in sizes:
        g = f"{bench}/greenring/{size}/iterations:1/real_time"
        for base, label in [("threads", "threads"), ("nginx", nginx_label)] + [
                ("peer_" + p, p) for p in peer_names(f"{bench}/peer_")]:
            b = f"{bench}/{base}/{size}/iterations:1/real_time"
            rows.append((f"{what(size)} vs {label}: requests/s", (g, "req_per_s"), (b, "req_per_s")))
            higher.append(rows[-1][0])
            rows.append((f"{what(size)} vs {label}: p99 (us)", (g, "p99_us"), (b, "p99_us")))
            rows.append((f"{what(size)} vs {label}: server CPU us/request",
                         (g, "server_cpu_us_per_req"), (b, "server_cpu_us_per_req")))
http_rows("BM_http", ("1024", "64"), lambda size: f"HTTP server, wrk -c100, {size} B body", "nginx (1 worker)")
http_rows("BM_http_cores", ("1024",), lambda size: f"HTTP server on every core, wrk -t2 -c100, {size} B body",
          "nginx (a worker per core)")
duel_rows("BM_http_duel", "nginx", "nginx (1 worker)", ("1024", "64"),  # a wrk each, on CPU 1
          lambda size: f"HTTP head to head, {size} B body")
for what, key in (("wall time (ms)", "wall_ms"), ("client peak RSS (MiB)", "peak_rss_mib"),
                  ("client peak private memory (MiB)", "peak_anon_mib"), ("client CPU (ms)", "cpu_ms")):
    for g, gname in (("greenring", "bodies in memory"), ("greenring_streamed", "bodies counted")):
        for base, bname in (("thread_pool_64", "64-thread pool"), ("thread_per_request", "thread per request")):
            rows.append((f"fetch 10k x 16 KiB, 10 ms, {gname}, vs {bname}: {what}",
                         (f"BM_fetch_{g}/iterations:1/repeats:3/real_time", key),
                         (f"BM_fetch_{base}/iterations:1/repeats:3/real_time", key)))
fetch_peers = peer_names("BM_fetch_peer_")
for what, key in (("wall time (ms)", "wall_ms"), ("client peak RSS (MiB)", "peak_rss_mib"),
                  ("client peak private memory (MiB)", "peak_anon_mib"), ("client CPU (ms)", "cpu_ms")):
    for p in fetch_peers:
        rows.append((f"fetch 10k x 16 KiB, 10 ms, bodies in memory, vs {p}: {what}",
                     ("BM_fetch_greenring/iterations:1/repeats:3/real_time", key),
                     (f"BM_fetch_peer_{p}/iterations:1/repeats:3/real_time", key)))
rows.append(("fetch: a client process that fetches nothing: peak RSS (MiB)",
             ("BM_fetch_nothing/iterations:1/real_time", "peak_rss_mib"), None))
rows.append(("fetch: a client process that fetches nothing: peak private memory (MiB)",
             ("BM_fetch_nothing/iterations:1/real_time", "peak_anon_mib"), None))
print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.release()}; medians of the runs")
print(f"{'benchmark':88} {'greenring':>11} {'baseline':>11} {'greenring is':>13}")
for label, g, t in rows:
    gv = med(*g)
    tv = med(*t) if t else None
    fmt = lambda v: f"{v:11.1f}" if v is not None else f"{'-':>11}"
    if gv and tv:
        adv = gv / tv if label in higher else tv / gv
        ratio = f"{adv:11.2f}x "
    else:
        ratio = f"{'-':>13}"
    print(f"{label:88} {fmt(gv)} {fmt(tv)} {ratio}")
print("'greenring is' = how many times better than the baseline (above 1: greenring wins).")
print("baselines: condvar/semaphore ping-pong between two std::threads; std::thread create+join;"
      " 10,000 threads in sleep_until for every idle row (the N threads reach here);"
      " mutex+condvar queues (unbounded, bounded) and a rendezvous channel between two threads; 64 threads in pread (on every core);"
      " echo: thread-per-connection and a callback-style liburing server, same load generator,"
      " server on CPU 0, load on CPU 1; HTTP: thread-per-connection server and nginx with one worker"
      " (bench/nginx.conf), wrk -t1 -c100 on CPU 1; on every core: nothing pinned, a greenring hub and an nginx"
      " worker per core, wrk -t2")
PY
rm -rf "$out"
