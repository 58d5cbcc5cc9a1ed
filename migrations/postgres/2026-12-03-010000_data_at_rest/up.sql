-- Data at rest (docs/SECURITY.md): a message keeps its text only while it
-- may still be sent (pending, or failed: staff may send it again); the
-- first start seals what is left. Earlier versions kept every message's
-- text (a confirmation's with the manage link) until its booking was purged.
DELETE FROM outbox_contents
    WHERE outbox_id IN (
        SELECT id FROM outbox WHERE status IN ('sent', 'cancelled', 'suppressed')
    );

-- The retention purge also anonymises inquiries that were never closed
-- (privacy.open_inquiry_retention_days), found by this partial index.
CREATE INDEX open_inquiries_to_purge ON inquiries (updated_at)
    WHERE status <> 'closed' AND email <> '';
