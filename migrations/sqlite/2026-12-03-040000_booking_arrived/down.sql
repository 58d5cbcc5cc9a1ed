-- A patient checked in is, for the older schema, still expected.
UPDATE bookings SET status = 'confirmed' WHERE status = 'arrived';
ALTER TABLE bookings DROP COLUMN arrived_at;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''completed'', ''no_show'', ''arrived'')', '''completed'', ''no_show'')')
 WHERE type = 'table' AND name = 'bookings';
PRAGMA writable_schema = RESET;
CREATE INDEX arrived_reload ON bookings (status);
DROP INDEX arrived_reload;
