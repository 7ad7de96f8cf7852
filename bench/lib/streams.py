#!/usr/bin/env python3
"""Open N concurrent `POST /v2/tts` streams, hold them while reading slowly, sample the
server's memory.

Every stream is its own HTTP/1.1 connection (asyncio, stdlib only). Connections are opened in
batches (--batch per --batch-pause seconds) so the listen backlog is not overrun; each one
reads the status line, then reads at most --read-bytes every --read-interval seconds until the
hold ends (--hold seconds after the last stream opened) or the server ends the body. Meanwhile
the server's VmRSS (/proc/PID/status) is sampled every 100 ms. Bounded: the whole run ends
after --max-seconds whatever happens.

Prints one JSON object: streams asked for, answered 200, the peak number open at once (status
200, body not yet ended), the statuses and errors seen, the server's peak RSS in kB over the
whole test (ramp, hold and close, with the number of open streams at that moment) and its peak
during the hold alone (with the fewest streams open during the hold).
"""

import argparse
import asyncio
import json
import sys
import time


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class State:
    def __init__(self):
        self.open_now = 0
        self.peak_open = 0
        self.ok = 0
        self.statuses = {}
        self.errors = {}
        self.ended_early = 0
        self.peak_rss = 0
        self.open_at_peak_rss = 0
        self.holding = False
        self.peak_rss_holding = 0
        self.min_open_holding = None


async def one(i, args, st, release, request):
    writer = None
    counted = False
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(args.host, args.port), timeout=args.connect_timeout
        )
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=args.header_timeout)
        parts = line.split()
        status = int(parts[1]) if len(parts) > 1 else 0
        # Headers. The answer counts once they are read, so the hold starts with every
        # answered stream already counted as open.
        while True:
            h = await asyncio.wait_for(reader.readline(), timeout=args.header_timeout)
            if h in (b"\r\n", b"\n", b""):
                break
        st.statuses[status] = st.statuses.get(status, 0) + 1
        if status != 200:
            return
        st.ok += 1
        st.open_now += 1
        counted = True
        st.peak_open = max(st.peak_open, st.open_now)
        # Read slowly until the hold is over. The release comes from the main task only after it
        # has stopped sampling, so no stream closes inside the measured window on our side.
        while not release.is_set():
            chunk = await asyncio.wait_for(reader.read(args.read_bytes), timeout=args.header_timeout)
            if not chunk:
                st.ended_early += 1
                break
            try:
                await asyncio.wait_for(release.wait(), timeout=args.read_interval)
            except asyncio.TimeoutError:
                pass
    except Exception as e:  # noqa: BLE001 - every failure is counted by kind
        k = type(e).__name__
        st.errors[k] = st.errors.get(k, 0) + 1
    finally:
        if counted:
            st.open_now -= 1
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), timeout=2)
            except Exception:  # noqa: BLE001
                pass


async def sampler(args, st, stop):
    while not stop.is_set():
        r = rss_kb(args.pid)
        if r is not None and r > st.peak_rss:
            st.peak_rss = r
            st.open_at_peak_rss = st.open_now
        if r is not None and st.holding:
            st.peak_rss_holding = max(st.peak_rss_holding, r)
            if st.min_open_holding is None or st.open_now < st.min_open_holding:
                st.min_open_holding = st.open_now
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.1)
        except asyncio.TimeoutError:
            pass


async def run(args):
    body = json.dumps({"text": args.text, "voice_name": args.voice}).encode()
    request = (
        f"POST {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Authorization: Bearer {args.auth}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    st = State()
    stop = asyncio.Event()
    samp = asyncio.create_task(sampler(args, st, stop))
    release = asyncio.Event()
    tasks = []
    t0 = time.monotonic()
    for i in range(args.n):
        tasks.append(asyncio.create_task(one(i, args, st, release, request)))
        if (i + 1) % args.batch == 0:
            await asyncio.sleep(args.batch_pause)
    # Wait until all have answered (or the ramp time is up), then hold.
    ramp_deadline = time.monotonic() + args.ramp_timeout
    while time.monotonic() < ramp_deadline and sum(st.statuses.values()) + sum(st.errors.values()) < args.n:
        await asyncio.sleep(0.1)
    ramp_s = time.monotonic() - t0
    st.holding = True
    await asyncio.sleep(args.hold)
    st.holding = False
    release.set()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.header_timeout + 10)
    except asyncio.TimeoutError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    stop.set()
    await samp
    return {
        "streams": args.n,
        "ok": st.ok,
        "peak_open": st.peak_open,
        "ended_early": st.ended_early,
        "statuses": {str(k): v for k, v in sorted(st.statuses.items())},
        "errors": st.errors,
        "ramp_s": round(ramp_s, 2),
        "hold_s": args.hold,
        "peak_rss_kb": st.peak_rss,
        "open_at_peak_rss": st.open_at_peak_rss,
        "peak_rss_holding_kb": st.peak_rss_holding,
        "min_open_holding": st.min_open_holding,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/v2/tts")
    ap.add_argument("--auth", required=True)
    ap.add_argument("--pid", type=int, required=True, help="server process to sample")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--text", required=True)
    ap.add_argument("--voice", default="marcus")
    ap.add_argument("--hold", type=float, default=10)
    ap.add_argument("--read-bytes", type=int, default=1024)
    ap.add_argument("--read-interval", type=float, default=0.5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batch-pause", type=float, default=0.05)
    ap.add_argument("--ramp-timeout", type=float, default=60)
    ap.add_argument("--connect-timeout", type=float, default=20)
    ap.add_argument("--header-timeout", type=float, default=30)
    ap.add_argument("--max-seconds", type=float, default=180)
    args = ap.parse_args()
    try:
        result = asyncio.run(asyncio.wait_for(run(args), timeout=args.max_seconds))
    except asyncio.TimeoutError:
        result = {"streams": args.n, "error": f"gave up after {args.max_seconds}s"}
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
