-- A waiting-list offer of a type that needs practitioners, rooms or a
-- daily limit holds them as it holds seats: a claim belongs to a booking
-- or to an offer, never both, under the same primary key, so the offered
-- practitioner and room are busy for everybody else while the offer is
-- held.
ALTER TABLE resource_claims ALTER COLUMN booking_reference DROP NOT NULL;
ALTER TABLE resource_claims ADD COLUMN offer_id BIGINT REFERENCES waitlist_offers (id) ON DELETE CASCADE;
ALTER TABLE resource_claims ADD CONSTRAINT resource_claims_one_holder
    CHECK ((booking_reference IS NULL) <> (offer_id IS NULL));
CREATE INDEX resource_claims_offer ON resource_claims (offer_id);
