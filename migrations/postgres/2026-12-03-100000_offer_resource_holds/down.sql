DELETE FROM resource_claims WHERE offer_id IS NOT NULL;
DROP INDEX resource_claims_offer;
ALTER TABLE resource_claims DROP CONSTRAINT resource_claims_one_holder;
ALTER TABLE resource_claims DROP COLUMN offer_id;
ALTER TABLE resource_claims ALTER COLUMN booking_reference SET NOT NULL;
