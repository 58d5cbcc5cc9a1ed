-- The retention purge looks for finished bookings and closed inquiries that
-- still hold personal data; anonymised rows stay for statistics, so without
-- these partial indexes every purge would walk all of history again.
CREATE INDEX bookings_to_purge ON bookings (end_at) WHERE manage_token_hash <> 'erased';
CREATE INDEX inquiries_to_purge ON inquiries (updated_at) WHERE status = 'closed' AND email <> '';
