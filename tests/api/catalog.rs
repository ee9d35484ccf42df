//! Operators publish products and plans and put projects on plans.

use serde_json::json;

use crate::db_test;
use crate::helpers::TestApp;

async fn product(app: &TestApp, code: &str, unit: &str, aggregation: &str) {
    app.create_product(code, unit, aggregation).await;
}

db_test!(products_are_created_once_by_code, async |app: &TestApp| {
    let admin = app.admin_token();
    let resp = app
        .post(
            "/v1/admin/products",
            &admin,
            json!({"code": "api_calls", "name": "API calls", "unit": "call", "aggregation": "sum"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(
        resp.header("location"),
        Some("/v1/admin/products/api_calls")
    );
    assert_eq!(resp.body["aggregation"], "sum");

    let again = app
        .post(
            "/v1/admin/products",
            &admin,
            json!({"code": "api_calls", "name": "Other", "unit": "call", "aggregation": "max"}),
        )
        .await;
    again.assert_problem(409, "product-exists");
    let read = app.get("/v1/admin/products/api_calls", &admin).await;
    assert_eq!(read.body["name"], "API calls");

    let bad = app
        .post(
            "/v1/admin/products",
            &admin,
            json!({"code": "disk", "name": "Disk", "unit": "byte", "aggregation": "average"}),
        )
        .await;
    bad.assert_problem(422, "validation-error");
    assert_eq!(bad.error_fields(), vec!["aggregation"]);
    let bad = app
        .post(
            "/v1/admin/products",
            &admin,
            json!({"code": "Disk Bytes", "name": "Disk", "unit": "byte", "aggregation": "max"}),
        )
        .await;
    bad.assert_problem(422, "validation-error");
    assert_eq!(bad.error_fields(), vec!["code"]);

    product(app, "disk_bytes", "byte", "max").await;
    product(app, "monitoring", "hour", "sum").await;
    let page = app.get("/v1/admin/products?limit=2", &admin).await;
    let codes: Vec<&str> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["api_calls", "disk_bytes"]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/v1/admin/products?limit=2&starting_after={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(next.body["data"][0]["code"], "monitoring", "{}", next.body);
    app.get("/v1/admin/products/nothing", &admin)
        .await
        .assert_problem(404, "not-found");
});

db_test!(
    plans_keep_every_price_model_exactly,
    async |app: &TestApp| {
        let admin = app.admin_token();
        for (code, unit, aggregation) in [
            ("api_calls", "call", "sum"),
            ("disk_bytes", "byte", "max"),
            ("monitoring", "hour", "sum"),
            ("sms", "message", "sum"),
            ("seats", "seat", "latest"),
        ] {
            product(app, code, unit, aggregation).await;
        }
        let plan = json!({
            "code": "standard-2026", "name": "Standard", "currency": "KRW", "base_fee": "30000",
            "prices": {
                "api_calls": {"model": "package", "package_size": 1000, "package_price": "500", "free_quantity": "10000"},
                "disk_bytes": {"model": "graduated",
                               "tiers": [{"units": 10737418240u64, "unit_price": "0"}],
                               "beyond": {"unit_price": "0.000000002000"}},
                "monitoring": {"model": "hourly", "monthly_price": "30000"},
                "sms": {"model": "per_unit", "unit_price": "12.5"},
                "seats": {"model": "volume",
                          "tiers": [{"units": 10, "unit_price": "9000", "flat_fee": "1000"}, {"units": 40, "unit_price": "8000"}],
                          "beyond": {"unit_price": "7000"}}
            }
        });
        let resp = app.post("/v1/admin/plans", &admin, plan).await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        let read = app.get("/v1/admin/plans/standard-2026", &admin).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body, resp.body);
        let prices = &read.body["prices"];
        assert_eq!(read.body["base_fee"], "30000");
        assert_eq!(
            prices["api_calls"],
            json!({"model": "package", "package_size": 1000, "package_price": "500", "free_quantity": "10000"})
        );
        // Exact decimals come back in their shortest form: 0.000000002000 -> 0.000000002.
        assert_eq!(prices["disk_bytes"]["beyond"]["unit_price"], "0.000000002");
        assert_eq!(prices["disk_bytes"]["tiers"][0]["units"], 10737418240u64);
        assert_eq!(prices["monitoring"]["monthly_price"], "30000");
        assert_eq!(prices["sms"]["unit_price"], "12.5");
        // Widths survive the trip through stored bounds (10, then 40 more up to 50).
        assert_eq!(prices["seats"]["tiers"][0]["units"], 10);
        assert_eq!(prices["seats"]["tiers"][1]["units"], 40);
        assert_eq!(prices["seats"]["tiers"][0]["flat_fee"], "1000");
        assert_eq!(prices["seats"]["beyond"]["unit_price"], "7000");

        // Published plans cannot be published again under the same code.
        let again = app
        .post("/v1/admin/plans", &admin, json!({"code": "standard-2026", "name": "x", "currency": "KRW", "base_fee": "1", "prices": {}}))
        .await;
        again.assert_problem(409, "plan-exists");

        // A price for a product the catalog lacks: 409, and the plan is not stored.
        let missing = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "ghost", "name": "Ghost", "currency": "KRW", "base_fee": "0",
                   "prices": {"teleport": {"model": "per_unit", "unit_price": "1"}}}),
            )
            .await;
        missing.assert_problem(409, "unknown-product");
        app.get("/v1/admin/plans/ghost", &admin)
            .await
            .assert_problem(404, "not-found");

        // A price that is not a decimal names its field.
        let bad = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "bad", "name": "Bad", "currency": "KRW", "base_fee": "0",
                   "prices": {"sms": {"model": "per_unit", "unit_price": "1e3"}}}),
            )
            .await;
        bad.assert_problem(422, "validation-error");
        assert_eq!(bad.error_fields(), vec!["prices.sms.unit_price"]);
    }
);

db_test!(
    projects_change_plans_at_an_instant,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let krw_account = app.create_account("Acme", "KRW").await;
        let usd_account = app.create_account("Globex", "USD").await;
        let project = app.create_project(&krw_account, "Production").await;
        let usd_project = app.create_project(&usd_account, "Web").await;
        for (code, fee) in [("basic", "10000"), ("pro", "30000")] {
            let resp = app
            .post("/v1/admin/plans", &admin, json!({"code": code, "name": code, "currency": "KRW", "base_fee": fee, "prices": {}}))
            .await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        let path = format!("/v1/admin/projects/{project}/plans");
        let resp = app
            .post(
                &path,
                &admin,
                json!({"plan": "basic", "effective_from": "2026-11-01T00:00:00+09:00"}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        assert_eq!(resp.body["effective_from"], "2026-10-31T15:00:00Z");
        let resp = app
            .post(
                &path,
                &admin,
                json!({"plan": "pro", "effective_from": "2026-11-11T00:00:00+09:00"}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);

        // Two changes at one instant cannot both hold.
        app.post(
            &path,
            &admin,
            json!({"plan": "basic", "effective_from": "2026-11-11T00:00:00+09:00"}),
        )
        .await
        .assert_problem(409, "plan-change-exists");
        // A change outside the billing periods kept (years 2000 to 9998): 422, nothing stored.
        for instant in ["0801-10-24T15:26:51Z", "1999-12-31T14:59:59Z"] {
            let refused = app
                .post(
                    &path,
                    &admin,
                    json!({"plan": "pro", "effective_from": instant}),
                )
                .await;
            refused.assert_problem(422, "validation-error");
            assert_eq!(refused.error_fields(), ["effective_from"]);
            assert!(!refused.body.to_string().contains(instant));
        }
        // A KRW plan on a USD account, and an unknown plan.
        app.post(
            &format!("/v1/admin/projects/{usd_project}/plans"),
            &admin,
            json!({"plan": "pro"}),
        )
        .await
        .assert_problem(409, "currency-mismatch");
        app.post(&path, &admin, json!({"plan": "platinum"}))
            .await
            .assert_problem(409, "unknown-plan");
        app.post(
            "/v1/admin/projects/proj_00000000000000000000000000000000/plans",
            &admin,
            json!({"plan": "pro"}),
        )
        .await
        .assert_problem(404, "not-found");

        let history = app.get(&path, &admin).await;
        let plans: Vec<(&str, &str)> = history.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["plan"].as_str().unwrap(),
                    a["effective_from"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            plans,
            vec![
                ("basic", "2026-10-31T15:00:00Z"),
                ("pro", "2026-11-10T15:00:00Z")
            ]
        );
        let first = app.get(&format!("{path}?limit=1"), &admin).await;
        assert_eq!(first.body["has_more"], true);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let rest = app
            .get(&format!("{path}?limit=1&starting_after={cursor}"), &admin)
            .await;
        assert_eq!(rest.body["data"][0]["plan"], "pro");
        assert_eq!(rest.body["has_more"], false);
    }
);

db_test!(
    plan_history_pages_by_instant_not_by_text,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let account = app.create_account("Acme", "KRW").await;
        let project = app.create_project(&account, "Production").await;
        let resp = app
            .post("/v1/admin/plans", &admin, json!({"code": "basic", "name": "Basic", "currency": "KRW", "base_fee": "1000", "prices": {}}))
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        let path = format!("/v1/admin/projects/{project}/plans");
        // As text `...00.5Z` sorts before `...00Z`; as instants it is half a second after.
        for instant in [
            "2026-11-01T00:00:00.5Z",
            "2026-11-01T00:00:00Z",
            "2026-11-01T00:00:01Z",
        ] {
            let resp = app
                .post(
                    &path,
                    &admin,
                    json!({"plan": "basic", "effective_from": instant}),
                )
                .await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..4 {
            let page_path = match &cursor {
                None => format!("{path}?limit=1"),
                Some(c) => format!("{path}?limit=1&starting_after={c}"),
            };
            let page = app.get(&page_path, &admin).await;
            assert_eq!(page.status, 200, "{}", page.body);
            for item in page.body["data"].as_array().unwrap() {
                seen.push(item["effective_from"].as_str().unwrap().to_owned());
            }
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [
                "2026-11-01T00:00:00Z",
                "2026-11-01T00:00:00.5Z",
                "2026-11-01T00:00:01Z"
            ]
        );
        // A cursor that is no instant is a bad parameter, not a silent empty page.
        app.get(&format!("{path}?starting_after=yesterday"), &admin)
            .await
            .assert_problem(400, "invalid-parameters");
    }
);
