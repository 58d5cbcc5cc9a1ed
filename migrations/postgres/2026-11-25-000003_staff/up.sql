-- The staff side: access tokens (hashes only), closures that block out
-- dates or hours, an audit trail, and the times of each status change.
-- Times are UTC.
CREATE TABLE staff_tokens (
    label TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

-- A closure blocks [start_at, end_at); `closed_date` is set when it blocks
-- a whole clinic date (then the day is listed closed, not just full).
CREATE TABLE closures (
    id SERIAL PRIMARY KEY,
    closed_date DATE,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL CHECK (end_at > start_at),
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX closures_start_at ON closures (start_at);

-- Who changed what: `actor` is a staff token's label or `patient`; `detail`
-- never holds personal data.
CREATE TABLE audit_log (
    id SERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    reference TEXT,
    detail TEXT
);
CREATE INDEX audit_log_reference ON audit_log (reference);

ALTER TABLE bookings ADD COLUMN confirmed_at TIMESTAMP;
ALTER TABLE bookings ADD COLUMN completed_at TIMESTAMP;
ALTER TABLE bookings ADD COLUMN no_show_at TIMESTAMP;
