use billing_persistence::db;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use time::macros::datetime;

use crate::db_test;
use crate::helpers::TestApp;

db_test!(
    every_migration_goes_down_and_up_again,
    async |app: &TestApp| {
        // Data written before must not stop a full rollback (down drops it) and re-apply.
        app.create_account("Before Migration", "KRW").await;
        db::migrate_down_and_up(&app.db).await.expect("down and up");
        // The schema works again after re-applying: a fresh account can be written and read.
        let id = app.create_account("After Migration", "KRW").await;
        let resp = app
            .get(&format!("/v1/admin/accounts/{id}"), &app.admin_token())
            .await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body["name"], "After Migration");
        let list = app.get("/v1/admin/accounts", &app.admin_token()).await;
        assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
    }
);

/// The migration that creates and fills the month rollups.
const MONTH_ROLLUPS: &str = "m20261124_000008_monthly_rollups";

/// The month rollups of every project: (period, product code, sum, max, latest, count).
async fn month_rows(app: &TestApp) -> Vec<(String, String, Option<i64>, i64, i64, i64)> {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all(Statement::from_string(
            backend,
            "SELECT r.period, p.code, r.sum_micros, r.max_micros, r.latest_micros, \
             r.event_count FROM usage_monthly_rollups r JOIN products p ON p.id = r.product_id \
             ORDER BY r.period, p.code",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "period").unwrap(),
                r.try_get("", "code").unwrap(),
                r.try_get("", "sum_micros").unwrap(),
                r.try_get("", "max_micros").unwrap(),
                r.try_get("", "latest_micros").unwrap(),
                r.try_get("", "event_count").unwrap(),
            )
        })
        .collect()
}

db_test!(
    month_rollups_are_filled_from_the_days_stored_before_them,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let admin = app.admin_token();
        let account = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "Acme", "currency": "KRW", "billing_utc_offset": "+09:00"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let project = app.create_project(&account, "Production").await;
        app.create_product("api_calls", "call", "sum").await;
        app.create_product("agents", "agent", "latest").await;
        let events = json!([
            // October in Seoul (23:00 on Oct 31).
            {"id": "a", "project_id": project, "product": "api_calls", "quantity": "5",
             "timestamp": "2026-10-31T14:00:00Z"},
            // November in Seoul (00:00 and 09:00 on Nov 1, and Nov 20).
            {"id": "b", "project_id": project, "product": "api_calls", "quantity": "1.5",
             "timestamp": "2026-10-31T15:00:00Z"},
            {"id": "c", "project_id": project, "product": "api_calls", "quantity": "2",
             "timestamp": "2026-11-01T00:00:00Z"},
            {"id": "d", "project_id": project, "product": "agents", "quantity": "7",
             "timestamp": "2026-11-01T00:00:00Z"},
            {"id": "e", "project_id": project, "product": "agents", "quantity": "3",
             "timestamp": "2026-11-20T00:00:00Z"},
        ]);
        let resp = app
            .post(
                &format!("/v1/accounts/{account}/usage-events"),
                &app.usage_token(&account),
                json!({ "events": events }),
            )
            .await;
        assert_eq!(resp.body["accepted"], 5, "{}", resp.body);
        let kept = month_rows(app).await;
        // October: 5 calls. November: 1.5 + 2 = 3.5 calls; agents 7 then 3 (latest 3, max 7).
        assert_eq!(
            kept,
            vec![
                (
                    "2026-10".into(),
                    "api_calls".into(),
                    Some(5_000_000),
                    5_000_000,
                    5_000_000,
                    1
                ),
                (
                    "2026-11".into(),
                    "agents".into(),
                    Some(0),
                    7_000_000,
                    3_000_000,
                    2
                ),
                (
                    "2026-11".into(),
                    "api_calls".into(),
                    Some(3_500_000),
                    2_000_000,
                    2_000_000,
                    2
                ),
            ]
        );
        let usage = format!("/v1/accounts/{account}/usage?period=2026-11");
        let before = app.get(&usage, &admin).await;
        assert_eq!(before.status, 200, "{}", before.body);

        // Filled again from the daily rollups: the same rows, the same read.
        db::redo_migrations_from(&app.db, MONTH_ROLLUPS)
            .await
            .expect("down and up");
        assert_eq!(month_rows(app).await, kept);
        assert_eq!(app.get(&usage, &admin).await.body, before.body);

        // Days stored before month rollups were kept, each within the largest quantity, whose
        // month is not (2 x 4,611,686,018,427,387,904 millionths > i64::MAX): the month is
        // kept as past the largest quantity, and its read answers so.
        let backend = app.db.get_database_backend();
        let product = app
            .db
            .query_one(Statement::from_string(
                backend,
                "SELECT id FROM products WHERE code = 'api_calls'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "id")
            .unwrap();
        let half: i64 = 4_611_686_018_427_387_904;
        for day in [
            datetime!(2026-09-01 15:00 UTC),
            datetime!(2026-09-02 15:00 UTC),
        ] {
            let insert = Query::insert()
                .into_table(Alias::new("usage_daily_rollups"))
                .columns(
                    [
                        "project_id",
                        "product_id",
                        "day_start",
                        "sum_micros",
                        "max_micros",
                        "latest_micros",
                        "latest_at",
                        "event_count",
                    ]
                    .map(Alias::new),
                )
                .values_panic([
                    project.as_str().into(),
                    product.as_str().into(),
                    day.into(),
                    half.into(),
                    half.into(),
                    half.into(),
                    day.into(),
                    1i64.into(),
                ])
                .to_owned();
            app.db.execute(backend.build(&insert)).await.unwrap();
        }
        db::redo_migrations_from(&app.db, MONTH_ROLLUPS)
            .await
            .expect("down and up");
        let september = month_rows(app).await;
        assert_eq!(
            september.first(),
            Some(&("2026-09".into(), "api_calls".into(), None, half, half, 2))
        );
        app.get(
            &format!("/v1/accounts/{account}/usage?period=2026-09"),
            &admin,
        )
        .await
        .assert_problem(409, "usage-out-of-range");
        // Only to a caller who may see the account: a stranger learns nothing of it.
        let stranger = app
            .get(
                &format!("/v1/accounts/{account}/usage?period=2026-09"),
                &app.user_token("mallory"),
            )
            .await;
        assert_eq!(stranger.status, 404, "{}", stranger.body);
    }
);
