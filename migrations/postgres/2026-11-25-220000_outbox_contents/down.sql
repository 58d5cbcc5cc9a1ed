ALTER TABLE outbox
    ADD COLUMN subject TEXT NOT NULL DEFAULT '',
    ADD COLUMN body TEXT NOT NULL DEFAULT '',
    ADD COLUMN ics TEXT;
UPDATE outbox SET subject = c.subject, body = c.body, ics = c.ics
    FROM outbox_contents c WHERE c.outbox_id = outbox.id;
DROP TABLE outbox_contents;
