//! Usage ingestion: every event counted exactly once into hourly, daily and monthly rollups of
//! the account's offset; a bad event never sinks the batch. Rollups are read from their tables
//! here; `reads.rs` reads them through the API.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use time::macros::datetime;

use crate::db_test;
use crate::helpers::TestApp;

struct Setup {
    account: String,
    project: String,
    token: String,
}

async fn setup(app: &TestApp, offset: &str) -> Setup {
    let admin = app.admin_token();
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": "Acme", "currency": "KRW", "billing_utc_offset": offset}),
        )
        .await;
    let account = resp.body["id"].as_str().unwrap().to_owned();
    let project = app.create_project(&account, "Production").await;
    app.create_product("api_calls", "call", "sum").await;
    let token = app.usage_token(&account);
    Setup {
        account,
        project,
        token,
    }
}

fn ev(id: &str, project: &str, product: &str, quantity: &str, timestamp: &str) -> Value {
    json!({"id": id, "project_id": project, "product": product, "quantity": quantity, "timestamp": timestamp})
}

async fn ingest(app: &TestApp, s: &Setup, events: Vec<Value>) -> crate::helpers::Resp {
    app.post(
        &format!("/v1/accounts/{}/usage-events", s.account),
        &s.token,
        json!({"events": events}),
    )
    .await
}

/// (bucket_start as RFC 3339, sum, max, latest, count) of every rollup, by bucket.
async fn rollups(app: &TestApp) -> Vec<(String, i64, i64, i64, i64)> {
    rollups_in(app, "usage_rollups", "bucket_start").await
}

async fn daily_rollups(app: &TestApp) -> Vec<(String, i64, i64, i64, i64)> {
    rollups_in(app, "usage_daily_rollups", "day_start").await
}

async fn rollups_in(app: &TestApp, table: &str, bucket: &str) -> Vec<(String, i64, i64, i64, i64)> {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all(Statement::from_string(
            backend,
            format!("SELECT {bucket}, sum_micros, max_micros, latest_micros, event_count FROM {table} ORDER BY {bucket}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let bucket: time::OffsetDateTime = r.try_get("", bucket).unwrap();
            (
                bucket
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
                r.try_get("", "sum_micros").unwrap(),
                r.try_get("", "max_micros").unwrap(),
                r.try_get("", "latest_micros").unwrap(),
                r.try_get("", "event_count").unwrap(),
            )
        })
        .collect()
}

/// Each event's status and reason, in order.
fn outcomes(resp: &crate::helpers::Resp) -> Vec<(String, Option<String>)> {
    statuses(resp)
        .into_iter()
        .map(|(_, status, reason)| (status, reason))
        .collect()
}

/// A batch of three whose first and last pass the largest quantity.
fn refused_accepted_refused() -> Vec<(String, Option<String>)> {
    let refused = (
        "rejected".to_owned(),
        Some("quantity_out_of_range".to_owned()),
    );
    vec![refused.clone(), ("accepted".to_owned(), None), refused]
}

/// The month rollups: (period, sum, max, latest, count), by period.
async fn monthly_rollups(app: &TestApp) -> Vec<(String, i64, i64, i64, i64)> {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all(Statement::from_string(
            backend,
            "SELECT period, sum_micros, max_micros, latest_micros, event_count \
             FROM usage_monthly_rollups ORDER BY period",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "period").unwrap(),
                r.try_get("", "sum_micros").unwrap(),
                r.try_get("", "max_micros").unwrap(),
                r.try_get("", "latest_micros").unwrap(),
                r.try_get("", "event_count").unwrap(),
            )
        })
        .collect()
}

async fn stored_events(app: &TestApp) -> i64 {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM usage_events",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

fn statuses(resp: &crate::helpers::Resp) -> Vec<(String, String, Option<String>)> {
    resp.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

db_test!(
    each_event_is_counted_once_and_bad_ones_alone_are_refused,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 +09:00));
        let s = setup(app, "+09:00").await;
        let other_account = app.create_account("Other", "KRW").await;
        let foreign_project = app.create_project(&other_account, "Theirs").await;
        let p = s.project.as_str();
        let batch = vec![
            ev("e1", p, "api_calls", "100", "2026-11-23T10:15:00+09:00"),
            ev("e2", p, "api_calls", "20.5", "2026-11-23T10:45:00+09:00"),
            ev("e1", p, "api_calls", "100", "2026-11-23T10:15:00+09:00"),
            ev("e3", p, "api_calls", "-5", "2026-11-23T10:00:00+09:00"),
            ev("e4", p, "api_calls", "1e3", "2026-11-23T10:00:00+09:00"),
            ev("e5", p, "sms", "1", "2026-11-23T10:00:00+09:00"),
            ev(
                "e6",
                &foreign_project,
                "api_calls",
                "1",
                "2026-11-23T10:00:00+09:00",
            ),
            ev("e7", p, "api_calls", "1", "2026-11-23T12:05:01+09:00"),
            ev(
                "has space",
                p,
                "api_calls",
                "1",
                "2026-11-23T10:00:00+09:00",
            ),
        ];
        let resp = ingest(app, &s, batch.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            (
                resp.body["accepted"].clone(),
                resp.body["duplicates"].clone(),
                resp.body["rejected"].clone()
            ),
            (json!(2), json!(1), json!(6))
        );
        let s_ =
            |a: &str, b: &str, c: Option<&str>| (a.to_owned(), b.to_owned(), c.map(str::to_owned));
        assert_eq!(
            statuses(&resp),
            vec![
                s_("e1", "accepted", None),
                s_("e2", "accepted", None),
                s_("e1", "duplicate", None),
                s_("e3", "rejected", Some("negative_quantity")),
                s_("e4", "rejected", Some("invalid_quantity")),
                s_("e5", "rejected", Some("unknown_product")),
                s_("e6", "rejected", Some("unknown_project")),
                s_("e7", "rejected", Some("future_timestamp")),
                s_("has space", "rejected", Some("invalid_id")),
            ]
        );
        // One bucket, 10:00+09:00 = 01:00Z: 100 + 20.5 = 120.5 ; max 100 ; latest (10:45) 20.5 ; 2 events
        let expected = vec![(
            "2026-11-23T01:00:00Z".to_owned(),
            120_500_000,
            100_000_000,
            20_500_000,
            2,
        )];
        assert_eq!(rollups(app).await, expected);

        // Retrying the whole batch counts nothing twice.
        let retry = ingest(app, &s, batch).await;
        assert_eq!(
            (
                retry.body["accepted"].clone(),
                retry.body["duplicates"].clone(),
                retry.body["rejected"].clone()
            ),
            (json!(0), json!(3), json!(6))
        );
        assert_eq!(rollups(app).await, expected);
        assert_eq!(stored_events(app).await, 2);

        // A later event in the same hour updates the latest value and the sum.
        let resp = ingest(
            app,
            &s,
            vec![ev(
                "e8",
                p,
                "api_calls",
                "0.000001",
                "2026-11-23T10:59:59.999999+09:00",
            )],
        )
        .await;
        assert_eq!(resp.body["accepted"], 1);
        // 120.5 + 0.000001 = 120.500001 ; latest 0.000001
        assert_eq!(
            rollups(app).await,
            vec![(
                "2026-11-23T01:00:00Z".to_owned(),
                120_500_001,
                100_000_000,
                1,
                3
            )]
        );
    }
);

db_test!(
    a_stored_event_at_the_end_of_a_batch_leaves_the_new_ones_counted_once,
    async |app: &TestApp| {
        // On PostgreSQL a batch is first inserted without looking for stored ids; an id stored
        // already fails that insert after the new rows before it went in. Those rows and their
        // rollups must be rolled back, and the batch counted once the careful way.
        let s = setup(app, "+00:00").await;
        let p = s.project.as_str();
        let first = ingest(
            app,
            &s,
            vec![ev("old", p, "api_calls", "7", "2026-11-23T01:10:00Z")],
        )
        .await;
        assert_eq!(first.body["accepted"], 1, "{}", first.body);
        let mut batch: Vec<Value> = (0..50)
            .map(|i| {
                ev(
                    &format!("new-{i}"),
                    p,
                    "api_calls",
                    "1",
                    "2026-11-23T01:20:00Z",
                )
            })
            .collect();
        batch.push(ev("old", p, "api_calls", "7", "2026-11-23T01:10:00Z"));
        let resp = ingest(app, &s, batch).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            (
                resp.body["accepted"].clone(),
                resp.body["duplicates"].clone(),
                resp.body["rejected"].clone()
            ),
            (json!(50), json!(1), json!(0))
        );
        let last = statuses(&resp).pop().unwrap();
        assert_eq!(last, ("old".to_owned(), "duplicate".to_owned(), None));
        // 7 + 50 x 1 in the 01:00 hour and in the day, 51 events, each once.
        assert_eq!(
            rollups(app).await,
            vec![(
                "2026-11-23T01:00:00Z".to_owned(),
                57_000_000,
                7_000_000,
                1_000_000,
                51
            )]
        );
        assert_eq!(
            daily_rollups(app).await,
            vec![(
                "2026-11-23T00:00:00Z".to_owned(),
                57_000_000,
                7_000_000,
                1_000_000,
                51
            )]
        );
        assert_eq!(stored_events(app).await, 51);
    }
);

db_test!(
    hours_and_days_follow_an_offset_of_five_and_a_half_hours,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-12-01 12:00 UTC));
        let s = setup(app, "+05:30").await;
        let p = s.project.as_str();
        let resp = ingest(
            app,
            &s,
            vec![
                // 23:59:59 local on Nov 30 and 00:00:00 local on Dec 1: two buckets, two periods.
                ev("a", p, "api_calls", "1", "2026-11-30T18:29:59Z"),
                ev("b", p, "api_calls", "2", "2026-11-30T18:30:00Z"),
                ev("c", p, "api_calls", "4", "2026-12-01T00:59:59+05:30"),
            ],
        )
        .await;
        assert_eq!(resp.body["accepted"], 3, "{}", resp.body);
        assert_eq!(
            rollups(app).await,
            vec![
                (
                    "2026-11-30T17:30:00Z".to_owned(),
                    1_000_000,
                    1_000_000,
                    1_000_000,
                    1
                ),
                // 2 + 4 = 6 in the first local hour of December
                (
                    "2026-11-30T18:30:00Z".to_owned(),
                    6_000_000,
                    4_000_000,
                    4_000_000,
                    2
                ),
            ]
        );
        // Days start at the local midnight: 18:30 UTC.
        assert_eq!(
            daily_rollups(app).await,
            vec![
                (
                    "2026-11-29T18:30:00Z".to_owned(),
                    1_000_000,
                    1_000_000,
                    1_000_000,
                    1
                ),
                (
                    "2026-11-30T18:30:00Z".to_owned(),
                    6_000_000,
                    4_000_000,
                    4_000_000,
                    2
                ),
            ]
        );
    }
);

db_test!(
    a_day_never_passes_its_exact_maximum,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let s = setup(app, "+00:00").await;
        let p = s.project.as_str();
        // The last day of October: the next day is another month, whose rollup is empty too.
        let resp = ingest(
            app,
            &s,
            vec![ev(
                "max",
                p,
                "api_calls",
                "9223372036854.775807",
                "2026-10-31T10:00:00Z",
            )],
        )
        .await;
        assert_eq!(resp.body["accepted"], 1, "{}", resp.body);
        let resp = ingest(
            app,
            &s,
            vec![
                // Another hour of the same day: the day's sum is full.
                ev(
                    "one-more",
                    p,
                    "api_calls",
                    "0.000001",
                    "2026-10-31T23:59:59Z",
                ),
                ev("next-day", p, "api_calls", "1", "2026-11-01T00:00:00Z"),
                ev(
                    "too-big",
                    p,
                    "api_calls",
                    "9223372036854.775808",
                    "2026-11-01T11:00:00Z",
                ),
            ],
        )
        .await;
        assert_eq!(outcomes(&resp), refused_accepted_refused());
        for r in [rollups(app).await, daily_rollups(app).await] {
            assert_eq!(r.len(), 2);
            assert_eq!(r[0].1, i64::MAX);
            assert_eq!(r[0].4, 1);
            assert_eq!(r[1].1, 1_000_000);
        }
        assert_eq!(
            monthly_rollups(app).await,
            vec![
                ("2026-10".to_owned(), i64::MAX, i64::MAX, i64::MAX, 1),
                ("2026-11".to_owned(), 1_000_000, 1_000_000, 1_000_000, 1),
            ]
        );
        // The refused event is not stored, so a retry after the month rolls is not a duplicate.
        assert_eq!(stored_events(app).await, 2);
    }
);

db_test!(
    a_month_never_passes_its_exact_maximum,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        // Seoul: November starts at 15:00 UTC on October 31.
        let s = setup(app, "+09:00").await;
        let p = s.project.as_str();
        let half = "4611686018427.387904"; // (i64::MAX + 1) / 2 millionths
        let resp = ingest(
            app,
            &s,
            vec![
                ev("a", p, "api_calls", half, "2026-11-02T10:00:00Z"),
                // Another day of the month: the month holds 2 x 4,611,686,018,427,387,904 - 1
                // = i64::MAX millionths.
                ev(
                    "b",
                    p,
                    "api_calls",
                    "4611686018427.387903",
                    "2026-11-20T10:00:00Z",
                ),
            ],
        )
        .await;
        assert_eq!(resp.body["accepted"], 2, "{}", resp.body);
        // On PostgreSQL this batch first runs without reading the rollups; the month's BIGINT
        // refuses the addition and the batch runs again the careful way.
        let resp = ingest(
            app,
            &s,
            vec![
                // Each of its days has room, the month has none.
                ev("c", p, "api_calls", "0.000001", "2026-11-03T10:00:00Z"),
                // 14:59:59 UTC on Oct 31 is 23:59:59 of October 31 in Seoul: October.
                ev("d", p, "api_calls", half, "2026-10-31T14:59:59Z"),
                // 15:00 UTC on Oct 31 is midnight of November 1 in Seoul: November.
                ev("e", p, "api_calls", "1", "2026-10-31T15:00:00Z"),
            ],
        )
        .await;
        assert_eq!(outcomes(&resp), refused_accepted_refused());
        // October: d alone; November: a + b = i64::MAX.
        assert_eq!(
            monthly_rollups(app).await,
            vec![
                (
                    "2026-10".to_owned(),
                    4_611_686_018_427_387_904,
                    4_611_686_018_427_387_904,
                    4_611_686_018_427_387_904,
                    1
                ),
                (
                    "2026-11".to_owned(),
                    i64::MAX,
                    4_611_686_018_427_387_904,
                    4_611_686_018_427_387_903,
                    2
                ),
            ]
        );
        assert_eq!(stored_events(app).await, 3);
        // The month reads whole: 9,223,372,036,854.775807 calls.
        let usage = app
            .get(
                &format!("/v1/accounts/{}/usage?period=2026-11", s.account),
                &app.admin_token(),
            )
            .await;
        assert_eq!(usage.status, 200, "{}", usage.body);
        assert_eq!(
            usage.body["projects"][0]["products"][0]["quantity"],
            "9223372036854.775807"
        );
    }
);

db_test!(
    racing_batches_count_every_event_once,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let s = setup(app, "+00:00").await;
        let p = s.project.clone();
        let batch = |prefix: &str, quantity: &str| -> Vec<Value> {
            (0..50)
                .map(|i| {
                    ev(
                        &format!("{prefix}{i}"),
                        &p,
                        "api_calls",
                        quantity,
                        "2026-11-23T10:00:00Z",
                    )
                })
                .collect()
        };
        // A and B are the same batch sent twice; C and D are different events in the same bucket.
        let answers = futures_util::future::join_all([
            ingest(app, &s, batch("a", "1")),
            ingest(app, &s, batch("a", "1")),
            ingest(app, &s, batch("c", "2")),
            ingest(app, &s, batch("d", "2")),
        ])
        .await;
        for a in &answers {
            assert_eq!(a.status, 200, "{}", a.body);
        }
        let accepted: i64 = answers
            .iter()
            .map(|a| a.body["accepted"].as_i64().unwrap())
            .sum();
        assert_eq!(accepted, 150);
        // 50 x 1 + 50 x 2 + 50 x 2 = 250 units in 150 events; of events at the same instant the
        // latest value is the largest, whichever batch commits last.
        let expected =
            |start: &str| vec![(start.to_owned(), 250_000_000, 2_000_000, 2_000_000, 150)];
        assert_eq!(rollups(app).await, expected("2026-11-23T10:00:00Z"));
        assert_eq!(daily_rollups(app).await, expected("2026-11-23T00:00:00Z"));
    }
);

db_test!(closed_periods_refuse_their_events, async |app: &TestApp| {
    app.clock.set(datetime!(2026-11-23 12:00 UTC));
    let s = setup(app, "+00:00").await;
    let backend = app.db.get_database_backend();
    app.db
        .execute(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => "INSERT INTO invoices (id, account_id, period, currency, status, usage_amount_minor, discount_minor, credit_minor, determined_amount_minor, tax_rate, tax_minor, total_minor, amount_due_minor, paid_minor, billing_date, finalized_at) VALUES ('inv_test', $1, '2026-10', 'KRW', 'finalized', 0, 0, 0, 0, '0', 0, 0, 0, 0, $2, $2)",
                _ => "INSERT INTO invoices (id, account_id, period, currency, status, usage_amount_minor, discount_minor, credit_minor, determined_amount_minor, tax_rate, tax_minor, total_minor, amount_due_minor, paid_minor, billing_date, finalized_at) VALUES ('inv_test', ?, '2026-10', 'KRW', 'finalized', 0, 0, 0, 0, '0', 0, 0, 0, 0, ?, ?)",
            },
            match backend {
                sea_orm::DbBackend::Postgres => vec![s.account.clone().into(), datetime!(2026-11-05 00:00 UTC).into()],
                _ => vec![s.account.clone().into(), datetime!(2026-11-05 00:00 UTC).into(), datetime!(2026-11-05 00:00 UTC).into()],
            },
        ))
        .await
        .unwrap();
    let p = s.project.as_str();
    let resp = ingest(
        app,
        &s,
        vec![
            ev("late", p, "api_calls", "5", "2026-10-31T23:59:59Z"),
            ev("open", p, "api_calls", "5", "2026-11-01T00:00:00Z"),
            // Before the first billing period: it could never be invoiced.
            ev("ancient", p, "api_calls", "5", "1999-12-31T23:59:59Z"),
        ],
    )
    .await;
    assert_eq!(
        statuses(&resp)
            .into_iter()
            .map(|(_, st, r)| (st, r))
            .collect::<Vec<_>>(),
        vec![
            ("rejected".to_owned(), Some("period_closed".to_owned())),
            ("accepted".to_owned(), None),
            (
                "rejected".to_owned(),
                Some("timestamp_out_of_range".to_owned())
            ),
        ]
    );
});

db_test!(
    only_the_accounts_writers_may_ingest,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let s = setup(app, "+00:00").await;
        let other = app.create_account("Other", "KRW").await;
        let path = format!("/v1/accounts/{}/usage-events", s.account);
        let one =
            json!({"events": [ev("x", &s.project, "api_calls", "1", "2026-11-23T10:00:00Z")]});
        // Another account's metering token: 404, as if the account did not exist.
        app.post(&path, &app.usage_token(&other), one.clone())
            .await
            .assert_problem(404, "not-found");
        // A console user: 403.
        app.add_member(&s.account, "alice", "owner").await;
        app.post(&path, &app.user_token("alice"), one.clone())
            .await
            .assert_problem(403, "forbidden");
        // An operator may.
        let resp = app.post(&path, &app.admin_token(), one).await;
        assert_eq!(resp.body["accepted"], 1);
        // A malformed batch stores nothing: 1,001 events, a missing field, a bad timestamp.
        let too_many: Vec<Value> = (0..1001)
            .map(|i| {
                ev(
                    &format!("m{i}"),
                    &s.project,
                    "api_calls",
                    "1",
                    "2026-11-23T10:00:00Z",
                )
            })
            .collect();
        let resp = app.post(&path, &s.token, json!({"events": too_many})).await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), vec!["events"]);
        let resp = app.post(&path, &s.token, json!({"events": [{"id": "n", "project_id": s.project, "product": "api_calls", "timestamp": "2026-11-23T10:00:00Z"}]})).await;
        resp.assert_problem(422, "validation-error");
        let resp = app
            .post(
                &path,
                &s.token,
                json!({"events": [ev("t", &s.project, "api_calls", "1", "yesterday")]}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(stored_events(app).await, 1);
    }
);

db_test!(
    properties_are_kept_with_their_event,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let s = setup(app, "+00:00").await;
        let mut with = ev("with", &s.project, "api_calls", "1", "2026-11-23T10:00:00Z");
        with["properties"] = json!({"region": "ap-northeast-2", "tier": 3});
        let without = ev(
            "without",
            &s.project,
            "api_calls",
            "1",
            "2026-11-23T10:00:00Z",
        );
        let resp = ingest(app, &s, vec![with, without]).await;
        assert_eq!(resp.body["accepted"], 2, "{}", resp.body);
        let backend = app.db.get_database_backend();
        let rows = app
            .db
            .query_all(Statement::from_string(
                backend,
                "SELECT event_id, properties FROM usage_events ORDER BY event_id",
            ))
            .await
            .unwrap();
        let stored: Vec<(String, Option<Value>)> = rows
            .iter()
            .map(|r| {
                let text: Option<String> = r.try_get("", "properties").unwrap();
                (
                    r.try_get("", "event_id").unwrap(),
                    text.map(|t| serde_json::from_str(&t).unwrap()),
                )
            })
            .collect();
        assert_eq!(
            stored,
            vec![
                (
                    "with".to_owned(),
                    Some(json!({"region": "ap-northeast-2", "tier": 3}))
                ),
                ("without".to_owned(), None),
            ]
        );
    }
);

db_test!(
    an_event_stored_by_a_concurrent_writer_is_a_duplicate,
    async |app: &TestApp| {
        // Another writer stores event "e1" and holds its transaction open while a batch with
        // "e1" arrives. On PostgreSQL the batch's plain insert waits on the uncommitted key and
        // is refused once it commits, so the batch runs again the careful way; on SQLite it
        // waits for the write lock. Either way "e1" is answered as a duplicate and stored once.
        use billing_domain::catalog::{Code, Quantity};
        use billing_domain::names::{AccountId, ProjectId};
        use billing_domain::usage::{EventId, UsageEvent};
        use billing_persistence::repo::usage::{insert_events, NewEvent};

        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let s = setup(app, "+00:00").await;
        let backend = app.db.get_database_backend();
        let product_id: String = app
            .db
            .query_one(Statement::from_string(
                backend,
                "SELECT id FROM products WHERE code = 'api_calls'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "id")
            .unwrap();
        let account = AccountId::parse(&s.account).unwrap();
        let event = UsageEvent {
            id: EventId::parse("e1").unwrap(),
            project: ProjectId::parse(&s.project).unwrap(),
            product: Code::parse("api_calls").unwrap(),
            quantity: Quantity::parse("1").unwrap(),
            timestamp: datetime!(2026-11-23 10:00 UTC),
        };
        let other = billing_persistence::db::begin_write(&app.db).await.unwrap();
        let stored = insert_events(
            &other,
            &account,
            &[NewEvent {
                event: &event,
                product_id: &product_id,
                properties: None,
            }],
            datetime!(2026-11-23 11:00 UTC),
        )
        .await
        .unwrap();
        assert_eq!(stored.len(), 1);

        let batch = ingest(
            app,
            &s,
            vec![
                ev("e1", &s.project, "api_calls", "1", "2026-11-23T10:00:00Z"),
                ev("e2", &s.project, "api_calls", "2", "2026-11-23T10:00:00Z"),
            ],
        );
        let commit = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            other.commit().await.unwrap();
        };
        let (resp, ()) = futures_util::future::join(batch, commit).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            statuses(&resp)
                .into_iter()
                .map(|(id, st, _)| (id, st))
                .collect::<Vec<_>>(),
            vec![
                ("e1".to_owned(), "duplicate".to_owned()),
                ("e2".to_owned(), "accepted".to_owned()),
            ]
        );
        assert_eq!(stored_events(app).await, 2);
        // Only e2 reached the rollups (the other writer stored e1 without them).
        assert_eq!(rollups(app).await[0].1, 2_000_000);
        assert_eq!(rollups(app).await[0].4, 1);
    }
);

db_test!(
    careful_and_optimistic_batches_never_deadlock,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let s = setup(app, "+00:00").await;
        let p = s.project.clone();
        let batch = |prefix: String, n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| {
                    ev(
                        &format!("{prefix}-{i}"),
                        &p,
                        "api_calls",
                        "1",
                        "2026-11-23T10:00:00Z",
                    )
                })
                .collect()
        };
        let mut accepted = 0;
        for round in 0..30 {
            // A stored id first makes a batch go the careful way (on PostgreSQL: after its
            // optimistic try is refused); the others go the optimistic way, on the same rows.
            let mut retried = batch(format!("r{round}"), 200);
            retried.insert(
                0,
                ev("stored", &p, "api_calls", "1", "2026-11-23T10:00:00Z"),
            );
            let answers = futures_util::future::join_all([
                ingest(app, &s, retried),
                ingest(app, &s, batch(format!("x{round}"), 200)),
                ingest(app, &s, batch(format!("y{round}"), 200)),
            ])
            .await;
            for a in &answers {
                assert_eq!(a.status, 200, "round {round}: {}", a.body);
                accepted += a.body["accepted"].as_i64().unwrap();
            }
        }
        // "stored" once, then 3 x 200 per round.
        assert_eq!(accepted, 1 + 30 * 600);
        assert_eq!(stored_events(app).await, 1 + 30 * 600);
    }
);
