DROP INDEX inquiries_to_purge;
DROP INDEX bookings_to_purge;
