-- The answers to a booking's intake questionnaire (Web問診): health data,
-- at most one row per booking, written when the patient answers (with the
-- booking, or later through the manage link) and deleted when the
-- booking's personal data is erased or purged. A booking of a type with a
-- questionnaire and no row here is still to be answered. Existing bookings
-- have none.
CREATE TABLE questionnaire_answers (
    booking_reference TEXT PRIMARY KEY REFERENCES bookings (reference) ON DELETE CASCADE,
    questionnaire_id TEXT NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    -- A JSON object: question id -> answer.
    answers TEXT NOT NULL,
    answered_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
