#!/usr/bin/env python3
"""The metering path's own ceiling, approximated: the gateway's two SQLite write transactions
per request, alone, in a tight loop, measured by this script (Python's stdlib sqlite3), not by
the gateway.

Schema: the gateway's own migrations (crates/gateway/migrations/sqlite/*.sql), applied to a
fresh file. Connection settings as the gateway's store opens them: WAL, synchronous=NORMAL,
foreign_keys=ON, temp_store=memory, cache_size=-16000, one writer connection.

Per simulated request (the statements of crates/gateway/src/store/sqlite/metering.rs):
  reserve  BEGIN; UPDATE users SET reserved_ms = reserved_ms + ? WHERE id = ? AND is_active = 1
           AND used_ms + reserved_ms + ? <= quota_ms; INSERT pending usage row; COMMIT
  settle   BEGIN; UPDATE usage_records SET status='success', audio_ms=MIN(MAX(?,0),reserved_ms)…
           WHERE id = ? AND status = 'pending' RETURNING user_id, reserved_ms, audio_ms;
           UPDATE users SET reserved_ms = reserved_ms - ?, used_ms = used_ms + ? WHERE id = ?;
           SELECT MAX(0, quota_ms - used_ms) FROM users WHERE id = ?; COMMIT

Runs for --seconds (and at most --max-requests requests) and prints one JSON object:
transactions/s, the implied requests/s ceiling (two transactions per request), and per-request
p50/p99 in microseconds. Python's own per-statement overhead is included, so the real ceiling
inside the gateway (sqlx, async) may differ either way; it is an approximation.
"""

import argparse
import glob
import json
import math
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone


def rfc3339(dt):
    return dt.isoformat(timespec="microseconds")


def percentile(s, q):
    if not s:
        return None
    return s[max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--migrations", required=True, help="crates/gateway/migrations/sqlite")
    ap.add_argument("--dir", help="where to put the database (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max-requests", type=int, default=5_000_000)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="odeadev-metering-", dir=args.dir)
    path = os.path.join(tmp, "metering.db")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA temp_store=memory")
    db.execute("PRAGMA cache_size=-16000")
    db.execute("PRAGMA busy_timeout=5000")
    for f in sorted(glob.glob(os.path.join(args.migrations, "*.sql"))):
        with open(f) as fh:
            db.executescript(fh.read())
    now = rfc3339(datetime.now(timezone.utc))
    cur = db.execute(
        "INSERT INTO users (name, email, plan, role, quota_ms, quota_custom, rpm_limit, max_streams,"
        " created_at, updated_at) VALUES ('bench', 'bench@example.com', 'enterprise', 'user',"
        " ?, 1, 100000, 10000, ?, ?)",
        (10**15, now, now),
    )
    user_id = cur.lastrowid
    key_id = str(uuid.uuid4())
    voice_id = db.execute("SELECT id FROM voices WHERE friendly_name = 'marcus'").fetchone()[0]

    insert = (
        "INSERT INTO usage_records (id, user_id, key_id, voice_id, request_id, endpoint, engine,"
        " model_used, text_length, status, reserved_ms, error_code, error_message, lease_expires_at,"
        " created_at, settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    reserve_q = (
        "UPDATE users SET reserved_ms = reserved_ms + ?1 WHERE id = ?2 AND is_active = 1"
        " AND used_ms + reserved_ms + ?1 <= quota_ms"
    )
    settle_q = (
        "UPDATE usage_records SET status = ?1, audio_ms = MIN(MAX(?2, 0), reserved_ms),"
        " error_code = ?3, error_message = ?4, settled_at = ?5, lease_expires_at = NULL"
        " WHERE id = ?6 AND status = 'pending' RETURNING user_id, reserved_ms, audio_ms"
    )
    users_q = "UPDATE users SET reserved_ms = reserved_ms - ?1, used_ms = used_ms + ?2 WHERE id = ?3"
    remaining_q = "SELECT MAX(0, quota_ms - used_ms) FROM users WHERE id = ?"

    estimate_ms, audio_ms = 3600, 1500
    lat = []
    n = 0
    failures = 0
    start = time.perf_counter()
    deadline = start + args.seconds
    while n < args.max_requests:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        usage_id = str(uuid.uuid4())
        now_dt = datetime.now(timezone.utc)
        now = rfc3339(now_dt)
        # reserve
        db.execute("BEGIN")
        ok = db.execute(reserve_q, (estimate_ms, user_id)).rowcount == 1
        db.execute(
            insert,
            (usage_id, user_id, key_id, voice_id, usage_id, "/v1/tts", "minimax", "speech-02-turbo",
             25, "pending" if ok else "quota_exceeded", estimate_ms if ok else 0, None, None,
             rfc3339(now_dt + timedelta(seconds=300)) if ok else None, now, None if ok else now),
        )
        db.execute("COMMIT")
        # settle
        db.execute("BEGIN")
        row = db.execute(
            settle_q, ("success", audio_ms, None, None, rfc3339(datetime.now(timezone.utc)), usage_id)
        ).fetchone()
        if row is not None:
            uid, reserved, billed = row
            db.execute(users_q, (reserved, billed, uid))
        else:
            failures += 1
        db.execute(remaining_q, (user_id,)).fetchone()
        db.execute("COMMIT")
        lat.append((time.perf_counter() - t0) * 1e6)
        n += 1
    elapsed = time.perf_counter() - start
    rows = db.execute("SELECT COUNT(*) FROM usage_records WHERE status = 'success'").fetchone()[0]
    db.close()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    os.rmdir(tmp)
    lat.sort()
    json.dump(
        {
            "measured_by": "bench/lib/metering.py (Python sqlite3 %s)" % sqlite3.sqlite_version,
            "requests": n,
            "seconds": round(elapsed, 3),
            "transactions_per_s": round(2 * n / elapsed, 1) if elapsed else None,
            "requests_per_s": round(n / elapsed, 1) if elapsed else None,
            "p50_us": round(percentile(lat, 50), 1) if lat else None,
            "p99_us": round(percentile(lat, 99), 1) if lat else None,
            "settled_rows": rows,
            "failures": failures,
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
