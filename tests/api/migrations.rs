use billing_persistence::db;

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
