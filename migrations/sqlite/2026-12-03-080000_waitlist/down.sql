CREATE TABLE slot_claims_old (
    slot_start TIMESTAMP NOT NULL,
    seat INTEGER NOT NULL CHECK (seat >= 1),
    booking_reference TEXT NOT NULL REFERENCES bookings (reference) ON DELETE CASCADE,
    PRIMARY KEY (slot_start, seat)
);
INSERT INTO slot_claims_old SELECT slot_start, seat, booking_reference FROM slot_claims
    WHERE booking_reference IS NOT NULL;
DROP TABLE slot_claims;
ALTER TABLE slot_claims_old RENAME TO slot_claims;
CREATE INDEX slot_claims_booking ON slot_claims (booking_reference);
DROP TABLE waitlist_jobs;
DROP TABLE waitlist_offers;
DROP TABLE waitlist_entries;
