-- A patient checked in is, for the older schema, still expected.
UPDATE bookings SET status = 'confirmed' WHERE status = 'arrived';
ALTER TABLE bookings DROP COLUMN arrived_at;
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('confirmed', 'cancelled', 'completed', 'no_show'));
