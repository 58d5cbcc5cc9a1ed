DROP INDEX outbox_recipient_lower;
