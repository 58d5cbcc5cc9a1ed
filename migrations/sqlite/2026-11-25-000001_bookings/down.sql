DROP TABLE idempotency_keys;
DROP TABLE slot_claims;
DROP TABLE bookings;
