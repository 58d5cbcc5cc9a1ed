-- The texts deleted on the way up are gone for good.
DROP INDEX open_inquiries_to_purge;
