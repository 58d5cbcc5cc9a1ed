-- Patients' addresses are compared case-insensitively (the per-recipient
-- mail cap): index the lowered address so that check is not a full scan.
CREATE INDEX outbox_recipient_lower ON outbox (lower(recipient), created_at);
