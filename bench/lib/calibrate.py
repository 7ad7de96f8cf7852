#!/usr/bin/env python3
"""Measures what the machine itself costs, independently of the gateway, so that runs on
different machines can be told apart from changes in the code.

    calibrate.py --dir DIR > calibration.json

- fdatasync: rewriting 4 KiB of a file in DIR and syncing it, as a database commit does
  (PostgreSQL's synchronous commit waits for one, SQLite's checkpoints do several);
- loopback round trip: a 1-byte ping-pong over TCP on 127.0.0.1 between two processes, the
  wake-up that each hop of a proxy pays (Python adds a few microseconds to each);
- single-core speed: SHA-256 of 64 MiB in memory (hashlib, C code).

Each is bounded in count and time. Percentiles in microseconds.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import socket
import sys
import time

from stats import percentile

SYNC_ROUNDS = 200
PING_ROUNDS = 2000
MAX_SECONDS = 20  # per measurement


def percentiles(samples_us):
    if not samples_us:
        return None
    s = sorted(samples_us)
    return {"n": len(s), "p50": round(percentile(s, 50), 1), "p99": round(percentile(s, 99), 1)}


def fdatasync_us(directory):
    path = os.path.join(directory, "calibrate.sync")
    block = os.urandom(4096)
    samples = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, block)
        os.fdatasync(fd)
        deadline = time.monotonic() + MAX_SECONDS
        for _ in range(SYNC_ROUNDS):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            samples.append((time.perf_counter() - started) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return percentiles(samples)


def echo(listener):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while True:
            b = conn.recv(1)
            if not b:
                return
            conn.sendall(b)


def loopback_us():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    peer = multiprocessing.Process(target=echo, args=(listener,), daemon=True)
    peer.start()
    samples = []
    try:
        with socket.create_connection(listener.getsockname(), timeout=5) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            deadline = time.monotonic() + MAX_SECONDS
            for i in range(PING_ROUNDS + 100):
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                c.sendall(b"x")
                if c.recv(1) != b"x":
                    break
                if i >= 100:  # the first hundred warm up
                    samples.append((time.perf_counter() - started) * 1e6)
    finally:
        listener.close()
        peer.join(timeout=5)
        if peer.is_alive():
            peer.kill()
    return percentiles(samples)


def sha256_mb_per_s():
    data = os.urandom(1 << 20)
    h = hashlib.sha256()
    started = time.perf_counter()
    for _ in range(64):
        h.update(data)
    return round(64 / (time.perf_counter() - started), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="directory for the fdatasync file")
    args = ap.parse_args()
    json.dump(
        {
            "fdatasync_us": fdatasync_us(args.dir),
            "loopback_rtt_us": loopback_us(),
            "sha256_mb_per_s": sha256_mb_per_s(),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
