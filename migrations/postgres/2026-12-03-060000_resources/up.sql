-- Practitioners and rooms ([[resources]] in the configuration). A booking
-- of a type that needs them holds one row per (resource, grid slot) it
-- covers, its buffer included: the primary key lets only one booking hold
-- a practitioner or a room at a time, as slot_claims does for seats. A
-- type's daily limit is held the same way, as places under the key
-- ('daily:' || type, clinic day's midnight + place seconds).
-- Existing bookings are untouched: they keep their seats and name no
-- practitioner.
ALTER TABLE bookings ADD COLUMN practitioner TEXT;

CREATE TABLE resource_claims (
    resource_code TEXT NOT NULL,
    slot_start TIMESTAMP NOT NULL,
    booking_reference TEXT NOT NULL REFERENCES bookings (reference) ON DELETE CASCADE,
    PRIMARY KEY (resource_code, slot_start)
);
CREATE INDEX resource_claims_booking ON resource_claims (booking_reference);
CREATE INDEX resource_claims_slot ON resource_claims (slot_start);

-- A staff closure may be one practitioner's or room's time off.
ALTER TABLE closures ADD COLUMN resource TEXT;
