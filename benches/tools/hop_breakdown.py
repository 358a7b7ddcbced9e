#!/usr/bin/env python3
"""Where a paced IRC -> IRC relay spends its time inside `flare run`, from kernel tracepoints.

Usage (root; `perf` from Debian's linux-perf), while the relay bench's paced phase runs
(it starts some 25 s after the bench starts its `flare run`):

    perf record -p "$(pgrep -f 'flare --config' | head -1)" -o sched.data \
        -e sched:sched_switch -e sched:sched_wakeup \
        -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_sendto \
        -e syscalls:sys_enter_futex -e syscalls:sys_exit_futex \
        -e syscalls:sys_enter_write -e syscalls:sys_enter_epoll_wait \
        -e syscalls:sys_exit_epoll_wait -e syscalls:sys_enter_pwrite64 \
        -e syscalls:sys_enter_fcntl -e syscalls:sys_enter_pread64   # Ctrl-C after ~8 s
    perf script -i sched.data -F tid,time,event,trace > sched.txt
    python3 benches/tools/hop_breakdown.py sched.txt

For every copy Flare sent after a quiet spell (a paced line), it takes the runtime thread's
wake-up from epoll as time zero and prints, over all of them, when the line was read, when
the transaction went to SQLite's thread (the runtime's futex wake), when that thread woke
and finished, and when the copy was written (`sendto`). The tracepoints add a few
microseconds to each system call.
"""

import re
import sys


def main(path):
    events = []
    for line in open(path):
        m = re.match(r"\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
        if m:
            events.append((int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)))
    if not events:
        sys.exit("no events")
    runtime = min(e[0] for e in events)  # the main thread is the process's first
    rows = []
    for i, (tid, at, name, _) in enumerate(events):
        if tid != runtime or name != "syscalls:sys_enter_sendto":
            continue
        j = i
        while j > 0 and not (events[j][0] == runtime and events[j][2] == "syscalls:sys_enter_recvfrom"):
            j -= 1
        k = j - 1
        while k > 0 and events[k][0] != runtime:
            k -= 1
        # Only a line read straight after the runtime woke from a wait of its own.
        if events[k][2] != "syscalls:sys_exit_epoll_wait":
            continue
        t0 = events[k][1]
        span = events[j : i + 1]
        wake = [e for e in span if e[0] == runtime and e[2] == "syscalls:sys_enter_futex" and "op: 0x00000081" in e[3]]
        woke = [e for e in span if e[0] != runtime and e[2] == "syscalls:sys_exit_futex"]
        done = [e for e in span if e[0] != runtime and e[2] == "syscalls:sys_enter_futex"]
        if not (wake and woke and done):
            continue
        us = lambda t: (t - t0) * 1e6
        rows.append((us(events[j][1]), us(wake[0][1]), us(woke[0][1]), us(done[0][1]), us(at)))
    if not rows:
        sys.exit("no paced copies found")
    print(f"{len(rows)} paced copies; microseconds from the runtime's wake-up, p50 / p90")

    def pct(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * p))]

    steps = [
        ("line read (recvfrom)", lambda r: r[0]),
        ("transaction sent to SQLite's thread", lambda r: r[1]),
        ("SQLite's thread awake", lambda r: r[2]),
        ("SQLite's thread done (commit)", lambda r: r[3]),
        ("copy written (sendto)", lambda r: r[4]),
        ("  parse + engine: read -> sent", lambda r: r[1] - r[0]),
        ("  wake-up of SQLite's thread", lambda r: r[2] - r[1]),
        ("  SQLite: statements + commit", lambda r: r[3] - r[2]),
        ("  commit -> copy written", lambda r: r[4] - r[3]),
    ]
    for name, f in steps:
        values = [f(r) for r in rows]
        print(f"{name:40s} {pct(values, 0.5):6.0f} / {pct(values, 0.9):6.0f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "sched.txt")
