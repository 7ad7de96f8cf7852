#!/usr/bin/env python3
"""Turns the raw results that bench/run.sh left in its output folder into one Markdown report.

    report.py OUT_DIR > results.md

Layout of OUT_DIR (all JSON unless said otherwise):
  meta.json                      settings of the run, load average at its start
  calibration.json               bench/lib/calibrate.py: disk flush, loopback round trip, one core
  notes.txt                      free-text notes, one per line
  <backend>/metering.jsonl       the metering_ceiling example: one JSON object per concurrency
  streams.json, streams.idle.json, streams.stats.json
  <backend>/idle.json            {"rss_kb": N} right after start-up
  <backend>/<target>-<load>.oha.json   oha's JSON summary (target: direct | gateway)
  <backend>/<target>-<load>.mon.json   bench/lib/procmon.py: CPU s and peak RSS of the server
  <backend>/gateway-<load>.stats.json  GET /v1/usage/stats of that run's own user
  <backend>/ttfb-<target>.json, <backend>/ttfb-gateway.stats.json
Backends: sqlite, postgres. Loads: c<N> (closed loop, N connections) and q<R> (R req/s).
"""

import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

MB = 1_000_000  # targets are in decimal megabytes; /proc reports KiB

TARGETS = {
    "added_p99_c1_sqlite_ms": 0.5,
    "added_p99_c1_postgres_ms": 2.0,
    "gateway_rps_c64_sqlite": 5500,
    "ttfb_added_p99_ms": 1.0,
    "idle_rss_mb": 30,
    "streams_rss_mb": 200,
    "streams": 2000,
}

# CPU steal (%) above which a load run is flagged: the hypervisor took that share of the machine
# from the load generator and the servers, so its latencies measure the host, not the gateway.
STEAL_WARN_PCT = 2.0


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def fmt(v, digits=2, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        s = f"{v:,.{digits}f}"
    else:
        s = f"{v:,}"
    return s + unit


def kb_to_mb(kb):
    return None if kb is None else kb * 1024 / MB


def machine(out):
    meta = load(os.path.join(out, "meta.json")) or {}
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rustc = "unknown"
    idle = None
    try:
        with open("/sys/devices/system/cpu/cpuidle/current_driver") as f:
            idle = f.read().strip()
        if idle == "haltpoll":
            with open("/sys/module/haltpoll/parameters/guest_halt_poll_ns") as f:
                idle += f" (guest_halt_poll_ns {f.read().strip()})"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpuidle": idle,
        "calibration": load(os.path.join(out, "calibration.json")) or {},
        "cores": os.cpu_count(),
        "mem_gib": None if mem is None else mem / 2**30,
        "kernel": platform.release(),
        "rustc": rustc,
        "date": meta.get("date") or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "meta": meta,
    }


class Oha:
    """The figures used from one oha JSON summary."""

    def __init__(self, d, mon, seconds):
        self.ok = d is not None
        d = d or {}
        s = d.get("summary", {})
        lp = d.get("latencyPercentiles", {})
        codes = {str(k): int(v) for k, v in (d.get("statusCodeDistribution") or {}).items()}
        errs = d.get("errorDistribution") or {}
        self.codes = codes
        self.conn_errors = sum(int(v) for v in errs.values())
        self.error_kinds = errs
        self.responses = sum(codes.values())
        self.sent = self.responses + self.conn_errors
        self.ok2xx = sum(v for k, v in codes.items() if k.startswith("2"))
        self.non2xx = self.responses - self.ok2xx
        self.errors = self.non2xx + self.conn_errors
        self.p50 = None if lp.get("p50") is None else lp["p50"] * 1000
        self.p99 = None if lp.get("p99") is None else lp["p99"] * 1000
        total = s.get("total")  # seconds of the whole run
        self.seconds = total or seconds
        self.rps = s.get("requestsPerSec")
        # Throughput of successful (2xx) responses only: the metered requests per second.
        self.ok_rps = (self.ok2xx / self.seconds) if self.seconds else None
        mon = mon or {}
        self.cpu_s = mon.get("cpu_s")
        self.peak_rss_kb = mon.get("peak_rss_kb")
        self.steal_pct = mon.get("steal_pct")

    @property
    def cpu_ms_per_req(self):
        if self.cpu_s is None or not self.responses:
            return None
        return self.cpu_s * 1000 / self.responses


def sub(a, b):
    return None if a is None or b is None else a - b


def verdict(value, limit, le=True):
    if value is None:
        return "not measured"
    ok = value <= limit if le else value >= limit
    return "met" if ok else "**MISSED**"


def too_much_steal(run):
    return bool(run and run.ok and run.steal_pct is not None and run.steal_pct > STEAL_WARN_PCT)


def disturbed(*runs):
    """' (…)' naming the steal of the runs behind a figure when the host took too much, else ''."""
    flagged = [r.steal_pct for r in runs if too_much_steal(r)]
    if not flagged:
        return ""
    return f" (the hypervisor took up to {max(flagged):.1f} % of the CPU in these runs: not representative)"


def usage_check(o, stats):
    """Compares what the load generator saw with the run user's usage stats."""
    if stats is None or not o.ok:
        return None, "no stats"
    succ = stats.get("successful_requests")
    total = stats.get("total_requests")
    failed = stats.get("failed_requests") or 0
    pending = (total or 0) - (succ or 0) - failed
    lost_ok = o.ok2xx - (succ or 0)
    lost_total = o.sent - (total or 0)
    parts = [f"2xx {o.ok2xx:,} vs successful {succ:,}", f"sent {o.sent:,} vs total {total:,}"]
    if pending:
        parts.append(f"{pending} still pending")
    clean = lost_ok == 0 and lost_total == 0 and pending == 0
    return clean, ("OK: " if clean else "**DIFF**: ") + "; ".join(parts)


def main():
    out = sys.argv[1]
    m = machine(out)
    meta = m["meta"]
    seconds = meta.get("bench_seconds")
    notes = []
    try:
        with open(os.path.join(out, "notes.txt")) as f:
            notes = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        pass

    backends = [b for b in ("sqlite", "postgres") if os.path.isdir(os.path.join(out, b))]
    loads = meta.get("loads") or []
    runs = {}
    for b in backends:
        for ld in loads:
            for t in ("direct", "gateway"):
                base = os.path.join(out, b, f"{t}-{ld}")
                runs[(b, t, ld)] = Oha(load(base + ".oha.json"), load(base + ".mon.json"), seconds)

    def get(b, t, ld):
        return runs.get((b, t, ld))

    L = []
    L.append("# OdeaDev TTS benchmark")
    L.append("")
    L.append("| Machine | |")
    L.append("|---|---|")
    L.append(f"| CPU | {m['cpu']} |")
    L.append(f"| Cores | {m['cores']} |")
    L.append(f"| Memory | {fmt(m['mem_gib'], 1)} GiB |")
    L.append(f"| Kernel | {m['kernel']} |")
    if m["cpuidle"]:
        L.append(f"| CPU idle driver | {m['cpuidle']} |")
    cal = m["calibration"]

    def spread(p):
        return "—" if not p else f"p50 {fmt(p['p50'], 0)} µs, p99 {fmt(p['p99'], 0)} µs"

    if cal:
        L.append(f"| Disk flush: 4 KiB rewrite + fdatasync in the run's temp dir | {spread(cal.get('fdatasync_us'))} |")
        L.append(f"| Loopback TCP round trip between two processes (1 byte, Python) | {spread(cal.get('loopback_rtt_us'))} |")
        L.append(f"| One core: SHA-256 in memory | {fmt(cal.get('sha256_mb_per_s'), 0, ' MB/s')} |")
    L.append(f"| rustc | {m['rustc']} |")
    L.append(f"| Date | {m['date']} |")
    if meta.get("git"):
        L.append(f"| Commit | {meta['git']} |")
    if meta.get("loadavg_start"):
        L.append(f"| Load average at start (1/5/15 min) | {meta['loadavg_start']} |")
    try:
        la1 = float((meta.get("loadavg_start") or "0").split()[0])
    except ValueError:
        la1 = 0.0
    if m["cores"] and la1 > 0.5 * m["cores"]:
        L.append(f"| **Warning** | load average {la1:.2f} on {m['cores']} cores at the start: other work was "
                 "running, so these figures are not representative; rerun on a quiet machine |")
    flagged = [(r.steal_pct, key) for key, r in runs.items() if too_much_steal(r)]
    if flagged:
        worst, (wb, wt, wl) = max(flagged)
        measured = sum(1 for r in runs.values() if r.ok and r.steal_pct is not None)
        L.append(f"| **Warning** | the hypervisor took more than {STEAL_WARN_PCT:g} % of the CPU "
                 f"(steal) in {len(flagged)} of {measured} load runs, up to {worst:.1f} % ({wb} {wt} {wl}): "
                 "the host was busy, so these latencies are not representative; rerun on a quiet machine |")
    L.append(
        f"| Settings | {seconds} s per load run (+{meta.get('warmup_seconds')} s warm-up), "
        f"concurrency {meta.get('concurrencies')}, fixed rate {meta.get('rate')} req/s at "
        f"{meta.get('rate_connections')} connections, {meta.get('ttfb_requests')} TTFB requests, "
        f"{meta.get('streams')} streams held {meta.get('stream_hold')} s (simulator chunks every "
        f"{meta.get('stream_chunk_delay_ms')} ms, client reading 1 KiB every 0.5 s), {meta.get('oha')} |"
    )
    L.append("")

    # ---- targets ----
    rows = []

    def added_p99_c1(b):
        d, g = get(b, "direct", "c1"), get(b, "gateway", "c1")
        return None if not d or not g else sub(g.p99, d.p99)

    def c1_disturbed(b):
        return disturbed(get(b, "direct", "c1"), get(b, "gateway", "c1"))

    v = added_p99_c1("sqlite") if "sqlite" in backends else None
    rows.append(("Added p99 latency at concurrency 1, SQLite", "≤ 0.5 ms", fmt(v, 3, " ms") + c1_disturbed("sqlite"),
                 verdict(v, TARGETS["added_p99_c1_sqlite_ms"])))
    if "postgres" in backends:
        v = added_p99_c1("postgres")
        rows.append(("Added p99 latency at concurrency 1, PostgreSQL", "≤ 2 ms",
                     fmt(v, 3, " ms") + c1_disturbed("postgres"),
                     verdict(v, TARGETS["added_p99_c1_postgres_ms"])))
    else:
        rows.append(("Added p99 latency at concurrency 1, PostgreSQL", "≤ 2 ms", "not run (see notes)",
                     "not measured"))
    g64 = get("sqlite", "gateway", "c64")
    v = g64.ok_rps if g64 and g64.ok else None
    rows.append(("Metered (2xx) requests/s through the gateway at concurrency 64, SQLite", "≥ 5,500 req/s",
                 fmt(v, 0, " req/s") + disturbed(g64), verdict(v, TARGETS["gateway_rps_c64_sqlite"], le=False)))
    for b in backends:
        td, tg = load(os.path.join(out, b, "ttfb-direct.json")), load(os.path.join(out, b, "ttfb-gateway.json"))
        v = sub((tg or {}).get("p99_ms"), (td or {}).get("p99_ms"))
        name = "SQLite" if b == "sqlite" else "PostgreSQL"
        rows.append((f"/v2/tts added time-to-first-audio-byte p99, {name}", "≤ 1 ms", fmt(v, 3, " ms"),
                     verdict(v, TARGETS["ttfb_added_p99_ms"])))
    for b in backends:
        idle = load(os.path.join(out, b, "idle.json"))
        v = kb_to_mb((idle or {}).get("rss_kb"))
        name = "SQLite" if b == "sqlite" else "PostgreSQL"
        rows.append((f"Idle RSS right after start-up, {name}", "≤ 30 MB", fmt(v, 1, " MB"),
                     verdict(v, TARGETS["idle_rss_mb"])))
    st = load(os.path.join(out, "streams.json"))
    if st and "peak_rss_kb" in st:
        v = kb_to_mb(st["peak_rss_kb"])
        held = st.get("min_open_holding") or 0
        res = verdict(v, TARGETS["streams_rss_mb"])
        meas = (f"{fmt(v, 1, ' MB')} peak over the test ({fmt(kb_to_mb(st.get('peak_rss_holding_kb')), 1, ' MB')} "
                f"during the hold); at least {held:,} of {st.get('streams'):,} streams open throughout the hold")
        if held < TARGETS["streams"]:
            res = "**MISSED**"
            meas += f" (fewer than {TARGETS['streams']:,} held)"
        rows.append(("Gateway RSS while holding 2,000 concurrent /v2/tts streams", "≤ 200 MB", meas, res))
    else:
        rows.append(("Gateway RSS while holding 2,000 concurrent /v2/tts streams", "≤ 200 MB",
                     "not run (see notes)", "not measured"))

    # zero errors and zero lost usage records (every gateway run)
    problems, checked = [], 0
    for b in backends:
        for ld in loads:
            g = get(b, "gateway", ld)
            if not g or not g.ok:
                problems.append(f"{b} {ld}: no result")
                continue
            checked += 1
            if g.errors:
                problems.append(f"{b} {ld}: {g.errors:,} errors")
            clean, text = usage_check(g, load(os.path.join(out, b, f"gateway-{ld}.stats.json")))
            if not clean:
                problems.append(f"{b} {ld}: {text}")
        tg = load(os.path.join(out, b, "ttfb-gateway.json"))
        if tg and tg.get("errors"):
            problems.append(f"{b} ttfb: {tg['errors']} errors")
        ts = load(os.path.join(out, b, "ttfb-gateway.stats.json"))
        if tg and ts is not None:
            n_total = tg["n"] + tg["errors"] + meta.get("ttfb_warmup", 0)
            if ts.get("successful_requests") != sum(
                v for k, v in tg.get("statuses", {}).items() if k.startswith("2")
            ) or ts.get("total_requests") != sum(tg.get("statuses", {}).values()):
                problems.append(
                    f"{b} ttfb: usage {ts.get('successful_requests')}/{ts.get('total_requests')}"
                    f" vs client {tg.get('statuses')} (of {n_total})"
                )
    if checked:
        rows.append(("Errors and lost usage records in every gateway run (all below the rpm/stream caps)",
                     "0", "0" if not problems else "; ".join(problems),
                     "met" if not problems else "**MISSED**"))
    else:
        rows.append(("Errors and lost usage records", "0", "no gateway runs", "not measured"))

    L.append("## Targets")
    L.append("")
    L.append("| Target | Goal | Measured | Result |")
    L.append("|---|---|---|---|")
    for r in rows:
        L.append("| " + " | ".join(r) + " |")
    L.append("")

    # ---- load tables ----
    for b in backends:
        name = "SQLite" if b == "sqlite" else "PostgreSQL"
        L.append(f"## `POST /v1/tts` through the gateway vs `POST /v1/t2a_v2` straight to the simulator — {name}")
        L.append("")
        L.append("Latencies in ms as oha reports them; throughput counts all responses; added = gateway "
                 "percentile minus direct percentile at the same load.")
        L.append("")
        L.append("| Load | Direct p50 | Direct p99 | Direct req/s | Direct errors | Gateway p50 | Gateway p99 "
                 "| Gateway req/s | Gateway errors | Added p50 | Added p99 |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for ld in loads:
            d, g = get(b, "direct", ld), get(b, "gateway", ld)
            label = f"concurrency {ld[1:]}" if ld.startswith("c") else f"fixed {ld[1:]} req/s"
            L.append(
                f"| {label} | {fmt(d.p50, 3)} | {fmt(d.p99, 3)} | {fmt(d.rps, 0)} | {fmt(d.errors if d.ok else None)} "
                f"| {fmt(g.p50, 3)} | {fmt(g.p99, 3)} | {fmt(g.rps, 0)} | {fmt(g.errors if g.ok else None)} "
                f"| {fmt(sub(g.p50, d.p50), 3)} | {fmt(sub(g.p99, d.p99), 3)} |"
            )
        L.append("")
        L.append(f"Gateway resources and accounting — {name} (CPU from /proc/PID/stat utime+stime over the run; "
                 "peak RSS sampled every 50 ms and VmHWM reset before the run; steal: the share of the machine's "
                 "CPU time its hypervisor took during the run, from /proc/stat):")
        L.append("")
        L.append("| Load | Gateway CPU s | CPU ms / request | Gateway peak RSS | Simulator CPU s (direct run) "
                 "| CPU steal, direct / gateway run | Usage records vs load generator |")
        L.append("|---|---|---|---|---|---|---|")
        for ld in loads:
            d, g = get(b, "direct", ld), get(b, "gateway", ld)
            label = f"concurrency {ld[1:]}" if ld.startswith("c") else f"fixed {ld[1:]} req/s"
            _, text = usage_check(g, load(os.path.join(out, b, f"gateway-{ld}.stats.json")))
            errs = ""
            if g.ok and (g.non2xx or g.conn_errors):
                codes = ", ".join(f"{k}: {v:,}" for k, v in sorted(g.codes.items()) if not k.startswith("2"))
                kinds = ", ".join(f"{k}: {v:,}" for k, v in g.error_kinds.items())
                errs = f" (errors — {codes} {kinds})"
            L.append(
                f"| {label} | {fmt(g.cpu_s, 2)} | {fmt(g.cpu_ms_per_req, 3)} | {fmt(kb_to_mb(g.peak_rss_kb), 1)} MB "
                f"| {fmt(d.cpu_s, 2)} | {fmt(d.steal_pct, 1, ' %')} / {fmt(g.steal_pct, 1, ' %')} | {text}{errs} |"
            )
        L.append("")

    # ---- TTFB ----
    L.append("## `/v2/tts` time to first audio byte (sequential requests)")
    L.append("")
    L.append("Direct: the simulator's first SSE event carrying audio (`stream: true`, "
             "`exclude_aggregated_audio`). Gateway: the first byte of the `/v2/tts` body. Measured by "
             "bench/lib/ttfb.py from writing the request; ms. The target row uses a fresh connection "
             "(TCP_NODELAY) per request, clock started after connecting; the keep-alive row reuses one "
             "connection and shows any ~40 ms Nagle/delayed-ACK stall of a server writing the response "
             "head and body separately.")
    L.append("")
    L.append("| Backend | Client connection | Requests | Direct p50 | Direct p99 | Gateway p50 | Gateway p99 "
             "| Added p50 | Added p99 | Errors (direct/gateway) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for b, suffix, conn in [(b, s, c) for b in backends for s, c in
                            (("", "new per request (target)"),
                             ("-keepalive", "one keep-alive (informational)"))]:
        td = load(os.path.join(out, b, f"ttfb-direct{suffix}.json"))
        tg = load(os.path.join(out, b, f"ttfb-gateway{suffix}.json"))
        if td is None and tg is None:
            continue
        td, tg = td or {}, tg or {}
        L.append(
            f"| {b} | {conn} | {tg.get('n', '—')} | {fmt(td.get('p50_ms'), 3)} | {fmt(td.get('p99_ms'), 3)} "
            f"| {fmt(tg.get('p50_ms'), 3)} | {fmt(tg.get('p99_ms'), 3)} "
            f"| {fmt(sub(tg.get('p50_ms'), td.get('p50_ms')), 3)} | {fmt(sub(tg.get('p99_ms'), td.get('p99_ms')), 3)} "
            f"| {td.get('errors', '—')}/{tg.get('errors', '—')} |"
        )
    for b in backends:
        dk = load(os.path.join(out, b, "ttfb-direct-keepalive.json")) or {}
        dn = load(os.path.join(out, b, "ttfb-direct.json")) or {}
        if (dk.get("p50_ms") or 0) > 20 and (dn.get("p50_ms") or 1e9) < 10:
            L.append("")
            L.append(f"Note ({b}): the simulator answers a reused keep-alive connection ~{dk['p50_ms']:.0f} ms late "
                     f"(p50) against {dn['p50_ms']:.2f} ms on a fresh one — the delayed-ACK/Nagle stall of a server "
                     "that writes the SSE head and first event separately without TCP_NODELAY. The gateway "
                     "reuses pooled upstream connections, so its first audio byte meets the same stall; the "
                     "fresh-connection direct baseline does not.")
            break
    L.append("")

    # ---- streams ----
    L.append("## Holding concurrent `/v2/tts` streams (SQLite, simulator streaming slowly)")
    L.append("")
    if st and "peak_rss_kb" in st:
        idle = load(os.path.join(out, "streams.idle.json")) or {}
        ss = load(os.path.join(out, "streams.stats.json")) or {}
        L.append("| Streams asked | Answered 200 | Peak open at once | Fewest open during the hold | Statuses "
                 "| Client errors | Ended early | Gateway idle RSS | Gateway peak RSS during the hold "
                 "| Gateway peak RSS over the test | Open at that peak | Ramp s | Hold s | Usage records (total/pending) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        pend = None
        if ss:
            pend = ss.get("total_requests", 0) - ss.get("successful_requests", 0) - ss.get("failed_requests", 0)
        L.append(
            f"| {st['streams']:,} | {st['ok']:,} | {st['peak_open']:,} | {fmt(st.get('min_open_holding'))} "
            f"| {st['statuses']} | {st['errors'] or 0} "
            f"| {st['ended_early']} | {fmt(kb_to_mb(idle.get('rss_kb')), 1)} MB "
            f"| {fmt(kb_to_mb(st.get('peak_rss_holding_kb')), 1)} MB | {fmt(kb_to_mb(st['peak_rss_kb']), 1)} MB "
            f"| {st['open_at_peak_rss']:,} | {st['ramp_s']} | {st['hold_s']} "
            f"| {ss.get('total_requests', '—')}/{'—' if pend is None else pend} |"
        )
    else:
        L.append("Not run: " + (json.dumps(st) if st else "see notes") + ".")
    L.append("")

    # ---- metering ----
    L.append("## Metering path ceiling — the store's reserve + settle alone")
    L.append("")
    L.append("Measured by `crates/gateway/examples/metering_ceiling.rs`: the two database operations of every "
             "metered request (reserve the estimate with its pending usage record, settle the real length) "
             "through the gateway's own store code, in a tight loop on a fresh database, with no HTTP, "
             "engine or limits around them. The last column puts the gateway's metered requests/s at the "
             "same concurrency beside it: how close to its database's limit the gateway runs.")
    L.append("")
    ceiling_rows = []
    for b in backends:
        path = os.path.join(out, b, "metering.jsonl")
        try:
            with open(path) as f:
                lines = [json.loads(x) for x in f if x.strip()]
        except (FileNotFoundError, json.JSONDecodeError):
            lines = []
        for m in lines:
            g = get(b, "gateway", f"c{m['concurrency']}")
            share = None
            if g and g.ok and g.ok_rps and m.get("requests_per_s"):
                share = 100 * g.ok_rps / m["requests_per_s"]
            ceiling_rows.append(
                f"| {b} | {m['concurrency']} | {m['requests']:,} | {fmt(m['seconds'], 1)} "
                f"| {fmt(m['requests_per_s'], 0)} | {fmt(m['p50_us'])} µs | {fmt(m['p99_us'])} µs "
                f"| {fmt(g.ok_rps if g and g.ok else None, 0)} ({fmt(share, 0)} % of the ceiling) |"
            )
    if ceiling_rows:
        L.append("| Backend | Concurrency | Requests (reserve + settle) | Seconds | Requests/s ceiling "
                 "| p50 per request | p99 per request | Gateway metered req/s at this concurrency |")
        L.append("|---|---|---|---|---|---|---|---|")
        L.extend(ceiling_rows)
    else:
        L.append("Not run.")
    L.append("")

    if notes:
        L.append("## Notes")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
        L.append("")
    sys.stdout.write("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
