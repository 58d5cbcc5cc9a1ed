-- What a staff token opens: `staff` (the whole staff API) or `calendar`
-- (only the calendar feed, for calendar apps that keep the token in a URL).
-- Tokens made before scopes existed keep opening everything.
ALTER TABLE staff_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'staff'
    CHECK (scope IN ('staff', 'calendar'));
