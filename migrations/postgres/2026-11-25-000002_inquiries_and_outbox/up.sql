-- Inquiries from the website, and the outbox every email goes through.
-- Times are UTC.
CREATE TABLE inquiries (
    reference TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'in_progress', 'closed')),
    category TEXT NOT NULL CHECK (category IN ('general', 'treatment', 'reservation', 'other')),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    message TEXT NOT NULL,
    source TEXT,
    staff_note TEXT,
    consent_at TIMESTAMP NOT NULL,
    consent_version TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX inquiries_created_at ON inquiries (created_at);

-- One row per email, written in the same transaction as the change that
-- caused it and delivered later by the mail worker. A worker claims a row by
-- setting `locked_until`/`lease_owner` with a conditional UPDATE, so two
-- instances never send the same message. `subject`, `body` and `ics` are
-- rendered when the row is written (the manage token exists only then).
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('patient', 'clinic')),
    reference TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    ics TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'suppressed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    lease_owner TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_reference ON outbox (reference);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
