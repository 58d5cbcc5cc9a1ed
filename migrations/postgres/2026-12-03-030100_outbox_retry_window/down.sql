ALTER TABLE outbox DROP COLUMN failing_since;
