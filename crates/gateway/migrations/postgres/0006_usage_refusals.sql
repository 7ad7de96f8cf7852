-- Requests refused by a rate or concurrency limit, counted per user, hour and status instead
-- of written one usage record each: a flood of refusals from one key costs one row an hour,
-- not one row a request.
-- Kept in lock-step with migrations/sqlite/0006_usage_refusals.sql (which also keeps the
-- hour as an integer, `created_ns`, as its usage records do).
CREATE TABLE usage_refusals (
    user_id     BIGINT      NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('rate_limited')),
    requests    BIGINT      NOT NULL CHECK (requests > 0),
    PRIMARY KEY (user_id, created_at, status)
);
