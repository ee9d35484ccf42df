//! Every error is RFC 9457 problem+json with a stable type, a request id and field errors, and
//! bad input stores nothing.

use serde_json::json;

use crate::db_test;
use crate::helpers::TestApp;

db_test!(actix_level_errors_are_problems, async |app: &TestApp| {
    let admin = app.admin_token();

    // Unknown route (authenticated or not): 404 problem.
    app.get("/v1/nothing-here", &admin)
        .await
        .assert_problem(404, "not-found");
    app.send(app.client.get(app.url("/nope")))
        .await
        .assert_problem(404, "not-found");

    // Wrong method on a real route: 405 with Allow.
    let resp = app.delete("/v1/admin/accounts", &admin).await;
    resp.assert_problem(405, "method-not-allowed");
    assert_eq!(resp.header("allow"), Some("GET, POST"));

    // Not JSON, truncated JSON, the wrong top-level shape, an object followed by more: 400
    // malformed-body, and nothing is created.
    for body in [
        "{\"name\":",
        "not json",
        "[1,2]",
        "",
        "{\"name\": \"Acme\", \"currency\": \"KRW\"} {}",
    ] {
        let resp = app
            .post_raw(
                "/v1/admin/accounts",
                &admin,
                "application/json",
                body.into(),
            )
            .await;
        resp.assert_problem(400, "malformed-body");
    }
    let accounts = app.get("/v1/admin/accounts", &admin).await;
    assert_eq!(accounts.body["data"], json!([]));

    // A body that is not JSON at all: 415.
    let resp = app
        .post_raw("/v1/admin/accounts", &admin, "text/plain", "name=x".into())
        .await;
    resp.assert_problem(415, "unsupported-media-type");

    // Over the body limit (1 MiB by default): 413.
    let big = format!(
        "{{\"name\":\"{}\",\"currency\":\"USD\"}}",
        "x".repeat(1_100_000)
    );
    let resp = app
        .post_raw("/v1/admin/accounts", &admin, "application/json", big)
        .await;
    resp.assert_problem(413, "payload-too-large");

    // Bad query parameters: 400 naming the parameter.
    for query in ["limit=abc", "limit=0", "limit=101", "limit=-1"] {
        let resp = app
            .get(&format!("/v1/admin/accounts?{query}"), &admin)
            .await;
        resp.assert_problem(400, "invalid-parameters");
        assert_eq!(resp.error_fields(), vec!["limit"]);
    }

    // A malformed id in the path names nothing: 404.
    app.get("/v1/admin/accounts/acct_not-an-id", &admin)
        .await
        .assert_problem(404, "not-found");

    // None of the refused requests stored anything.
    let list = app.get("/v1/admin/accounts", &admin).await;
    assert_eq!(list.body["data"], json!([]));
});

db_test!(
    validation_names_every_invalid_field,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": "", "currency": "USD", "tax_rate": "1.5", "billing_utc_offset": "+25:00"}),
        )
        .await;
        resp.assert_problem(422, "validation-error");
        let mut fields = resp.error_fields();
        fields.dedup();
        assert_eq!(fields, vec!["billing_utc_offset", "name", "tax_rate"]);

        // Values that pass the schema but not the domain: an unknown currency, a bad email.
        let resp = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "Acme", "currency": "ABC", "billing_email": "nobody"}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), vec!["currency", "billing_email"]);

        // A wrong JSON type names its field.
        let resp = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "Acme", "currency": 410}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), vec!["currency"]);

        // Unknown fields are refused, so a typo never silently does nothing.
        let resp = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "Acme", "currency": "USD", "tax_rat": "0.1"}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), vec!["tax_rat"]);

        // Nothing was stored by any of them.
        let list = app.get("/v1/admin/accounts", &admin).await;
        assert_eq!(list.body["data"], json!([]));
    }
);

db_test!(request_ids_are_echoed_or_made, async |app: &TestApp| {
    let resp = app
        .send(
            app.client
                .get(app.url("/v1/admin/accounts"))
                .header("x-request-id", "trace-abc-123"),
        )
        .await;
    let body = resp.assert_problem(401, "unauthenticated");
    assert_eq!(body["request_id"], "trace-abc-123");

    // A malformed incoming id is replaced, never reflected.
    let resp = app
        .send(
            app.client
                .get(app.url("/v1/admin/accounts"))
                .header("x-request-id", "<script>"),
        )
        .await;
    let body = resp.assert_problem(401, "unauthenticated");
    assert_ne!(body["request_id"], "<script>");

    // Successful responses carry one too.
    let resp = app.get("/v1/admin/accounts", &app.admin_token()).await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("x-request-id").is_some_and(|id| id.len() >= 32));
});

/// Writes `head` on a fresh connection and reads the whole answer.
async fn raw_exchange(app: &TestApp, head: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer and close before the whole head is written.
    let _ = stream.write_all(&head).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

// What docs/errors.md says of the two answers the HTTP parser writes without the application:
// if actix ever lets the application shape them, this fails and the page must change.
db_test!(
    the_http_parser_answers_oversized_and_invalid_heads_itself,
    async |app: &TestApp| {
        let mut many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..120 {
            many.extend_from_slice(format!("X-H{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let mut big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 140 * 1024));
        big.extend_from_slice(b"\r\n\r\n");
        for head in [many, big] {
            let answer = raw_exchange(app, head).await;
            assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
            assert!(answer.contains("content-length: 0"), "{answer}");
        }
        let answer = raw_exchange(app, "GET /héllo HTTP/1.1\r\nHost: x\r\n\r\n".into()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("content-length: 0"), "{answer}");
        // The same request percent-encoded reaches the application: a problem+json 404.
        app.send(app.client.get(app.url("/h%C3%A9llo")))
            .await
            .assert_problem(404, "not-found");
    }
);
