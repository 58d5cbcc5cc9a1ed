DROP TABLE outbox;
DROP TABLE inquiries;
