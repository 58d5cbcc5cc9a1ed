//! The tables, as diesel sees them (the same on SQLite and PostgreSQL).

diesel::table! {
    bookings (reference) {
        reference -> Text,
        manage_token_hash -> Text,
        status -> Text,
        type_code -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        name -> Text,
        name_kana -> Nullable<Text>,
        email -> Text,
        phone -> Text,
        first_visit -> Nullable<Bool>,
        message -> Nullable<Text>,
        source -> Nullable<Text>,
        staff_note -> Nullable<Text>,
        consent_at -> Timestamp,
        consent_version -> Text,
        sequence -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        practitioner -> Nullable<Text>,
        /// `domain::mailbox_key` of `email`; `NULL` once erased.
        mailbox_hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// A practitioner's or room's grid slot (or a type's daily place),
    /// claimed by a booking or held by a waiting-list offer (exactly one of
    /// the two).
    resource_claims (resource_code, slot_start) {
        resource_code -> Text,
        slot_start -> Timestamp,
        booking_reference -> Nullable<Text>,
        offer_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// A seat of a grid slot, claimed by a booking or held by a waiting
    /// list offer (exactly one of the two).
    slot_claims (slot_start, seat) {
        slot_start -> Timestamp,
        seat -> Integer,
        booking_reference -> Nullable<Text>,
        offer_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotency_keys (scope, idempotency_key) {
        scope -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        location -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(slot_claims -> bookings (booking_reference));
diesel::joinable!(resource_claims -> bookings (booking_reference));
diesel::allow_tables_to_appear_in_same_query!(
    bookings,
    slot_claims,
    idempotency_keys,
    resource_claims
);

diesel::table! {
    inquiries (reference) {
        reference -> Text,
        status -> Text,
        category -> Text,
        name -> Text,
        email -> Text,
        phone -> Nullable<Text>,
        message -> Text,
        source -> Nullable<Text>,
        staff_note -> Nullable<Text>,
        consent_at -> Timestamp,
        consent_version -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        audience -> Text,
        reference -> Text,
        recipient -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        /// `domain::mailbox_key` of a patient's `recipient`; `NULL` for
        /// the clinic's copies and for reminders (the mail cap does not
        /// count them).
        recipient_key -> Nullable<Text>,
    }
}

diesel::table! {
    /// What a message says; written once beside its `outbox` row.
    outbox_contents (outbox_id) {
        outbox_id -> BigInt,
        subject -> Text,
        body -> Text,
        ics -> Nullable<Text>,
    }
}

diesel::table! {
    staff_tokens (label) {
        label -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        scope -> Text,
    }
}

diesel::table! {
    closures (id) {
        id -> Integer,
        closed_date -> Nullable<Date>,
        start_at -> Timestamp,
        end_at -> Timestamp,
        reason -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        resource -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Integer,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        reference -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

/// Status history of a booking (beside `created_at` and `cancelled_at`).
pub mod booking_status_times {
    diesel::table! {
        bookings (reference) {
            reference -> Text,
            confirmed_at -> Nullable<Timestamp>,
            arrived_at -> Nullable<Timestamp>,
            completed_at -> Nullable<Timestamp>,
            no_show_at -> Nullable<Timestamp>,
        }
    }
}

diesel::table! {
    /// Signed-in staff console browsers (hashes of their cookies only).
    staff_sessions (session_hash) {
        session_hash -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        flash -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(staff_sessions, staff_tokens);

diesel::table! {
    /// One webhook message to one receiver (see `db::webhooks`).
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> Text,
        event_type -> Text,
        reference -> Text,
        url -> Text,
        body -> Text,
        personal_data -> Bool,
        status -> Text,
        attempts -> Integer,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        retry_until -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// A booking's intake questionnaire answers (health data).
    questionnaire_answers (booking_reference) {
        booking_reference -> Text,
        questionnaire_id -> Text,
        questionnaire_version -> Integer,
        /// A JSON object: question id -> answer.
        answers -> Text,
        answered_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// A patient waiting for a seat on one day (see `db::waitlist`).
    waitlist_entries (reference) {
        reference -> Text,
        manage_token_hash -> Text,
        status -> Text,
        type_code -> Text,
        wanted_date -> Date,
        from_time -> Nullable<Text>,
        to_time -> Nullable<Text>,
        practitioner -> Nullable<Text>,
        name -> Text,
        name_kana -> Nullable<Text>,
        email -> Text,
        phone -> Text,
        mailbox_hash -> Nullable<Text>,
        consent_at -> Timestamp,
        consent_version -> Text,
        offers_made -> Integer,
        booking_reference -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// A freed start offered to one entry, its seats held while `held`.
    waitlist_offers (id) {
        id -> BigInt,
        entry_reference -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        status -> Text,
        token_hash -> Text,
        offered_at -> Timestamp,
        expires_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Freed time to offer to the waiting list (the waitlist worker's queue).
    waitlist_jobs (id) {
        id -> BigInt,
        start_at -> Timestamp,
        end_at -> Timestamp,
        due_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::joinable!(waitlist_offers -> waitlist_entries (entry_reference));
diesel::allow_tables_to_appear_in_same_query!(waitlist_entries, waitlist_offers, slot_claims);
