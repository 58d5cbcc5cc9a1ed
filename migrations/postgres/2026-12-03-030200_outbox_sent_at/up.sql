-- The messages sent in the last hour, for the global hourly cap
-- (`mail.max_per_hour`); only sent messages have a `sent_at`.
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
