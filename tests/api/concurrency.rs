use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::{
    booking_body, local, manage_token, open_day, spawn_app, spawn_on, Backend, TestApp,
    TestDatabase,
};

/// Fires `count` bookings for one start at once, spread over `apps`, and
/// returns how many got each status.
async fn race(apps: &[&TestApp], start: &str, count: usize) -> BTreeMap<u16, usize> {
    let requests = (0..count).map(|i| {
        let app = apps[i % apps.len()];
        let mut body = booking_body(start);
        body["email"] = json!(format!("patient{i}@example.jp"));
        async move { app.post_booking(&body).await.status().as_u16() }
    });
    let mut tally = BTreeMap::new();
    for status in futures_util::future::join_all(requests).await {
        *tally.entry(status).or_insert(0) += 1;
    }
    tally
}

async fn fifty_concurrent_requests_for_one_slot_make_exactly_one_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let tally = race(&[&app], &local(open_day(3), "10:00"), 50).await;
    assert_eq!(tally, BTreeMap::from([(201, 1), (409, 49)]));
}

async fn bookings_survive_a_restart(backend: Backend) {
    let db = TestDatabase::create(backend);
    let first = spawn_on(db.clone(), |_| {}).await;
    let day = open_day(3);
    let mut made = Vec::new();
    for time in ["10:00", "11:00", "12:00"] {
        made.push(first.book(&local(day, time)).await);
    }
    first.stop().await;
    drop(first);
    let second = spawn_on(db, |_| {}).await;
    for booking in &made {
        let reference = booking["reference"].as_str().unwrap();
        let response = second
            .get(&format!(
                "/api/v1/bookings/{reference}?token={}",
                manage_token(booking)
            ))
            .await;
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["start"], booking["start"]);
        assert_eq!(seen["status"], "confirmed");
    }
    assert!(!second.slot_available(day, &format!("{day}T11:00")).await);
}

/// A statement that loses a unique race (a seat, a reference, a label)
/// fails alone: what the same transaction did before and does after is
/// committed. (PostgreSQL needs a savepoint for that, SQLite does not.)
async fn a_lost_unique_race_leaves_the_rest_of_its_transaction_intact(backend: Backend) {
    use clinic_booking::db::staff_tokens::{self, StaffTokenRow};
    let (_test_db, db) = TestDatabase::migrated(backend);
    let token = |label: &str| StaffTokenRow {
        label: label.into(),
        token_hash: format!("hash-of-{label}"),
        created_at: chrono::Utc::now().naive_utc(),
        last_used_at: None,
        scope: "staff".into(),
    };
    let outcomes = db
        .write(move |conn| {
            Ok(vec![
                staff_tokens::insert(conn, &token("reception"))?,
                staff_tokens::insert(conn, &token("reception"))?,
                staff_tokens::insert(conn, &token("tablet"))?,
            ])
        })
        .await
        .unwrap();
    assert_eq!(outcomes, vec![true, false, true]);
    let mut conn = db.connection().unwrap();
    let labels: Vec<String> = staff_tokens::list(&mut conn)
        .unwrap()
        .into_iter()
        .map(|t| t.label)
        .collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels.contains(&"reception".to_string()) && labels.contains(&"tablet".to_string()));
}

crate::backend_tests!(
    fifty_concurrent_requests_for_one_slot_make_exactly_one_booking,
    bookings_survive_a_restart,
    a_lost_unique_race_leaves_the_rest_of_its_transaction_intact,
    a_booking_whose_drafted_reference_is_taken_is_stored_under_another;
    postgres_only:
    two_instances_sharing_postgres_never_overbook_a_single_seat,
    two_instances_sharing_postgres_never_overbook_two_seats,
);

/// A new booking's reference is drawn before its transaction (so that its
/// emails can be written outside it); if another booking took it meanwhile,
/// the booking is stored under a fresh one instead of failing.
async fn a_booking_whose_drafted_reference_is_taken_is_stored_under_another(backend: Backend) {
    use clinic_booking::db::bookings;
    use clinic_booking::domain::{Fields, NewBooking};
    use clinic_booking::schedule::ClinicCalendar;
    let (_test_db, db) = TestDatabase::migrated(backend);
    let settings = clinic_booking::configuration::Settings::defaults().unwrap();
    let calendar = ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap();
    let now = chrono::Utc::now();
    let draft = |time: &str| {
        let body = booking_body(&local(open_day(3), time));
        let fields = Fields::from_json_object(body.as_object().unwrap().clone());
        let booking = NewBooking::parse(&fields, &calendar, now).expect("a valid booking");
        let slots = calendar.covered_slots(booking.start.at(), &booking.kind);
        let row = bookings::draft(&booking, "hash".into(), "2026-11-01", now.naive_utc());
        (row, slots)
    };
    let (mut first, first_slots) = draft("10:00");
    let (mut second, second_slots) = draft("11:00");
    second.reference = first.reference.clone();
    let capacity = calendar.capacity_per_slot();
    let (first, second) = db
        .write(move |conn| {
            bookings::insert(conn, &mut first, &first_slots, capacity)?;
            bookings::insert(conn, &mut second, &second_slots, capacity)?;
            Ok((first, second))
        })
        .await
        .unwrap();
    assert_ne!(first.reference, second.reference);
    let mut conn = db.connection().unwrap();
    for row in [&first, &second] {
        let stored = bookings::find(&mut conn, &row.reference).unwrap().unwrap();
        assert_eq!(stored.start_at, row.start_at);
    }
}

async fn two_instances_on_one_postgres_database(capacity: u32) {
    let db = TestDatabase::create(Backend::Postgres);
    let set_capacity =
        |s: &mut clinic_booking::configuration::Settings| s.schedule.capacity_per_slot = capacity;
    let one = spawn_on(db.clone(), set_capacity).await;
    let two = spawn_on(db, set_capacity).await;
    let tally = race(&[&one, &two], &local(open_day(3), "10:00"), 50).await;
    let capacity = capacity as usize;
    assert_eq!(
        tally,
        BTreeMap::from([(201, capacity), (409, 50 - capacity)])
    );
}

async fn two_instances_sharing_postgres_never_overbook_a_single_seat() {
    two_instances_on_one_postgres_database(1).await;
}

async fn two_instances_sharing_postgres_never_overbook_two_seats() {
    two_instances_on_one_postgres_database(2).await;
}
