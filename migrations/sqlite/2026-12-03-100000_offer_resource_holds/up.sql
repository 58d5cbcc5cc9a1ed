-- A waiting-list offer of a type that needs practitioners, rooms or a
-- daily limit holds them as it holds seats: a claim belongs to a booking
-- or to an offer, never both, under the same primary key, so the offered
-- practitioner and room are busy for everybody else while the offer is
-- held. SQLite cannot alter a column, so the table is rebuilt (nothing
-- refers to resource_claims, so foreign keys may stay on).
CREATE TABLE resource_claims_new (
    resource_code TEXT NOT NULL,
    slot_start TIMESTAMP NOT NULL,
    booking_reference TEXT REFERENCES bookings (reference) ON DELETE CASCADE,
    offer_id INTEGER REFERENCES waitlist_offers (id) ON DELETE CASCADE,
    PRIMARY KEY (resource_code, slot_start),
    CHECK ((booking_reference IS NULL) <> (offer_id IS NULL))
);
INSERT INTO resource_claims_new (resource_code, slot_start, booking_reference)
    SELECT resource_code, slot_start, booking_reference FROM resource_claims;
DROP TABLE resource_claims;
ALTER TABLE resource_claims_new RENAME TO resource_claims;
CREATE INDEX resource_claims_booking ON resource_claims (booking_reference);
CREATE INDEX resource_claims_slot ON resource_claims (slot_start);
CREATE INDEX resource_claims_offer ON resource_claims (offer_id);
