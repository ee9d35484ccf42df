use crate::db_test;
use crate::helpers::TestApp;

db_test!(health_and_readiness_answer, async |app: &TestApp| {
    let resp = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["status"], "ok");
    assert!(resp.header("x-request-id").is_some());

    let resp = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["status"], "ready");
    let expected = match app.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgresql",
    };
    assert_eq!(resp.body["database"], expected);

    // The docs page is served from the binary, without internet.
    let resp = app.send(app.client.get(app.url("/docs/"))).await;
    assert_eq!(resp.status, 200);
    let page = resp.body.as_str().unwrap_or_default();
    assert!(page.contains("swagger-ui"), "not the Swagger UI page");
    let resp = app
        .send(app.client.get(app.url("/docs/swagger-ui-bundle.js")))
        .await;
    assert_eq!(resp.status, 200, "the Swagger UI bundle is not vendored");
    let resp = app.send(app.client.get(app.url("/docs"))).await;
    assert!(matches!(resp.status, 301 | 302 | 307 | 308));
});
