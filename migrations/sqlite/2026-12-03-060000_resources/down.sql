ALTER TABLE closures DROP COLUMN resource;
DROP TABLE resource_claims;
ALTER TABLE bookings DROP COLUMN practitioner;
