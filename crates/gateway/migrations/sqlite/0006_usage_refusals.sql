-- Requests refused by a rate or concurrency limit, counted per user, hour and status instead
-- of written one usage record each: a flood of refusals from one key costs one row an hour,
-- not one row a request (about 490 bytes each, 3,600 a second seen from one key).
-- `created_at` is the hour's start as the gateway writes instants, `created_ns` the same
-- instant in nanoseconds (like usage_records, so reports bound both by the same key).
-- Kept in lock-step with migrations/postgres/0006_usage_refusals.sql.
CREATE TABLE usage_refusals (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    created_ns  INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('rate_limited')),
    requests    INTEGER NOT NULL CHECK (requests > 0),
    PRIMARY KEY (user_id, created_at, status)
);
