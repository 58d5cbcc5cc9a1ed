-- Bookings, the slot claims that enforce capacity, and idempotency records.
-- Times are UTC.
CREATE TABLE bookings (
    reference TEXT PRIMARY KEY NOT NULL,
    manage_token_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled', 'completed', 'no_show')),
    type_code TEXT NOT NULL,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    name TEXT NOT NULL,
    name_kana TEXT,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    first_visit BOOLEAN,
    message TEXT,
    source TEXT,
    staff_note TEXT,
    consent_at TIMESTAMP NOT NULL,
    consent_version TEXT NOT NULL,
    sequence INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP
);
CREATE INDEX bookings_start_at ON bookings (start_at);

-- One row per occupied seat of a slot: (slot_start, seat) is unique, and a
-- booking claims one free seat in 1..capacity for every slot it covers, so
-- the database itself refuses an overbooking.
CREATE TABLE slot_claims (
    slot_start TIMESTAMP NOT NULL,
    seat INTEGER NOT NULL CHECK (seat >= 1),
    booking_reference TEXT NOT NULL REFERENCES bookings (reference) ON DELETE CASCADE,
    PRIMARY KEY (slot_start, seat)
);
CREATE INDEX slot_claims_booking ON slot_claims (booking_reference);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    location TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
