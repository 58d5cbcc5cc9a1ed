-- The waiting list (キャンセル待ち). An entry asks for a type on one clinic
-- day, optionally between two start times and with one practitioner; its
-- contact data is stored as a booking's is (the mailbox hash beside the
-- address, only the hash of its manage token). Times are UTC.
CREATE TABLE waitlist_entries (
    reference TEXT PRIMARY KEY NOT NULL,
    manage_token_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'offered', 'booked', 'expired', 'cancelled')),
    type_code TEXT NOT NULL,
    wanted_date DATE NOT NULL,
    -- Bounds of the wanted start times, clinic time "HH:MM", inclusive.
    from_time TEXT,
    to_time TEXT,
    practitioner TEXT,
    name TEXT NOT NULL,
    name_kana TEXT,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    mailbox_hash TEXT,
    consent_at TIMESTAMP NOT NULL,
    consent_version TEXT NOT NULL,
    offers_made INTEGER NOT NULL DEFAULT 0,
    booking_reference TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX waitlist_entries_day ON waitlist_entries (wanted_date, status, created_at);
CREATE INDEX waitlist_entries_mailbox ON waitlist_entries (mailbox_hash);

-- One offer of a freed start to one entry. While `held`, the seats it
-- covers are claimed in slot_claims under its id, so nobody else can book
-- them; the partial unique index keeps one held offer per entry.
-- `token_hash` is the hash of the link in the offer email.
CREATE TABLE waitlist_offers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entry_reference TEXT NOT NULL REFERENCES waitlist_entries (reference) ON DELETE CASCADE,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'accepted', 'lapsed', 'withdrawn')),
    token_hash TEXT NOT NULL,
    offered_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP
);
CREATE UNIQUE INDEX waitlist_offers_one_held ON waitlist_offers (entry_reference) WHERE status = 'held';
CREATE INDEX waitlist_offers_expiry ON waitlist_offers (status, expires_at);

-- "Offer this freed time": queued in the transaction that frees it (a
-- cancellation, a move away, a closure removed) and done by the waitlist
-- worker in one transaction that starts by deleting the row, so a job is
-- done once or, if an instance dies, not at all and later by another.
CREATE TABLE waitlist_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX waitlist_jobs_due ON waitlist_jobs (due_at);

-- A seat is claimed by a booking or held by an offer, never both: the same
-- primary key (slot_start, seat) judges both, so a held seat is full for
-- everybody else until the hold ends. SQLite cannot alter a column, so the
-- table is rebuilt (nothing refers to slot_claims, so foreign keys may
-- stay on).
CREATE TABLE slot_claims_new (
    slot_start TIMESTAMP NOT NULL,
    seat INTEGER NOT NULL CHECK (seat >= 1),
    booking_reference TEXT REFERENCES bookings (reference) ON DELETE CASCADE,
    offer_id INTEGER REFERENCES waitlist_offers (id) ON DELETE CASCADE,
    PRIMARY KEY (slot_start, seat),
    CHECK ((booking_reference IS NULL) <> (offer_id IS NULL))
);
INSERT INTO slot_claims_new (slot_start, seat, booking_reference)
    SELECT slot_start, seat, booking_reference FROM slot_claims;
DROP TABLE slot_claims;
ALTER TABLE slot_claims_new RENAME TO slot_claims;
CREATE INDEX slot_claims_booking ON slot_claims (booking_reference);
CREATE INDEX slot_claims_offer ON slot_claims (offer_id);
