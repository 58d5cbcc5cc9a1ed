-- One row per (event, webhook): written in the same transaction as the
-- change that caused the event, delivered later by the webhook worker,
-- which claims a row by setting `locked_until`/`lease_owner` with a
-- conditional UPDATE (as the mail outbox does). `webhook_id` is the
-- Standard Webhooks message id, the same on every attempt; `body` is the
-- exact JSON sent (signed at each attempt with the attempt's time).
-- `personal_data` says whether the body carries name, email and phone.
-- Times are UTC.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    webhook_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    reference TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    personal_data BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    retry_until TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    lease_owner TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (reference, url, id);
