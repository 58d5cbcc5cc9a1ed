-- Bookings gain the status `arrived` (受付済: the patient is in), and the
-- time it was reached beside the other status times. Times are UTC.
--
-- SQLite cannot alter a CHECK constraint. Rebuilding the table would need
-- foreign keys off (slot_claims cascades from it), which a migration's
-- transaction cannot switch, and would have to list every column. A check
-- that only allows one more value changes nothing stored, so the stored
-- definition is edited in place (the procedure SQLite documents for
-- loosening constraints); RESET reloads this connection's schema, and the
-- ALTER after it bumps the schema version so every other connection
-- reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''completed'', ''no_show'')', '''completed'', ''no_show'', ''arrived'')')
 WHERE type = 'table' AND name = 'bookings';
PRAGMA writable_schema = RESET;
-- Fails the migration (and rolls it back) if the definition did not read
-- as expected, rather than carrying on with the old check.
CREATE TEMP TABLE arrived_check (edited INTEGER NOT NULL CHECK (edited = 1));
INSERT INTO arrived_check
SELECT instr(sql, '''no_show'', ''arrived''') > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'bookings';
DROP TABLE arrived_check;
ALTER TABLE bookings ADD COLUMN arrived_at TIMESTAMP;
