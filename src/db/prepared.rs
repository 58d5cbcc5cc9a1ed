//! Statements PostgreSQL keeps prepared where diesel would send them afresh.
//!
//! diesel keeps a statement prepared on its connection when it knows the
//! statement's text cannot take unboundedly many forms. It does not keep a
//! multi-row INSERT (the text changes with the number of rows), an INSERT
//! that writes `DEFAULT` for a missing value, or a hand-written query (the
//! text might have been built from values). PostgreSQL then parses and
//! plans such a statement every time it runs.
//!
//! The row structs avoid the second kind: they are `Insertable` with
//! `treat_none_as_default_value = false`, so a missing value is written as
//! NULL (no column they write has another default).
//!
//! [`KeepPrepared`] is for the statements of that kind that a booking
//! sends, whose text takes a few forms only: each form is prepared once
//! per connection, found again by its text as diesel finds any statement
//! it has no type for. Never wrap a query whose text is built from values.
//!
//! Read what the statement returns (`load`, `get_results`), with a
//! `RETURNING` clause for a write: diesel's `execute` takes the statement
//! by reference and asks the query inside whether it may be kept, which
//! says no.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `query`, kept prepared on the PostgreSQL connection (see the module).
#[derive(Debug, Clone, Copy)]
pub struct KeepPrepared<Q>(pub Q);

impl<Q> QueryId for KeepPrepared<Q> {
    type QueryId = ();
    // The text, not the type, tells the forms apart.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for KeepPrepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for KeepPrepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for KeepPrepared<Q> {}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::pg::Pg;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Integer, Text};

    use super::KeepPrepared;

    diesel::table! {
        kept (n) {
            n -> Integer,
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[derive(QueryableByName)]
    struct Written {
        #[diesel(sql_type = Integer)]
        n: i32,
    }

    /// How many statements with exactly this text the connection keeps.
    fn prepared(conn: &mut PgConnection, text: &str) -> i64 {
        diesel::sql_query("SELECT COUNT(*) AS n FROM pg_prepared_statements WHERE statement = $1")
            .bind::<Text, _>(text)
            .get_result::<Count>(conn)
            .unwrap()
            .n
    }

    #[test]
    fn wrapped_statements_are_prepared_once_per_connection() {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            return;
        };
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.batch_execute("CREATE TEMPORARY TABLE kept (n INTEGER NOT NULL)")
            .unwrap();
        const BY_HAND: &str = "INSERT INTO kept (n) VALUES ($1) RETURNING n";
        const UNWRAPPED: &str = "INSERT INTO kept (n) VALUES ($1)";
        let two_rows = |n: i32| {
            diesel::insert_into(kept::table)
                .values(vec![kept::n.eq(n), kept::n.eq(n + 10)])
                .returning(kept::n)
        };
        for n in 0..3 {
            let rows: Vec<i32> = KeepPrepared(two_rows(n)).get_results(&mut conn).unwrap();
            assert_eq!(rows.len(), 2);
            let row: Vec<Written> = KeepPrepared(diesel::sql_query(BY_HAND).bind::<Integer, _>(n))
                .load(&mut conn)
                .unwrap();
            assert_eq!(row[0].n, n);
            diesel::sql_query(UNWRAPPED)
                .bind::<Integer, _>(n)
                .execute(&mut conn)
                .unwrap();
        }
        let two_rows_text = diesel::debug_query::<Pg, _>(&two_rows(0)).to_string();
        let two_rows_text = two_rows_text.split(" -- binds").next().unwrap();
        assert_eq!(prepared(&mut conn, two_rows_text), 1);
        assert_eq!(prepared(&mut conn, BY_HAND), 1);
        assert_eq!(prepared(&mut conn, UNWRAPPED), 0);
    }
}
