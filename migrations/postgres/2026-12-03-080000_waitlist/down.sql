DELETE FROM slot_claims WHERE offer_id IS NOT NULL;
DROP INDEX slot_claims_offer;
ALTER TABLE slot_claims DROP CONSTRAINT slot_claims_one_holder;
ALTER TABLE slot_claims DROP COLUMN offer_id;
ALTER TABLE slot_claims ALTER COLUMN booking_reference SET NOT NULL;
DROP TABLE waitlist_jobs;
DROP TABLE waitlist_offers;
DROP TABLE waitlist_entries;
