//! Data at rest: a copy of the database (its files, or every row of it) is
//! not enough to act on a booking; messages keep no text once they cannot
//! be sent any more; what earlier versions stored in clear is sealed at the
//! next start.

use std::time::Duration;

use clinic_booking::configuration::Settings;
use clinic_booking::db::schema::{idempotency_keys, outbox, outbox_contents};
use clinic_booking::db::Db;
use clinic_booking::server_key::{Purpose, ServerKey, SEALED_PREFIX};
use diesel::prelude::*;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{
    booking_body, local, manage_token, open_day, spawn_on, Backend, TestApp, TestDatabase, TEST_KEY,
};
use smtp_sink::free_port;

pub fn open(url: &str) -> Db {
    let settings = Settings::defaults().expect("settings");
    Db::connect(&settings.database, url).expect("database")
}

/// The key an app on `database` uses: the test key on PostgreSQL, the
/// file it made beside a SQLite database.
pub fn key_of(database: &TestDatabase) -> ServerKey {
    let material = match database.url.strip_prefix("sqlite://") {
        Some(path) => {
            let path = std::path::Path::new(path).with_extension("key");
            std::fs::read_to_string(path).expect("the key file beside the database")
        }
        None => TEST_KEY.to_string(),
    };
    ServerKey::from_material(material.trim().as_bytes()).expect("key")
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// What a thief gets from a copy: on SQLite the bytes of the database file
/// and its WAL (free pages and old frames included); on PostgreSQL every
/// row of every table, as a dump would hold it.
async fn stolen_copy(database: &TestDatabase) -> String {
    if let Some(path) = database.url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).expect("database file");
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            bytes.extend(wal);
        }
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let db = open(&database.url);
    db.read(|conn| {
        let tables: Vec<Row> = diesel::sql_query(
            "SELECT table_name::text AS text FROM information_schema.tables \
             WHERE table_schema = 'public'",
        )
        .load(conn)?;
        let mut dump = String::new();
        for table in tables {
            let rows: Vec<Row> = diesel::sql_query(format!(
                "SELECT CAST(t AS TEXT) AS text FROM \"{}\" t",
                table.text
            ))
            .load(conn)?;
            for row in rows {
                dump.push_str(&row.text);
                dump.push('\n');
            }
        }
        Ok(dump)
    })
    .await
    .expect("dump")
}

async fn book_with_key(app: &TestApp, key: &str, start: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/bookings"))
        .header("Idempotency-Key", key)
        .json(&booking_body(start))
        .send()
        .await
        .expect("request")
}

/// An SMTP address nobody listens on: mail stays pending, retried.
fn dead_smtp(settings: &mut Settings) {
    settings.mail.smtp_url = format!("smtp://127.0.0.1:{}", free_port());
}

async fn a_copy_of_the_database_holds_no_manage_token_or_link(backend: Backend) {
    let database = TestDatabase::create(backend);
    // The confirmation cannot be delivered: it waits in the outbox with
    // the manage link, as it would during a mail server outage.
    let app = spawn_on(database.clone(), dead_smtp).await;
    let start = local(open_day(3), "10:00");
    let response = book_with_key(&app, "stolen-1", &start).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let token = manage_token(&booking);
    let manage_url = booking["manage_url"].as_str().unwrap().to_string();
    let db = open(&database.url);
    let pending: i64 = db
        .read(|conn| Ok(outbox_contents::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert!(pending >= 1, "the confirmation waits in the outbox");

    let copy = stolen_copy(&database).await;
    assert!(
        copy.contains(booking["reference"].as_str().unwrap()),
        "the copy is a real one"
    );
    assert!(!copy.contains(&token), "the manage token is readable");
    assert!(!copy.contains("token="), "a manage link is readable");

    // An idempotent retry still gets the first answer, link included.
    let again = book_with_key(&app, "stolen-1", &start).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["manage_url"], manage_url.as_str());
    assert_eq!(again, booking);
}

/// Polls until every message of `reference` has left `pending`.
async fn settled(db: &Db, reference: &str, expected: usize) -> Vec<(i64, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let wanted = reference.to_string();
        let rows: Vec<(i64, String)> = db
            .read(move |conn| {
                Ok(outbox::table
                    .filter(outbox::reference.eq(wanted))
                    .filter(outbox::kind.ne("booking_reminder"))
                    .select((outbox::id, outbox::status))
                    .load(conn)?)
            })
            .await
            .unwrap();
        if rows.len() == expected && rows.iter().all(|(_, status)| status != "pending") {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still pending: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn contents_of(db: &Db, ids: Vec<i64>) -> Vec<(i64, String, Option<String>)> {
    db.read(move |conn| {
        Ok(outbox_contents::table
            .filter(outbox_contents::outbox_id.eq_any(ids))
            .select((
                outbox_contents::outbox_id,
                outbox_contents::body,
                outbox_contents::ics,
            ))
            .load(conn)?)
    })
    .await
    .unwrap()
}

/// The ids of `reference`'s messages of `kind`.
async fn messages_of(db: &Db, reference: &str, kind: &str) -> Vec<(i64, String)> {
    let (reference, kind) = (reference.to_string(), kind.to_string());
    db.read(move |conn| {
        Ok(outbox::table
            .filter(outbox::reference.eq(reference))
            .filter(outbox::kind.eq(kind))
            .select((outbox::id, outbox::status))
            .load(conn)?)
    })
    .await
    .unwrap()
}

/// A message keeps its text, sealed, only while it may still be sent:
/// waiting, or failed (staff may send it again); sent or withdrawn, none.
async fn a_message_keeps_its_text_sealed_only_while_it_may_still_be_sent(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |settings| {
        settings.mail.max_attempts_permanent = 1;
    })
    .await;
    let db = open(&database.url);
    let key = key_of(&database);
    let first = app.book(&local(open_day(3), "10:00")).await;
    let sent = first["reference"].as_str().unwrap().to_string();
    let ids: Vec<i64> = settled(&db, &sent, 2)
        .await
        .into_iter()
        .map(|(id, status)| {
            assert_eq!(status, "sent");
            id
        })
        .collect();
    assert!(
        contents_of(&db, ids).await.is_empty(),
        "sent mail keeps text"
    );

    app.mail.reject_with_550();
    let second = app.book(&local(open_day(3), "11:00")).await;
    let failed = second["reference"].as_str().unwrap().to_string();
    let ids: Vec<i64> = settled(&db, &failed, 2)
        .await
        .into_iter()
        .map(|(id, status)| {
            assert_eq!(status, "failed");
            id
        })
        .collect();
    let kept = contents_of(&db, ids).await;
    assert_eq!(kept.len(), 2, "a failed message can be sent again");
    let token = manage_token(&second);
    let mut texts = String::new();
    for (_, body, ics) in &kept {
        assert!(body.starts_with(SEALED_PREFIX), "{body}");
        assert!(ics
            .as_ref()
            .is_none_or(|ics| ics.starts_with(SEALED_PREFIX)));
        texts.push_str(&key.open(Purpose::MailBody, body).unwrap());
    }
    assert!(texts.contains(&token), "the confirmation, link included");

    // A reminder keeps no text while it waits for its day: it is written
    // when it is due. Cancelling withdraws it.
    app.mail.accept_again();
    let reminder = messages_of(&db, &sent, "booking_reminder").await;
    assert_eq!(reminder.len(), 1);
    assert!(contents_of(&db, vec![reminder[0].0]).await.is_empty());
    let waiting = messages_of(&db, &failed, "booking_reminder").await;
    assert_eq!(waiting[0].1, "pending");
    assert!(contents_of(&db, vec![waiting[0].0]).await.is_empty());
    let cancelled = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{sent}/cancel")))
        .bearer_auth(manage_token(&first))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert_eq!(
        messages_of(&db, &sent, "booking_reminder").await[0].1,
        "cancelled"
    );
}

/// What versions before sealing left in clear (a remembered answer with
/// its manage link, a confirmation waiting to be sent) is sealed at the
/// next start, and still serves: the retry gets the first answer, the
/// confirmation goes out with its link.
async fn what_an_earlier_version_stored_in_clear_is_sealed_at_the_next_start(backend: Backend) {
    let database = TestDatabase::create(backend);
    let first = spawn_on(database.clone(), dead_smtp).await;
    let start = local(open_day(3), "10:00");
    let response = book_with_key(&first, "legacy-1", &start).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let reference = booking["reference"].as_str().unwrap().to_string();
    let token = manage_token(&booking);
    first.stop().await;
    // Stored the way an earlier version stored them: in clear.
    let key = key_of(&database);
    let db = open(&database.url);
    db.write(move |conn| {
        let answers: Vec<(String, String, String)> = idempotency_keys::table
            .select((
                idempotency_keys::scope,
                idempotency_keys::idempotency_key,
                idempotency_keys::response_body,
            ))
            .load(conn)?;
        for (scope, id, body) in answers {
            let clear = key.open(Purpose::StoredAnswer, &body).unwrap().into_owned();
            diesel::update(idempotency_keys::table.find((scope, id)))
                .set(idempotency_keys::response_body.eq(clear))
                .execute(conn)?;
        }
        let messages: Vec<(i64, String)> = outbox_contents::table
            .select((outbox_contents::outbox_id, outbox_contents::body))
            .load(conn)?;
        for (id, body) in messages {
            let clear = key.open(Purpose::MailBody, &body).unwrap().into_owned();
            diesel::update(outbox_contents::table.find(id))
                .set(outbox_contents::body.eq(clear))
                .execute(conn)?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let clear = |db: &Db| {
        let db = db.clone();
        async move {
            db.read(|conn| {
                let answers: Vec<String> = idempotency_keys::table
                    .select(idempotency_keys::response_body)
                    .load(conn)?;
                let bodies: Vec<String> = outbox_contents::table
                    .select(outbox_contents::body)
                    .load(conn)?;
                Ok(answers
                    .into_iter()
                    .chain(bodies)
                    .filter(|text| !text.starts_with(SEALED_PREFIX))
                    .count())
            })
            .await
            .unwrap()
        }
    };
    assert!(
        clear(&db).await >= 2,
        "the earlier version's rows are in clear"
    );

    let second = spawn_on(database.clone(), |_| {}).await;
    let replayed = book_with_key(&second, "legacy-1", &start).await;
    assert_eq!(replayed.status(), 201);
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed, booking);
    let confirmation = second
        .mail
        .wait_for(1, Duration::from_secs(15), |mail| {
            mail.is_to("taro@example.jp")
        })
        .await;
    assert!(
        confirmation[0].text().contains(&token),
        "the confirmation still carries its link"
    );
    assert_eq!(clear(&db).await, 0, "nothing stays in clear");
    assert!(!stolen_rows_hold(&db, &token).await);
    assert!(second
        .get(&format!("/api/v1/bookings/{reference}?token={token}"))
        .await
        .status()
        .is_success());
}

/// Whether any stored answer or message text holds `needle` in clear.
async fn stolen_rows_hold(db: &Db, needle: &str) -> bool {
    let needle = needle.to_string();
    db.read(move |conn| {
        let answers: Vec<String> = idempotency_keys::table
            .select(idempotency_keys::response_body)
            .load(conn)?;
        let bodies: Vec<String> = outbox_contents::table
            .select(outbox_contents::body)
            .load(conn)?;
        Ok(answers.iter().chain(&bodies).any(|t| t.contains(&needle)))
    })
    .await
    .unwrap()
}

/// Files and folders under `root`, with their permission bits.
fn modes_under(root: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push((path, mode));
        }
    }
    found
}

/// The database (and its WAL), the key file and the `.eml` mail are made
/// readable by the service's user only, in folders of mode 0700, whatever
/// the umask (this test process's is the usual 022).
async fn everything_the_service_writes_is_readable_by_its_owner_only(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("srv/data");
    let database = match backend {
        Backend::Sqlite => TestDatabase::sqlite_at(data.join("clinic.db")),
        Backend::Postgres => TestDatabase::create(backend),
    };
    let mail_dir = data.join("mail");
    let file_dir = mail_dir.display().to_string();
    let app = spawn_on(database.clone(), move |settings| {
        settings.mail.smtp_url = String::new();
        settings.mail.file_dir = file_dir;
    })
    .await;
    app.book(&local(open_day(3), "10:00")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::fs::read_dir(&mail_dir).map_or(0, |dir| dir.count()) < 2 {
        assert!(std::time::Instant::now() < deadline, "no mail files");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut written = modes_under(&root.path().join("srv"));
    written.push((root.path().join("srv"), {
        std::fs::metadata(root.path().join("srv"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }));
    let names: Vec<String> = written
        .iter()
        .map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().filter(|n| n.ends_with(".eml")).count() >= 2);
    if backend == Backend::Sqlite {
        for expected in ["clinic.db", "clinic.db-wal", "clinic.db-shm", "clinic.key"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
    }
    for (path, mode) in &written {
        let wanted = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, wanted, "{} is {mode:o}", path.display());
    }
    app.stop().await;

    // A database an earlier version left readable to others is made private.
    if backend == Backend::Sqlite {
        let file = data.join("clinic.db");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _again = spawn_on(database.clone(), |_| {}).await;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

backend_tests!(
    everything_the_service_writes_is_readable_by_its_owner_only,
    a_copy_of_the_database_holds_no_manage_token_or_link,
    a_message_keeps_its_text_sealed_only_while_it_may_still_be_sent,
    what_an_earlier_version_stored_in_clear_is_sealed_at_the_next_start,
);
