-- The per-recipient cap reads outbox_recipient_lower; nothing reads this
-- one any more, and every message paid for keeping it up to date.
DROP INDEX outbox_recipient;
