-- A message's subject, body and calendar file are written once and never
-- change, while its delivery state (status, attempts, lease) is rewritten
-- at every claim and outcome. Kept apart, those rewrites touch a small row
-- instead of copying a whole email each time (most of the single SQLite
-- writer's traffic under a booking rush).
CREATE TABLE outbox_contents (
    outbox_id INTEGER PRIMARY KEY NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    ics TEXT
);
INSERT INTO outbox_contents (outbox_id, subject, body, ics)
    SELECT id, subject, body, ics FROM outbox;
ALTER TABLE outbox DROP COLUMN subject;
ALTER TABLE outbox DROP COLUMN body;
ALTER TABLE outbox DROP COLUMN ics;
