-- Limits on what one person may do count by mailbox, however the address
-- is spelled (case, +tag, Gmail's dots): `mailbox_hash` and
-- `recipient_key` hold the hash of the normalised mailbox
-- (domain::contact::mailbox_key). Existing bookings still ahead get theirs
-- at start-up (db::contact_keys::backfill), written by the same function
-- the service uses, not by a second copy of the rule in SQL.
ALTER TABLE bookings ADD COLUMN mailbox_hash TEXT;
-- The cap on active bookings: one patient's bookings still ahead, by
-- mailbox, or by phone where booking.cap_by_phone is set.
CREATE INDEX bookings_mailbox ON bookings (mailbox_hash, start_at);
CREATE INDEX bookings_phone ON bookings (phone, start_at);
-- The per-recipient mail cap reads this instead of lower(recipient).
ALTER TABLE outbox ADD COLUMN recipient_key TEXT;
CREATE INDEX outbox_recipient_key ON outbox (recipient_key, created_at);
DROP INDEX outbox_recipient_lower;
