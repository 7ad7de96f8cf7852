#!/usr/bin/env python3
"""Time to first audio byte of a streamed synthesis, over N sequential requests.

One request at a time. With --connection new (the default, like curl's
%{time_starttransfer} minus %{time_connect}) every request gets a fresh TCP connection with
TCP_NODELAY, and the clock starts after the connection is made; with --connection keepalive one
HTTP/1.1 connection is reused (re-opened after an error), the way a pooled client works, which
also exposes delayed-ACK/Nagle stalls (~40 ms on Linux) of a server that writes a response's
head and body separately without TCP_NODELAY. The clock starts just before the request is
written and stops when the first audio byte is in:

  --mode gateway  the first byte of the body of `POST /v2/tts` (raw audio);
  --mode direct   the first hex digit of `"audio":"…"` in the simulator's SSE stream
                  (`POST /v1/t2a_v2` with stream=true).

The rest of each response is drained (and checked to end cleanly) before the next request.
Prints one JSON object with p50/p99/mean in milliseconds, the count and the errors.
"""

import argparse
import http.client
import json
import socket
import sys
import time
import urllib.parse

from stats import percentile

MARK = b'"audio":"'


def first_audio(resp, mode):
    """Reads until the first audio byte; returns (ok, bytes_read_so_far)."""
    if mode == "gateway":
        b = resp.read1(65536)
        return (len(b) > 0, b)
    buf = b""
    while True:
        b = resp.read1(65536)
        if not b:
            return (False, buf)
        buf += b
        i = buf.find(MARK)
        if i >= 0 and len(buf) > i + len(MARK) and buf[i + len(MARK) : i + len(MARK) + 1] != b'"':
            return (True, buf)
        if len(buf) > 1 << 20:
            return (False, buf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--auth", required=True, help="bearer token")
    ap.add_argument("--body", required=True, help="JSON request body")
    ap.add_argument("--mode", choices=["gateway", "direct"], required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=120, help="stop early after this")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--connection", choices=["new", "keepalive"], default="new")
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.url)
    body = args.body.encode()
    headers = {
        "Authorization": "Bearer " + args.auth,
        "Content-Type": "application/json",
        "Connection": "close" if args.connection == "new" else "keep-alive",
    }
    conn = None
    samples, errors, statuses = [], 0, {}
    deadline = time.monotonic() + args.max_seconds
    for i in range(args.warmup + args.n):
        if time.monotonic() > deadline:
            break
        if conn is None:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
            conn.connect()
            if args.connection == "new":
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            t0 = time.perf_counter()
            conn.request("POST", u.path, body=body, headers=headers)
            resp = conn.getresponse()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status != 200:
                resp.read()
                ok = False
            else:
                ok, _ = first_audio(resp, args.mode)
                t1 = time.perf_counter()
                resp.read()  # drain to the end so the connection can be reused
            if i >= args.warmup:
                if ok:
                    samples.append((t1 - t0) * 1000.0)
                else:
                    errors += 1
            if resp.will_close or args.connection == "new":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            if i >= args.warmup:
                errors += 1
            print(f"ttfb: request {i}: {e!r}", file=sys.stderr)
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    s = sorted(samples)
    json.dump(
        {
            "mode": args.mode,
            "connection": args.connection,
            "n": len(s),
            "errors": errors,
            "statuses": {str(k): v for k, v in statuses.items()},
            "p50_ms": percentile(s, 50),
            "p99_ms": percentile(s, 99),
            "mean_ms": (sum(s) / len(s)) if s else None,
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
