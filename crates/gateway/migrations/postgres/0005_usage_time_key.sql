-- Kept in lock-step with migrations/sqlite/0005_usage_time_key.sql, which keys the index of a
-- user's usage records by an integer instant instead of RFC 3339 text. PostgreSQL stores
-- `created_at` as a TIMESTAMPTZ, already an 8-byte integer, so its index has that key
-- already, and this version changes nothing.
SELECT 1;
