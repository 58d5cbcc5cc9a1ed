-- Bookings gain the status `arrived` (受付済: the patient is in), and the
-- time it was reached beside the other status times. Times are UTC.
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('confirmed', 'cancelled', 'completed', 'no_show', 'arrived'));
ALTER TABLE bookings ADD COLUMN arrived_at TIMESTAMP;
