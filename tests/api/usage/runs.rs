//! The rollups of plan runs: a billing period that plan changes cut is kept as one rollup per
//! run and product, by ingestion and by the plan change itself, whichever comes first, and the
//! billing table reads them. Amounts computed by hand.

use billing_persistence::db;
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::db_test;
use crate::fixtures::{assign, ev, shop_with};
use crate::helpers::TestApp;
use sea_orm::{ConnectionTrait, Statement};

/// The migration that creates and fills the run rollups.
const RUN_ROLLUPS: &str = "m20261124_000010_run_rollups";

/// (project, period, run start, product code, sum, count) of every stored run rollup.
type RunRow = (String, String, OffsetDateTime, String, Option<i64>, i64);

async fn run_rows(app: &TestApp) -> Vec<RunRow> {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all(Statement::from_string(
            backend,
            "SELECT r.project_id, r.period, r.run_start, p.code, r.sum_micros, r.event_count \
             FROM usage_run_rollups r JOIN products p ON p.id = r.product_id \
             ORDER BY r.project_id, r.period, r.run_start, p.code",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "project_id").unwrap(),
                r.try_get("", "period").unwrap(),
                r.try_get("", "run_start").unwrap(),
                r.try_get("", "code").unwrap(),
                r.try_get("", "sum_micros").unwrap(),
                r.try_get("", "event_count").unwrap(),
            )
        })
        .collect()
}

/// (kind, plan, product, amount) of a billing table row's lines.
fn lines(channel: &Value) -> Vec<(String, String, Option<String>, String)> {
    channel["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["plan"].as_str().unwrap().to_owned(),
                l["product"].as_str().map(str::to_owned),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn line(
    kind: &str,
    plan: &str,
    product: Option<&str>,
    amount: &str,
) -> (String, String, Option<String>, String) {
    (
        kind.into(),
        plan.into(),
        product.map(str::to_owned),
        amount.into(),
    )
}

db_test!(
    plan_changes_made_after_the_usage_cut_it_as_ingestion_does,
    async |app: &TestApp| {
        // The shop's November, its plans assigned after its usage: every change cuts stored
        // usage into runs (the shop with its plans first is the billing table's own test).
        let shop = shop_with(app, true).await;
        // An operator reads the table as the account's billing admin would.
        let owner = app.admin_token();
        let table = format!(
            "/v1/accounts/{}/billing/channels?period=2026-11",
            shop.account
        );
        let resp = app.get(&table, &owner).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let channel = |body: &Value, id: &str| {
            body["channels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["project_id"] == id)
                .unwrap()
                .clone()
        };
        // The same lines as with the plans first (see the billing table's test):
        //   Basic 11-01..11 (240 h): 72,000 x 240/720 = 24,000; 1,007 calls x 1 = 1,007
        //   Pro 11-11..12-01 (480 h): 144,000 x 480/720 = 96,000; 3,001 calls x 0.5 = 1,501;
        //     disk 12 GiB = 12 x 100 = 1,200; monitoring 30,000 x 100/720 = 4,166.67 -> 4,167
        assert_eq!(
            lines(&channel(&resp.body, &shop.production)),
            vec![
                line("base_fee", "basic", None, "24000"),
                line("usage", "basic", Some("api_calls"), "1007"),
                line("base_fee", "pro", None, "96000"),
                line("usage", "pro", Some("api_calls"), "1501"),
                line("usage", "pro", Some("disk"), "1200"),
                line("usage", "pro", Some("monitoring"), "4167"),
            ]
        );
        // Staging: Basic from 11-15 12:00 (372 h): 37,200; the calls of its hours 60 + 200.
        assert_eq!(
            channel(&resp.body, &shop.staging)["summary"]["total_amount"],
            "37460"
        );
        // 127,875 + 37,460
        assert_eq!(resp.body["total_amount"], "165335");

        // A change back to Basic at 00:30 on 11-25 cuts Pro's run again. The monitoring hour
        // of 00:00 started on Pro and stays Pro's; Basic's run starts at 01:00.
        assign(app, &shop.production, "basic", "2026-11-25T00:30:00+09:00").await;
        // Usage after the change lands on the new run: 5 calls on 11-26.
        let resp = app
            .post(
                &format!("/v1/accounts/{}/usage-events", shop.account),
                &app.usage_token(&shop.account),
                json!({"events": [ev("p-9", &shop.production, "api_calls", "5",
                                     "2026-11-26T10:00:00+09:00")]}),
            )
            .await;
        assert_eq!(resp.body["accepted"], 1, "{}", resp.body);
        let resp = app.get(&table, &owner).await;
        let production = channel(&resp.body, &shop.production);
        //   Basic 11-01..11 (240 h): 24,000; 1,007 calls = 1,007
        //   Pro 11-11..11-25 00:30 (336.5 h): 144,000 x 336.5/720 = 67,300; 1,501; 1,200; 4,167
        //   Basic 11-25 00:30..12-01 (143.5 h): 72,000 x 143.5/720 = 14,350; 5 calls x 1 = 5
        assert_eq!(
            lines(&production),
            vec![
                line("base_fee", "basic", None, "24000"),
                line("usage", "basic", Some("api_calls"), "1007"),
                line("base_fee", "pro", None, "67300"),
                line("usage", "pro", Some("api_calls"), "1501"),
                line("usage", "pro", Some("disk"), "1200"),
                line("usage", "pro", Some("monitoring"), "4167"),
                line("base_fee", "basic", None, "14350"),
                line("usage", "basic", Some("api_calls"), "5"),
            ]
        );
        // 24,000 + 1,007 + 67,300 + 1,501 + 1,200 + 4,167 + 14,350 + 5
        assert_eq!(production["summary"]["total_amount"], "113530");

        // Production's runs of November: from 11-01 00:00, 11-11 00:00 and 11-25 01:00 (Seoul).
        let p = shop.production.clone();
        let run = |start: OffsetDateTime, code: &str, sum: i64, count: i64| -> RunRow {
            (
                p.clone(),
                "2026-11".into(),
                start,
                code.into(),
                Some(sum),
                count,
            )
        };
        let kept = run_rows(app).await;
        let production_runs: Vec<RunRow> = kept.iter().filter(|r| r.0 == p).cloned().collect();
        assert_eq!(
            production_runs,
            vec![
                // 7 + 1,000 calls.
                run(
                    datetime!(2026-10-31 15:00 UTC),
                    "api_calls",
                    1_007_000_000,
                    2
                ),
                // 3,000 + 1 calls; disk (a max: no sum) 10, 12, 11 GiB; 100 monitoring hours.
                run(
                    datetime!(2026-11-10 15:00 UTC),
                    "api_calls",
                    3_001_000_000,
                    2
                ),
                run(datetime!(2026-11-10 15:00 UTC), "disk", 0, 3),
                run(
                    datetime!(2026-11-10 15:00 UTC),
                    "monitoring",
                    100_000_000,
                    1
                ),
                run(datetime!(2026-11-24 16:00 UTC), "api_calls", 5_000_000, 1),
            ]
        );

        // Filled again from the hours by the migration: the same rows, the same table.
        let before = app.get(&table, &owner).await.body;
        db::redo_migrations_from(&app.db, RUN_ROLLUPS)
            .await
            .expect("down and up");
        assert_eq!(run_rows(app).await, kept);
        assert_eq!(app.get(&table, &owner).await.body, before);
    }
);

db_test!(
    plan_changes_racing_ingestion_keep_every_run_exact,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-28 00:00 UTC));
        let admin = app.admin_token();
        let account = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "Race", "currency": "KRW", "billing_utc_offset": "+00:00"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let project = app.create_project(&account, "Racing").await;
        app.create_product("api_calls", "call", "sum").await;
        let plan = json!({"code": "flat", "name": "Flat", "currency": "KRW", "base_fee": "0",
                          "prices": {"api_calls": {"model": "per_unit", "unit_price": "1"}}});
        assert_eq!(app.post("/v1/admin/plans", &admin, plan).await.status, 201);
        assign(app, &project, "flat", "2026-11-01T00:00:00Z").await;
        let token = app.usage_token(&account);
        let path = format!("/v1/accounts/{account}/usage-events");
        let plans = format!("/v1/admin/projects/{project}/plans");
        let table = format!("/v1/accounts/{account}/billing/channels?period=2026-11");
        // Each round: two batches of one call on each of seven days, racing a plan change that
        // cuts the month again, between two of those days.
        let days = ["02", "06", "10", "14", "18", "22", "26"];
        let cuts = ["04", "08", "12", "16", "20", "24"];
        for (round, cut) in cuts.into_iter().enumerate() {
            let batch = |name: &str| {
                let events: Vec<Value> = days
                    .into_iter()
                    .map(|day| {
                        ev(
                            &format!("{name}-{round}-{day}"),
                            &project,
                            "api_calls",
                            "1",
                            &format!("2026-11-{day}T12:00:00Z"),
                        )
                    })
                    .collect();
                json!({ "events": events })
            };
            let change = app.post(
                &plans,
                &admin,
                json!({"plan": "flat", "effective_from": format!("2026-11-{cut}T00:00:00Z")}),
            );
            let (a, b, changed, read) = futures_util::join!(
                app.post(&path, &token, batch("a")),
                app.post(&path, &token, batch("b")),
                change,
                app.get(&table, &admin),
            );
            assert_eq!(changed.status, 201, "{}", changed.body);
            for resp in [a, b] {
                assert_eq!(resp.body["accepted"], 7, "{}", resp.body);
            }
            // Every plan is the same 1 KRW a call with no base fee, so a read racing the
            // change and the batches charges every call it sees once, however the month is
            // cut: 14 calls a round before this one, then 7 a batch.
            assert_eq!(read.status, 200, "{}", read.body);
            let before = 14 * round;
            let seen: usize = read.body["total_amount"].as_str().unwrap().parse().unwrap();
            assert!(
                [before, before + 7, before + 14].contains(&seen),
                "round {round}: {seen} calls charged"
            );
        }
        // Twelve calls (two batches in each of six rounds) on each of the seven days, one day
        // in each run (from the 1st, then from each cut). A batch that wrote into a run a
        // racing change had already cut again would show here.
        let runs: Vec<(OffsetDateTime, Option<i64>, i64)> = run_rows(app)
            .await
            .into_iter()
            .map(|r| (r.2, r.4, r.5))
            .collect();
        let expected: Vec<(OffsetDateTime, Option<i64>, i64)> = ["01"]
            .into_iter()
            .chain(cuts)
            .map(|day| {
                let start = OffsetDateTime::parse(
                    &format!("2026-11-{day}T00:00:00Z"),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                (start, Some(12_000_000), 12)
            })
            .collect();
        assert_eq!(runs, expected);
    }
);
