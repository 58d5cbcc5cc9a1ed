CREATE INDEX outbox_recipient_lower ON outbox (lower(recipient), created_at);
DROP INDEX outbox_recipient_key;
ALTER TABLE outbox DROP COLUMN recipient_key;
DROP INDEX bookings_phone;
DROP INDEX bookings_mailbox;
ALTER TABLE bookings DROP COLUMN mailbox_hash;
