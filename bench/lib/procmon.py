#!/usr/bin/env python3
"""Run a command (the load generator) while watching another process (the server).

Prints one JSON object: the watched process's CPU seconds (utime+stime from /proc/PID/stat,
after minus before), its peak resident memory during the command (the larger of VmRSS sampled
every --interval seconds and VmHWM after resetting it through /proc/PID/clear_refs when the
kernel allows), the share of the machine's CPU time its hypervisor took away meanwhile (steal,
from /proc/stat), and the command's exit code. The command's stdout goes to --stdout.

    procmon.py --pid 1234 --stdout oha.json --timeout 60 -- oha -z 10s ...
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode()
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def machine_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat; None where the kernel has no steal."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    # counted in user and nice.
    if len(fields) < 8:
        return None
    return fields[7], sum(fields[:8])


def steal_pct(before, after):
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]), 2)


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def reset_hwm(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--stdout", required=True, help="file for the command's stdout")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=600, help="kill the command after this")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        ap.error("no command")

    hwm_reset = reset_hwm(args.pid)
    cpu0 = cpu_seconds(args.pid)
    ticks0 = machine_ticks()
    peak = [status_kb(args.pid, "VmRSS") or 0]
    done = threading.Event()

    def sample():
        while not done.wait(args.interval):
            rss = status_kb(args.pid, "VmRSS")
            if rss is not None and rss > peak[0]:
                peak[0] = rss

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    started = time.monotonic()
    with open(args.stdout, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out)
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            print(f"procmon: command killed after {args.timeout}s", file=sys.stderr)
    wall = time.monotonic() - started
    done.set()
    t.join()
    cpu1 = cpu_seconds(args.pid)
    ticks1 = machine_ticks()
    hwm = status_kb(args.pid, "VmHWM") if hwm_reset else None
    peak_kb = max(peak[0], hwm or 0)
    json.dump(
        {
            "rc": rc,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu1 - cpu0, 3),
            "peak_rss_kb": peak_kb,
            "rss_after_kb": status_kb(args.pid, "VmRSS"),
            "hwm_reset": hwm_reset,
            "steal_pct": steal_pct(ticks0, ticks1),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
