//! Fixtures shared by the tests of several contexts, made through the API as a real client
//! would.

use serde_json::{json, Value};
use time::macros::datetime;

use crate::helpers::TestApp;

pub const GIB: u64 = 1_073_741_824;

pub struct Shop {
    pub account: String,
    pub production: String,
    pub staging: String,
}

pub async fn product(app: &TestApp, code: &str, unit: &str, aggregation: &str, fee_group: &str) {
    let resp = app
        .post(
            "/v1/admin/products",
            &app.admin_token(),
            json!({"code": code, "name": code.replace('_', " "), "unit": unit,
                   "aggregation": aggregation, "fee_group": fee_group}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(resp.body["fee_group"], fee_group);
}

pub async fn assign(app: &TestApp, project: &str, plan: &str, from: &str) {
    let resp = app
        .post(
            &format!("/v1/admin/projects/{project}/plans"),
            &app.admin_token(),
            json!({"plan": plan, "effective_from": from}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
}

pub fn ev(id: &str, project: &str, product: &str, quantity: &str, timestamp: &str) -> Value {
    json!({"id": id, "project_id": project, "product": product, "quantity": quantity,
           "timestamp": timestamp})
}

/// Acme Korea (KRW, +09:00) with two projects, three products and two plans, and a November of
/// usage. Production: Basic until 2026-11-11 00:00, then Pro. Staging: Basic from 2026-11-15
/// 12:00 (a mid-month start, cutting a day in two).
pub async fn shop(app: &TestApp) -> Shop {
    shop_with(app, false).await
}

/// [`shop`], its plans assigned after its usage was ingested (`plans_after_usage`, changes
/// that cut the stored usage of November) or before (the usage lands on them).
pub async fn shop_with(app: &TestApp, plans_after_usage: bool) -> Shop {
    app.clock.set(datetime!(2026-12-02 00:00 UTC));
    let admin = app.admin_token();
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": "Acme Korea", "currency": "KRW", "billing_utc_offset": "+09:00"}),
        )
        .await;
    let account = resp.body["id"].as_str().unwrap().to_owned();
    let production = app.create_project(&account, "Production").await;
    let staging = app.create_project(&account, "Staging").await;
    product(app, "api_calls", "call", "sum", "api").await;
    product(app, "disk", "byte", "max", "disk").await;
    product(app, "monitoring", "hour", "sum", "other").await;
    for plan in [
        json!({"code": "basic", "name": "Basic", "currency": "KRW", "base_fee": "72000",
               "prices": {"api_calls": {"model": "per_unit", "unit_price": "1"}}}),
        json!({"code": "pro", "name": "Pro", "currency": "KRW", "base_fee": "144000",
               "prices": {
                   "api_calls": {"model": "per_unit", "unit_price": "0.5"},
                   "disk": {"model": "package", "package_size": GIB, "package_price": "100"},
                   "monitoring": {"model": "hourly", "monthly_price": "30000"}}}),
    ] {
        let resp = app.post("/v1/admin/plans", &admin, plan).await;
        assert_eq!(resp.status, 201, "{}", resp.body);
    }
    let assign_plans = async || {
        assign(app, &production, "basic", "2026-11-01T00:00:00+09:00").await;
        assign(app, &production, "pro", "2026-11-11T00:00:00+09:00").await;
        assign(app, &staging, "basic", "2026-11-15T12:00:00+09:00").await;
    };
    if !plans_after_usage {
        assign_plans().await;
    }

    let (p, s) = (production.as_str(), staging.as_str());
    let gib = |n: u64| (n * GIB).to_string();
    let events = vec![
        // 23:30 on October 31 in Seoul: October's.
        ev("p-oct", p, "api_calls", "99", "2026-10-31T23:30:00+09:00"),
        // 00:30 on November 1 in Seoul is still October 31 in UTC: it is November's.
        ev("p-1", p, "api_calls", "7", "2026-10-31T15:30:00Z"),
        ev("p-2", p, "api_calls", "1000", "2026-11-05T10:00:00+09:00"),
        ev("p-3", p, "api_calls", "3000", "2026-11-20T10:00:00+09:00"),
        ev("p-4", p, "api_calls", "1", "2026-11-20T10:59:59+09:00"),
        ev("p-5", p, "disk", &gib(10), "2026-11-20T09:00:00+09:00"),
        ev("p-6", p, "disk", &gib(12), "2026-11-20T10:00:00+09:00"),
        ev("p-7", p, "disk", &gib(11), "2026-11-21T08:00:00+09:00"),
        ev("p-8", p, "monitoring", "100", "2026-11-25T00:00:00+09:00"),
        // 00:10 on December 1 in Seoul is November 30 in UTC: December's.
        ev("p-dec", p, "api_calls", "55", "2026-11-30T15:10:00Z"),
        ev("s-1", s, "api_calls", "500", "2026-11-06T10:00:00+09:00"),
        ev("s-2", s, "api_calls", "40", "2026-11-15T11:30:00+09:00"),
        ev("s-3", s, "api_calls", "60", "2026-11-15T12:30:00+09:00"),
        ev("s-4", s, "api_calls", "200", "2026-11-20T10:00:00+09:00"),
    ];
    let resp = app
        .post(
            &format!("/v1/accounts/{account}/usage-events"),
            &app.usage_token(&account),
            json!({"events": events}),
        )
        .await;
    assert_eq!(resp.body["accepted"], 14, "{}", resp.body);
    if plans_after_usage {
        assign_plans().await;
    }

    app.add_member(&account, "owner@acme", "owner").await;
    app.add_member(&account, "carol@acme", "member").await;
    app.add_member(&account, "dave@acme", "member").await;
    app.add_participant(&production, "carol@acme", false).await;
    app.add_participant(&staging, "carol@acme", true).await;
    Shop {
        account,
        production,
        staging,
    }
}

/// Runs billing as of `as_of` as an operator.
pub async fn run_billing(app: &TestApp, as_of: &str) -> crate::helpers::Resp {
    app.post(
        "/v1/admin/billing-runs",
        &app.admin_token(),
        json!({"as_of": as_of}),
    )
    .await
}
