//! SQLite's process-wide setup (`db::sqlite_memory`): it takes when it runs
//! before the first connection, and the database then works as before,
//! with its memory from mimalloc.

use clinic_booking::configuration::Settings;
use clinic_booking::db::{sqlite_memory, Db};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;

#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
}

#[tokio::test]
async fn sqlite_takes_the_setup_and_still_stores_and_reads() {
    assert!(sqlite_memory::configure(), "SQLite refused the setup");
    assert!(
        sqlite_memory::configure(),
        "a second call changed the answer"
    );

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("memory.db").display());
    let settings = Settings::defaults().unwrap().database;
    let db = Db::connect(&settings, &url).unwrap();
    db.run_migrations().unwrap();
    // Rows from a few bytes to a few hundred kilobytes: SQLite allocates,
    // grows (realloc) and frees through the new allocator.
    db.write(|conn| {
        conn.batch_execute(
            "CREATE TABLE blobs (body TEXT NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO blobs SELECT printf('%.*c', i * 1000, '膝') FROM n;",
        )?;
        Ok(())
    })
    .await
    .unwrap();
    let stored: Stored = db
        .read(|conn| {
            Ok(
                diesel::sql_query("SELECT COUNT(*) AS rows, SUM(length(body)) AS bytes FROM blobs")
                    .get_result(conn)?,
            )
        })
        .await
        .unwrap();
    assert_eq!(stored.rows, 200);
    assert_eq!(stored.bytes, (1..=200).map(|i| i * 1000).sum::<i64>());
    // Memory statistics are off: SQLite counts nothing.
    assert_eq!(unsafe { libsqlite3_sys::sqlite3_memory_used() }, 0);
}
