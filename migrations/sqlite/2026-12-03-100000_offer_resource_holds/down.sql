DELETE FROM resource_claims WHERE offer_id IS NOT NULL;
CREATE TABLE resource_claims_old (
    resource_code TEXT NOT NULL,
    slot_start TIMESTAMP NOT NULL,
    booking_reference TEXT NOT NULL REFERENCES bookings (reference) ON DELETE CASCADE,
    PRIMARY KEY (resource_code, slot_start)
);
INSERT INTO resource_claims_old (resource_code, slot_start, booking_reference)
    SELECT resource_code, slot_start, booking_reference FROM resource_claims;
DROP TABLE resource_claims;
ALTER TABLE resource_claims_old RENAME TO resource_claims;
CREATE INDEX resource_claims_booking ON resource_claims (booking_reference);
CREATE INDEX resource_claims_slot ON resource_claims (slot_start);
