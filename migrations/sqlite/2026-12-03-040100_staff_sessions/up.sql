-- Sessions of the staff console. A browser signed in with a staff token
-- holds a random secret in a cookie; only its SHA-256 is stored, so a copy
-- of the database opens no session. A session lives while its token does
-- (joined by `token_hash`: revoking the token ends it at once) and ends
-- after `staff.session_idle_hours` without use. `flash` holds the message
-- shown once on the page after an action. Times are UTC.
CREATE TABLE staff_sessions (
    session_hash TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    flash TEXT
);
CREATE INDEX staff_sessions_token_hash ON staff_sessions (token_hash);
CREATE INDEX staff_sessions_last_seen_at ON staff_sessions (last_seen_at);
