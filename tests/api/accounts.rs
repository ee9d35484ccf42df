//! Operators open and change accounts; the currency is fixed at creation.

use serde_json::json;

use crate::db_test;
use crate::helpers::TestApp;

db_test!(open_read_and_change_an_account, async |app: &TestApp| {
    let admin = app.admin_token();
    // Time comes from the injected clock.
    app.clock
        .set(time::macros::datetime!(2026-11-05 00:00:00 UTC));
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({
                "name": "Acme Korea", "currency": "KRW", "billing_utc_offset": "+05:30",
                "tax_rate": "0.100", "billing_email": "billing@acme.example"
            }),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let id = resp.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("acct_") && id.len() == 37);
    assert_eq!(
        resp.header("location"),
        Some(format!("/v1/admin/accounts/{id}").as_str())
    );
    assert_eq!(resp.body["currency"], "KRW");
    assert_eq!(resp.body["billing_utc_offset"], "+05:30");
    // "0.100" is stored exactly and printed in its shortest form.
    assert_eq!(resp.body["tax_rate"], "0.1");
    assert_eq!(resp.body["billing_email"], "billing@acme.example");
    assert_eq!(resp.body["created_at"], "2026-11-05T00:00:00Z");

    let read = app.get(&format!("/v1/admin/accounts/{id}"), &admin).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, resp.body);

    // Defaults: the configured offset (+09:00 in tests) and a zero tax rate.
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": "Globex", "currency": "USD"}),
        )
        .await;
    assert_eq!(resp.body["billing_utc_offset"], "+09:00");
    assert_eq!(resp.body["tax_rate"], "0");
    assert_eq!(resp.body["billing_email"], serde_json::Value::Null);

    // Change the tax rate and clear the email; absent fields keep their value.
    let resp = app
        .patch(
            &format!("/v1/admin/accounts/{id}"),
            &admin,
            json!({"tax_rate": "0.0825", "billing_email": null}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["tax_rate"], "0.0825");
    assert_eq!(resp.body["created_at"], "2026-11-05T00:00:00Z");
    assert_eq!(resp.body["billing_email"], serde_json::Value::Null);
    assert_eq!(resp.body["name"], "Acme Korea");
    assert_eq!(resp.body["billing_utc_offset"], "+05:30");

    // The currency cannot change.
    let resp = app
        .patch(
            &format!("/v1/admin/accounts/{id}"),
            &admin,
            json!({"currency": "USD"}),
        )
        .await;
    resp.assert_problem(422, "validation-error");
    assert_eq!(resp.error_fields(), vec!["currency"]);
    let read = app.get(&format!("/v1/admin/accounts/{id}"), &admin).await;
    assert_eq!(read.body["currency"], "KRW");

    // An unknown account: 404 for read and change alike.
    let missing = "acct_00000000000000000000000000000000";
    app.get(&format!("/v1/admin/accounts/{missing}"), &admin)
        .await
        .assert_problem(404, "not-found");
    app.patch(
        &format!("/v1/admin/accounts/{missing}"),
        &admin,
        json!({"name": "x"}),
    )
    .await
    .assert_problem(404, "not-found");
});

db_test!(lists_are_paginated_by_cursor, async |app: &TestApp| {
    let admin = app.admin_token();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_account(&format!("Account {i}"), "EUR").await);
    }
    created.sort();

    let first = app.get("/v1/admin/accounts?limit=2", &admin).await;
    assert_eq!(first.status, 200);
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first.body), created[0..2]);
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    // Opaque: not the id itself, and the id is not a cursor.
    assert_ne!(cursor, created[1]);
    app.get(
        &format!("/v1/admin/accounts?limit=2&starting_after={}", created[1]),
        &admin,
    )
    .await
    .assert_problem(400, "invalid-parameters");

    let second = app
        .get(
            &format!("/v1/admin/accounts?limit=2&starting_after={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(ids(&second.body), created[2..4]);
    let cursor = second.body["next_cursor"].as_str().unwrap();

    let last = app
        .get(
            &format!("/v1/admin/accounts?limit=2&starting_after={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(ids(&last.body), created[4..5]);
    assert_eq!(last.body["has_more"], false);
    assert!(last.body.get("next_cursor").is_none());

    // The default page holds all five.
    let all = app.get("/v1/admin/accounts", &admin).await;
    assert_eq!(ids(&all.body), created);
});

db_test!(
    the_billing_offset_is_fixed_once_the_account_has_usage,
    async |app: &TestApp| {
        app.clock.set(time::macros::datetime!(2026-11-23 12:00 UTC));
        let admin = app.admin_token();
        let account = app.create_account("Acme", "KRW").await;
        let path = format!("/v1/admin/accounts/{account}");
        // Without usage the offset may still change.
        let resp = app
            .patch(&path, &admin, json!({"billing_utc_offset": "+09:00"}))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(resp.body["billing_utc_offset"], "+09:00");

        app.create_product("api_calls", "call", "sum").await;
        let project = app.create_project(&account, "Production").await;
        let resp = app
            .post(
                &format!("/v1/accounts/{account}/usage-events"),
                &app.usage_token(&account),
                json!({"events": [{"id": "e1", "project_id": project, "product": "api_calls",
                                   "quantity": "1", "timestamp": "2026-11-23T10:00:00Z"}]}),
            )
            .await;
        assert_eq!(resp.body["accepted"], 1, "{}", resp.body);

        // Its rollups were cut at +09:00 midnights: another offset would move usage between
        // periods, so the change is refused and nothing of the request is stored.
        let refused = app
            .patch(
                &path,
                &admin,
                json!({"billing_utc_offset": "+00:00", "name": "Renamed"}),
            )
            .await;
        refused.assert_problem(409, "billing-offset-locked");
        let read = app.get(&path, &admin).await;
        assert_eq!(read.body["billing_utc_offset"], "+09:00");
        assert_eq!(read.body["name"], "Acme");
        // The same offset, and every other change, still go through.
        let resp = app
            .patch(
                &path,
                &admin,
                json!({"billing_utc_offset": "+09:00", "tax_rate": "0.1"}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(resp.body["tax_rate"], "0.1");
    }
);

db_test!(
    projects_are_searched_by_name_ignoring_case,
    async |app: &TestApp| {
        let account = app.create_account("Acme", "KRW").await;
        app.add_member(&account, "alice", "owner").await;
        let owner = app.user_token("alice");
        let mut ids = std::collections::HashMap::new();
        for name in [
            "Production",
            "ÄRGER Staging",
            "운영 서버",
            "50%_off",
            "Pre-prod",
        ] {
            ids.insert(name, app.create_project(&account, name).await);
        }
        let names = |body: &serde_json::Value, key: &str| -> Vec<String> {
            let mut v: Vec<String> = body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    p.get("name")
                        .or_else(|| p.get("project_name"))
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            v.sort();
            v
        };
        let projects = format!("/v1/accounts/{account}/projects");
        for (q, expected) in [
            ("PROD", vec!["Pre-prod", "Production"]),
            ("ärger", vec!["ÄRGER Staging"]),
            ("%EC%9A%B4%EC%98%81", vec!["운영 서버"]),
            // `%` and `_` match themselves, not any text.
            ("%25", vec!["50%_off"]),
            ("_", vec!["50%_off"]),
            ("nothing", vec![]),
        ] {
            let resp = app.get(&format!("{projects}?q={q}"), &owner).await;
            assert_eq!(resp.status, 200, "{q}: {}", resp.body);
            assert_eq!(names(&resp.body, "data"), expected, "q={q}");
        }
        // Paged as without a search.
        let first = app.get(&format!("{projects}?q=prod&limit=1"), &owner).await;
        assert_eq!(first.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(first.body["has_more"], true);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = app
            .get(
                &format!("{projects}?q=prod&limit=1&starting_after={cursor}"),
                &owner,
            )
            .await;
        assert_eq!(second.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(second.body["has_more"], false);
        assert_ne!(first.body["data"][0]["id"], second.body["data"][0]["id"]);
        // The monthly usage read takes the same search.
        let usage = app
            .get(
                &format!("/v1/accounts/{account}/usage?q=production"),
                &owner,
            )
            .await;
        assert_eq!(usage.status, 200, "{}", usage.body);
        assert_eq!(names(&usage.body, "projects"), vec!["Production"]);
        // A search longer than 200 characters is a bad parameter.
        app.get(&format!("{projects}?q={}", "a".repeat(201)), &owner)
            .await
            .assert_problem(400, "invalid-parameters");
    }
);
