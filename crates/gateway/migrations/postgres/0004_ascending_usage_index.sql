-- Kept in lock-step with migrations/sqlite/0004_ascending_usage_index.sql, which rebuilds the
-- index of a user's usage records in ascending order because SQLite split pages to put every
-- new record first. PostgreSQL gains nothing measurable from it (the reservation statement
-- ran no faster with an ascending index, by pgbench), and rebuilding an index
-- of the largest table would block metering writes on the nodes still serving during a
-- rolling upgrade. So PostgreSQL keeps its index as it is, and this version changes nothing.
SELECT 1;
