ALTER TABLE outbox ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN body TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN ics TEXT;
UPDATE outbox SET
    subject = (SELECT subject FROM outbox_contents WHERE outbox_id = outbox.id),
    body = (SELECT body FROM outbox_contents WHERE outbox_id = outbox.id),
    ics = (SELECT ics FROM outbox_contents WHERE outbox_id = outbox.id)
    WHERE id IN (SELECT outbox_id FROM outbox_contents);
DROP TABLE outbox_contents;
