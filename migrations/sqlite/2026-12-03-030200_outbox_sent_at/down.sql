DROP INDEX outbox_sent_at;
