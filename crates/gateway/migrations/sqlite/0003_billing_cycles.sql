-- Billing cycles (monthly from a per-user anchor), closed cycles' totals, and the audit log.
-- Kept in lock-step with migrations/postgres/0003_billing_cycles.sql.

-- SQLite adds NOT NULL columns only with a constant default; every row is set just below and
-- the gateway always writes all three, so the '' default is never seen.
ALTER TABLE users ADD COLUMN cycle_anchor     TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN cycle_started_at TEXT NOT NULL DEFAULT '';
-- Derived from the anchor and the start (kept so due cycles are found by index). Existing
-- users get their creation time: due at once, so the first request or reaper pass rolls
-- them forward to their current cycle in one step (or just records the end, when the first
-- cycle is still running).
ALTER TABLE users ADD COLUMN cycle_ends_at    TEXT NOT NULL DEFAULT '';
UPDATE users SET cycle_anchor = created_at, cycle_started_at = created_at, cycle_ends_at = created_at;
CREATE INDEX users_cycle_ends ON users (cycle_ends_at);

CREATE TABLE billing_periods (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    period_start  TEXT    NOT NULL,
    period_end    TEXT    NOT NULL,
    quota_ms      INTEGER NOT NULL,
    used_ms       INTEGER NOT NULL,
    requests      INTEGER NOT NULL,
    reason        TEXT    NOT NULL CHECK (reason IN ('rollover', 'reset')),
    closed_at     TEXT    NOT NULL,
    -- Two nodes closing the same cycle cannot both insert.
    UNIQUE (user_id, period_start)
);

CREATE TABLE audit_log (
    id             TEXT    PRIMARY KEY NOT NULL,
    actor_user_id  INTEGER NULL REFERENCES users (id),
    action         TEXT    NOT NULL,
    target_type    TEXT    NOT NULL,
    target_id      TEXT    NOT NULL,
    details        TEXT    NOT NULL DEFAULT '{}',
    request_id     TEXT    NULL,
    created_at     TEXT    NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at DESC);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, created_at DESC);
CREATE INDEX audit_log_action ON audit_log (action, created_at DESC);
