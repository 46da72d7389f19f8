#!/usr/bin/env bash
# Builds greenring in release mode, runs every benchmark REPS times (default
# 5) and prints one table: greenring beside the threads baseline measured in
# the same run, medians, with ratios. Usage: bench/compare.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
greenring_install_deps python3
reps=${1:-5}
dir=build-bench
[ -d "$dir" ] || meson setup "$dir" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$dir" -j2 >/dev/null
out=$(mktemp -d)
for b in switch_bench spawn_bench idle_bench; do
  r=$reps
  [ "$b" = idle_bench ] && r=$(( reps < 3 ? reps : 3 ))  # one-shot runs of up to a million tasks
  for i in $(seq "$r"); do
    "./$dir/bench/$b" --benchmark_format=json >"$out/$b.$i.json" 2>/dev/null
  done
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys, os, platform
out = sys.argv[1]
vals = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    for b in json.load(open(f))["benchmarks"]:
        if b.get("error_occurred"):
            continue
        for k in ("ns_per_switch", "ns_per_task", "rss_per_task_bytes", "wake_all_ms", "spawn_ns_per_task"):
            if k in b:
                vals.setdefault((b["run_name"], k), []).append(b[k] * (1e9 if k in ("ns_per_switch", "ns_per_task") else 1))
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
print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.release()}; medians of the runs")
print(f"{'benchmark':48} {'greenring':>12} {'threads':>12} {'threads/greenring':>18}")
for label, g, t in rows:
    gv = med(*g)
    tv = med(*t) if t else None
    fmt = lambda v: f"{v:12.1f}" if v is not None else f"{'-':>12}"
    ratio = f"{tv / gv:17.1f}x" if gv and tv else f"{'-':>18}"
    print(f"{label:48} {fmt(gv)} {fmt(tv)} {ratio}")
print("threads baseline: condvar/semaphore ping-pong between two std::threads; std::thread create+join;"
      " 10,000 threads in sleep_until for every idle row (the N threads reach here)")
PY
rm -rf "$out"
