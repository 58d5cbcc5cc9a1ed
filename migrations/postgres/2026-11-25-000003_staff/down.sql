ALTER TABLE bookings DROP COLUMN no_show_at;
ALTER TABLE bookings DROP COLUMN completed_at;
ALTER TABLE bookings DROP COLUMN confirmed_at;
DROP TABLE audit_log;
DROP TABLE closures;
DROP TABLE staff_tokens;
