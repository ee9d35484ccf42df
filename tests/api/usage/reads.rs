//! Usage reads through the API, with numbers computed by hand: monthly usage per project and
//! product, daily usage, metering per date, and the billing table with its summary. Who sees
//! what: quantities on every project the caller takes part in, costs only with billing
//! permission (owners and billing admins always).

use serde_json::{json, Value};
use time::macros::datetime;

use crate::db_test;
use crate::fixtures::{ev, shop, GIB};
use crate::helpers::{Resp, TestApp};

/// (product, fee group, usage, API calls, disk bytes, amount) of a billing table row.
type ServiceRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

/// (product, quantity, event_count) of a list of product usages.
fn products(list: &Value) -> Vec<(String, String, i64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["product"].as_str().unwrap().to_owned(),
                p["quantity"].as_str().unwrap().to_owned(),
                p["event_count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn row(product: &str, quantity: &str, count: i64) -> (String, String, i64) {
    (product.to_owned(), quantity.to_owned(), count)
}

async fn get(app: &TestApp, user: &str, path: &str) -> Resp {
    let resp = app.get(path, &app.user_token(user)).await;
    assert_eq!(resp.status, 200, "{path}: {}", resp.body);
    resp
}

db_test!(
    monthly_usage_per_project_and_product,
    async |app: &TestApp| {
        let shop = shop(app).await;
        let path = format!("/v1/accounts/{}/usage?period=2026-11", shop.account);
        let resp = get(app, "owner@acme", &path).await;
        assert_eq!(resp.body["period"], "2026-11");
        assert_eq!(resp.body["starts_at"], "2026-11-01T00:00:00+09:00");
        assert_eq!(resp.body["ends_at"], "2026-12-01T00:00:00+09:00");
        let projects = resp.body["projects"].as_array().unwrap();
        let by_id = |id: &str| projects.iter().find(|p| p["project_id"] == id).unwrap();
        let production = by_id(&shop.production);
        assert_eq!(production["project_name"], "Production");
        assert_eq!(production["billing_permission"], true);
        // api_calls: 7 + 1000 + 3000 + 1 (October's 99 and December's 55 are not November's);
        // disk: the peak, 12 GiB; monitoring: 100 hours.
        assert_eq!(
            products(&production["products"]),
            vec![
                row("api_calls", "4008", 4),
                row("disk", &(12 * GIB).to_string(), 3),
                row("monitoring", "100", 1),
            ]
        );
        assert_eq!(production["products"][1]["unit"], "byte");
        assert_eq!(production["products"][1]["aggregation"], "max");
        // Staging: 500 + 40 + 60 + 200, billed or not.
        assert_eq!(
            products(&by_id(&shop.staging)["products"]),
            vec![row("api_calls", "800", 4)]
        );

        // October holds the one event of 23:30 on October 31 in Seoul.
        let october = get(
            app,
            "owner@acme",
            &format!("/v1/accounts/{}/usage?period=2026-10", shop.account),
        )
        .await;
        let oct = october.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["project_id"] == shop.production.as_str())
            .unwrap()
            .clone();
        assert_eq!(products(&oct["products"]), vec![row("api_calls", "99", 1)]);

        // Without `period`: the current one (December 2 in UTC is December in Seoul).
        let current = get(
            app,
            "owner@acme",
            &format!("/v1/accounts/{}/usage", shop.account),
        )
        .await;
        assert_eq!(current.body["period"], "2026-12");
    }
);

db_test!(
    members_see_quantities_of_their_projects_and_costs_only_with_permission,
    async |app: &TestApp| {
        let shop = shop(app).await;
        let usage = format!("/v1/accounts/{}/usage?period=2026-11", shop.account);
        let billing = format!(
            "/v1/accounts/{}/billing/channels?period=2026-11",
            shop.account
        );

        // Carol takes part in both projects, with billing permission on Staging only.
        let resp = get(app, "carol@acme", &usage).await;
        let seen: Vec<(String, bool)> = resp.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["project_id"].as_str().unwrap().to_owned(),
                    p["billing_permission"].as_bool().unwrap(),
                )
            })
            .collect();
        let mut expected = vec![
            (shop.production.clone(), false),
            (shop.staging.clone(), true),
        ];
        expected.sort();
        assert_eq!(seen, expected);
        let resp = get(app, "carol@acme", &billing).await;
        let channels = resp.body["channels"].as_array().unwrap();
        assert_eq!(channels.len(), 1);
        assert_eq!(channels[0]["project_id"], shop.staging.as_str());
        assert_eq!(resp.body["total_amount"], "37460");

        // Dave takes part in nothing: no projects, no costs, but no error either.
        let resp = get(app, "dave@acme", &usage).await;
        assert_eq!(resp.body["projects"], json!([]));
        let resp = get(app, "dave@acme", &billing).await;
        assert_eq!(resp.body["channels"], json!([]));
        assert_eq!(resp.body["total_amount"], "0");
        let daily = format!(
            "/v1/accounts/{}/projects/{}/usage/daily?period=2026-11",
            shop.account, shop.production
        );
        app.get(&daily, &app.user_token("dave@acme"))
            .await
            .assert_problem(404, "not-found");

        // Another account's user learns nothing.
        let other = app.create_account("Globex", "USD").await;
        app.add_member(&other, "erin@globex", "owner").await;
        for path in [&usage, &billing, &daily] {
            app.get(path, &app.user_token("erin@globex"))
                .await
                .assert_problem(404, "not-found");
        }
    }
);

db_test!(
    the_billing_table_rates_every_plan_by_its_hours,
    async |app: &TestApp| {
        let shop = shop(app).await;
        let resp = get(
            app,
            "owner@acme",
            &format!(
                "/v1/accounts/{}/billing/channels?period=2026-11",
                shop.account
            ),
        )
        .await;
        assert_eq!(resp.body["currency"], "KRW");
        let channels = resp.body["channels"].as_array().unwrap();
        let by_id = |id: &str| channels.iter().find(|c| c["project_id"] == id).unwrap();

        // Production, November 2026 (720 reference hours):
        //   Basic 2026-11-01..11 (240 h): base 72,000 x 240/720 = 24,000; 1,007 calls x 1 = 1,007
        //   Pro 2026-11-11..12-01 (480 h): base 144,000 x 480/720 = 96,000;
        //     3,001 calls x 0.5 = 1,500.5 -> 1,501; disk peak 12 GiB -> 12 packages x 100 = 1,200;
        //     monitoring 100 h of 30,000/month -> 30,000 x 100/720 = 4,166.67 -> 4,167
        let production = by_id(&shop.production);
        let lines: Vec<(&str, &str, Option<&str>, &str)> = production["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["kind"].as_str().unwrap(),
                    l["plan"].as_str().unwrap(),
                    l["product"].as_str(),
                    l["amount"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                ("base_fee", "basic", None, "24000"),
                ("usage", "basic", Some("api_calls"), "1007"),
                ("base_fee", "pro", None, "96000"),
                ("usage", "pro", Some("api_calls"), "1501"),
                ("usage", "pro", Some("disk"), "1200"),
                ("usage", "pro", Some("monitoring"), "4167"),
            ]
        );
        assert_eq!(production["lines"][0]["hours"], "240");
        assert_eq!(production["lines"][0]["reference_hours"], 720);
        assert_eq!(production["lines"][3]["quantity"], "3001");
        assert_eq!(production["lines"][3]["exact_amount"], "1500.5");
        assert_eq!(
            production["summary"],
            json!({"total_amount": "127875", "base_fee": "120000", "disk_usage_fee": "1200",
                   "api_usage_fee": "2508", "other_usage_fee": "4167"})
        );
        let services: Vec<ServiceRow> = production["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["product"].as_str().unwrap(),
                    s["fee_group"].as_str().unwrap(),
                    s["usage"].as_str().unwrap(),
                    s["api_calls"].as_str(),
                    s["disk_bytes"].as_str(),
                    s["amount"].as_str().unwrap(),
                )
            })
            .collect();
        let disk = (12 * GIB).to_string();
        assert_eq!(
            services,
            vec![
                ("api_calls", "api", "4008", Some("4008"), None, "2508"),
                (
                    "disk",
                    "disk",
                    disk.as_str(),
                    None,
                    Some(disk.as_str()),
                    "1200"
                ),
                ("monitoring", "other", "100", None, None, "4167"),
            ]
        );

        // Staging: Basic from 2026-11-15 12:00 (372 h): 72,000 x 372/720 = 37,200. Of its 800
        // calls only those of hours starting on the plan count: 60 + 200 = 260.
        let staging = by_id(&shop.staging);
        assert_eq!(
            staging["summary"],
            json!({"total_amount": "37460", "base_fee": "37200", "disk_usage_fee": "0",
                   "api_usage_fee": "260", "other_usage_fee": "0"})
        );
        assert_eq!(staging["lines"][0]["hours"], "372");
        assert_eq!(staging["services"][0]["usage"], "800");
        assert_eq!(staging["services"][0]["amount"], "260");
        assert_eq!(resp.body["total_amount"], "165335");
    }
);

db_test!(
    daily_usage_cuts_at_the_account_midnight,
    async |app: &TestApp| {
        let shop = shop(app).await;
        let resp = get(
            app,
            "carol@acme",
            &format!(
                "/v1/accounts/{}/projects/{}/usage/daily?period=2026-11",
                shop.account, shop.production
            ),
        )
        .await;
        assert_eq!(resp.body["project_name"], "Production");
        let days = resp.body["days"].as_array().unwrap();
        assert_eq!(days.len(), 30);
        assert_eq!(days[0]["date"], "2026-11-01");
        assert_eq!(days[0]["starts_at"], "2026-11-01T00:00:00+09:00");
        assert_eq!(days[29]["date"], "2026-11-30");
        let on = |date: &str| {
            products(
                &days
                    .iter()
                    .find(|d| d["date"] == date)
                    .unwrap_or_else(|| panic!("{date}"))["products"],
            )
        };
        assert_eq!(on("2026-11-01"), vec![row("api_calls", "7", 1)]);
        assert_eq!(on("2026-11-02"), vec![]);
        assert_eq!(
            on("2026-11-20"),
            vec![
                row("api_calls", "3001", 2),
                row("disk", &(12 * GIB).to_string(), 2)
            ]
        );
        assert_eq!(
            on("2026-11-21"),
            vec![row("disk", &(11 * GIB).to_string(), 1)]
        );
        // The 55 calls of 00:10 on December 1 are not on November 30.
        assert_eq!(on("2026-11-30"), vec![]);
    }
);

db_test!(metering_per_date_with_its_hours, async |app: &TestApp| {
    let shop = shop(app).await;
    let base = format!(
        "/v1/accounts/{}/projects/{}/usage/metering",
        shop.account, shop.production
    );
    let resp = get(
        app,
        "carol@acme",
        &format!("{base}?product=disk&period=2026-11"),
    )
    .await;
    assert_eq!(resp.body["aggregation"], "max");
    assert_eq!(resp.body["quantity"], (12 * GIB).to_string());
    assert_eq!(resp.body["event_count"], 3);
    let dates: Vec<(&str, &str, usize)> = resp.body["dates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap(),
                d["quantity"].as_str().unwrap(),
                d["hours"].as_array().unwrap().len(),
            )
        })
        .collect();
    let (twelve, eleven) = ((12 * GIB).to_string(), (11 * GIB).to_string());
    assert_eq!(
        dates,
        vec![
            ("2026-11-20", twelve.as_str(), 2),
            ("2026-11-21", eleven.as_str(), 1)
        ]
    );
    assert_eq!(
        resp.body["dates"][0]["hours"],
        json!([
            {"starts_at": "2026-11-20T09:00:00+09:00", "quantity": (10 * GIB).to_string(), "event_count": 1},
            {"starts_at": "2026-11-20T10:00:00+09:00", "quantity": (12 * GIB).to_string(), "event_count": 1},
        ])
    );

    // One date: the period follows from it.
    let resp = get(
        app,
        "carol@acme",
        &format!("{base}?product=api_calls&date=2026-11-20"),
    )
    .await;
    assert_eq!(resp.body["period"], "2026-11");
    assert_eq!(resp.body["quantity"], "3001");
    assert_eq!(
        resp.body["dates"],
        json!([{"date": "2026-11-20", "quantity": "3001", "event_count": 2, "hours": [
            {"starts_at": "2026-11-20T10:00:00+09:00", "quantity": "3001", "event_count": 2}
        ]}])
    );
    // A date without usage.
    let resp = get(
        app,
        "carol@acme",
        &format!("{base}?product=api_calls&date=2026-11-02"),
    )
    .await;
    assert_eq!(resp.body["quantity"], Value::Null);
    assert_eq!(resp.body["event_count"], 0);
    assert_eq!(resp.body["dates"], json!([]));

    let user = app.user_token("carol@acme");
    app.get(&format!("{base}?product=nothing"), &user)
        .await
        .assert_problem(404, "not-found");
    // A date outside the period asked for has no usage in it.
    let resp = get(
        app,
        "carol@acme",
        &format!("{base}?product=disk&period=2026-11&date=2026-12-01"),
    )
    .await;
    assert_eq!(resp.body["period"], "2026-11");
    assert_eq!(resp.body["quantity"], Value::Null);
    assert_eq!(resp.body["dates"], json!([]));
    // Only calendar dates YYYY-MM-DD: not an impossible one, nor week or ordinal dates.
    for date in ["2026-02-30", "2026-W47-1", "2026-327"] {
        let bad = app
            .get(&format!("{base}?product=disk&date={date}"), &user)
            .await;
        bad.assert_problem(400, "invalid-parameters");
        assert_eq!(bad.error_fields(), vec!["date"], "{date}");
    }
    let bad = app
        .get(&format!("{base}?product=disk&period=2026-13"), &user)
        .await;
    bad.assert_problem(400, "invalid-parameters");
    assert_eq!(bad.error_fields(), vec!["period"]);
    app.get(&base, &user)
        .await
        .assert_problem(400, "invalid-parameters");
});

db_test!(
    reads_cost_the_same_rows_whatever_the_number_of_events,
    async |app: &TestApp| {
        // 600 events in one hour of one day make one hourly and one daily rollup: the monthly
        // read sums daily rollups, so it sees one row, and the events are all counted.
        let shop = shop(app).await;
        let events: Vec<Value> = (0..600)
            .map(|i| {
                ev(
                    &format!("burst-{i}"),
                    &shop.staging,
                    "api_calls",
                    "0.5",
                    "2026-11-28T10:15:00+09:00",
                )
            })
            .collect();
        let resp = app
            .post(
                &format!("/v1/accounts/{}/usage-events", shop.account),
                &app.usage_token(&shop.account),
                json!({"events": events}),
            )
            .await;
        assert_eq!(resp.body["accepted"], 600);
        let resp = get(
            app,
            "owner@acme",
            &format!("/v1/accounts/{}/usage?period=2026-11", shop.account),
        )
        .await;
        let staging = resp.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["project_id"] == shop.staging.as_str())
            .unwrap()
            .clone();
        // 800 + 600 x 0.5 = 1,100 in 604 events
        assert_eq!(
            products(&staging["products"]),
            vec![row("api_calls", "1100", 604)]
        );
        let backend = app.db.get_database_backend();
        use sea_orm::{ConnectionTrait, Statement};
        let row = app
            .db
            .query_one(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM usage_daily_rollups",
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        // Production: Oct 31, Nov 1, 5, 20 (calls), 20, 21 (disk), 25, Dec 1; Staging: 6, 15,
        // 20, 28.
        assert_eq!(n, 12);
    }
);

db_test!(
    monthly_usage_and_the_billing_table_are_paged_by_project,
    async |app: &TestApp| {
        let shop = shop(app).await;
        let mut ids = [shop.production.clone(), shop.staging.clone()];
        ids.sort();
        for (path, list, total) in [
            ("usage", "projects", None),
            ("billing/channels", "channels", Some("165335")),
        ] {
            let base = format!(
                "/v1/accounts/{}/{path}?period=2026-11&limit=1",
                shop.account
            );
            let first = get(app, "owner@acme", &base).await;
            let page: Vec<&str> = first.body[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["project_id"].as_str().unwrap())
                .collect();
            assert_eq!(page, vec![ids[0].as_str()], "{path}");
            assert_eq!(first.body["has_more"], true, "{path}");
            let cursor = first.body["next_cursor"].as_str().unwrap();
            let second = get(
                app,
                "owner@acme",
                &format!("{base}&starting_after={cursor}"),
            )
            .await;
            let page: Vec<&str> = second.body[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["project_id"].as_str().unwrap())
                .collect();
            assert_eq!(page, vec![ids[1].as_str()], "{path}");
            assert_eq!(second.body["has_more"], false, "{path}");
            assert_eq!(second.body.get("next_cursor"), None, "{path}");
            // The billing table's total covers every page.
            if let Some(total) = total {
                assert_eq!(first.body["total_amount"], total);
                assert_eq!(second.body["total_amount"], total);
            }
            let zero = format!(
                "/v1/accounts/{}/{path}?period=2026-11&limit=0",
                shop.account
            );
            app.get(&zero, &app.user_token("owner@acme"))
                .await
                .assert_problem(400, "invalid-parameters");
        }
    }
);

db_test!(
    a_product_added_after_a_read_shows_in_the_next_one,
    async |app: &TestApp| {
        app.clock.set(time::macros::datetime!(2026-11-23 12:00 UTC));
        let account = app.create_account("Acme", "KRW").await;
        app.add_member(&account, "alice", "owner").await;
        let owner = app.user_token("alice");
        let project = app.create_project(&account, "Production").await;
        app.create_product("api_calls", "call", "sum").await;
        let usage = format!("/v1/accounts/{account}/usage?period=2026-11");
        let ingest = async |id: &str, product: &str| {
            let resp = app
                .post(
                    &format!("/v1/accounts/{account}/usage-events"),
                    &app.usage_token(&account),
                    json!({"events": [{"id": id, "project_id": project, "product": product,
                                       "quantity": "3", "timestamp": "2026-11-23T10:00:00Z"}]}),
                )
                .await;
            assert_eq!(resp.body["accepted"], 1, "{}", resp.body);
        };
        ingest("e1", "api_calls").await;
        // This read caches the catalog as it is.
        let first = app.get(&usage, &owner).await;
        assert_eq!(
            first.body["projects"][0]["products"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // A product added since is found by the next read, and by the metering drill-down.
        app.create_product("disk_bytes", "byte", "max").await;
        ingest("e2", "disk_bytes").await;
        let second = app.get(&usage, &owner).await;
        let products: Vec<&str> = second.body["projects"][0]["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["product"].as_str().unwrap())
            .collect();
        assert_eq!(products, ["api_calls", "disk_bytes"]);
        let metering = app
            .get(
                &format!(
                    "/v1/accounts/{account}/projects/{project}/usage/metering?product=disk_bytes&period=2026-11"
                ),
                &owner,
            )
            .await;
        assert_eq!(metering.status, 200, "{}", metering.body);
    }
);

db_test!(
    merged_reads_keep_the_latest_gauge_and_refuse_overflowing_sums,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let account = app.create_account("Acme", "KRW").await;
        app.add_member(&account, "alice", "owner").await;
        let owner = app.user_token("alice");
        let project = app.create_project(&account, "Production").await;
        app.create_product("agents", "agent", "latest").await;
        app.create_product("api_calls", "call", "sum").await;
        let send = async |events: Value| {
            app.post(
                &format!("/v1/accounts/{account}/usage-events"),
                &app.usage_token(&account),
                json!({ "events": events }),
            )
            .await
        };
        // The gauge: 7 on the 2nd, then 5 on the 3rd (a later day, a smaller value).
        let resp = send(json!([
            {"id": "g1", "project_id": project, "product": "agents", "quantity": "7",
             "timestamp": "2026-11-02T10:00:00.5Z"},
            {"id": "g2", "project_id": project, "product": "agents", "quantity": "5",
             "timestamp": "2026-11-03T10:00:00Z"},
        ]))
        .await;
        assert_eq!(resp.body["accepted"], 2, "{}", resp.body);
        let usage = app
            .get(
                &format!("/v1/accounts/{account}/usage?period=2026-11"),
                &owner,
            )
            .await;
        assert_eq!(usage.status, 200, "{}", usage.body);
        let agents = &usage.body["projects"][0]["products"][0];
        assert_eq!(agents["product"], "agents");
        // latest: the value of the last reading (the 3rd), not the largest.
        assert_eq!(agents["quantity"], "5");
        assert_eq!(agents["event_count"], 2);

        // Two days of 9,000,000,000,000 calls each: each day fits, the month
        // (18,000,000,000,000 > 9,223,372,036,854.775807) does not, so the second is refused
        // at ingestion and the month stays readable (and billable).
        let resp = send(json!([
            {"id": "c1", "project_id": project, "product": "api_calls",
             "quantity": "9000000000000", "timestamp": "2026-11-04T10:00:00Z"},
            {"id": "c2", "project_id": project, "product": "api_calls",
             "quantity": "9000000000000", "timestamp": "2026-11-05T10:00:00Z"},
        ]))
        .await;
        assert_eq!(resp.body["accepted"], 1, "{}", resp.body);
        assert_eq!(
            resp.body["results"][1]["status"], "rejected",
            "{}",
            resp.body
        );
        assert_eq!(resp.body["results"][1]["reason"], "quantity_out_of_range");
        let usage = app
            .get(
                &format!("/v1/accounts/{account}/usage?period=2026-11"),
                &owner,
            )
            .await;
        assert_eq!(usage.status, 200, "{}", usage.body);
        let calls = &usage.body["projects"][0]["products"][1];
        assert_eq!(calls["product"], "api_calls");
        assert_eq!(calls["quantity"], "9000000000000");
        assert_eq!(calls["event_count"], 1);
    }
);
