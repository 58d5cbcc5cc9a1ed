-- When the current run of failed attempts of a message began: retries of
-- temporary failures last `mail.retry_for_hours` from then (not a number
-- of attempts). NULL while a message has not failed, and again after staff
-- requeue it. Messages already retrying start their window at their next
-- failure.
ALTER TABLE outbox ADD COLUMN failing_since TIMESTAMP;
