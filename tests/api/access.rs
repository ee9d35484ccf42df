//! Access rules: members see their accounts; owners and billing admins every project with its
//! costs; members the projects they take part in, with costs only where they have billing
//! permission; a caller never learns whether another account's resource exists.

use serde_json::json;

use crate::db_test;
use crate::helpers::TestApp;

struct World {
    acme: String,
    globex: String,
    prod: String,
    staging: String,
    lake: String,
    web: String,
}

async fn world(app: &TestApp) -> World {
    let acme = app.create_account("Acme", "KRW").await;
    let globex = app.create_account("Globex", "USD").await;
    app.add_member(&acme, "alice", "owner").await;
    app.add_member(&acme, "bob", "billing_admin").await;
    app.add_member(&acme, "carol", "member").await;
    app.add_member(&globex, "dave", "owner").await;
    // carol belongs to both accounts, as a member of Globex too.
    app.add_member(&globex, "carol", "member").await;
    let prod = app.create_project(&acme, "Production").await;
    let staging = app.create_project(&acme, "Staging").await;
    let lake = app.create_project(&acme, "Data Lake").await;
    let web = app.create_project(&globex, "Web").await;
    app.add_participant(&prod, "carol", true).await;
    app.add_participant(&staging, "carol", false).await;
    World {
        acme,
        globex,
        prod,
        staging,
        lake,
        web,
    }
}

fn project_view(body: &serde_json::Value) -> Vec<(String, bool)> {
    let mut view: Vec<(String, bool)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["billing_permission"].as_bool().unwrap(),
            )
        })
        .collect();
    view.sort();
    view
}

fn sorted(mut v: Vec<(String, bool)>) -> Vec<(String, bool)> {
    v.sort();
    v
}

db_test!(
    owners_admins_and_members_see_what_they_may,
    async |app: &TestApp| {
        let w = world(app).await;
        let path = format!("/v1/accounts/{}/projects", w.acme);

        for owner_or_admin in ["alice", "bob"] {
            let resp = app.get(&path, &app.user_token(owner_or_admin)).await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            assert_eq!(
                project_view(&resp.body),
                sorted(vec![
                    (w.prod.clone(), true),
                    (w.staging.clone(), true),
                    (w.lake.clone(), true)
                ])
            );
        }
        // carol: only her two projects, costs only on Production.
        let resp = app.get(&path, &app.user_token("carol")).await;
        assert_eq!(
            project_view(&resp.body),
            sorted(vec![(w.prod.clone(), true), (w.staging.clone(), false)])
        );
        // A project carol does not take part in answers 404, as if it did not exist.
        let carol = app.user_token("carol");
        app.get(
            &format!("/v1/accounts/{}/projects/{}", w.acme, w.lake),
            &carol,
        )
        .await
        .assert_problem(404, "not-found");
        let resp = app
            .get(
                &format!("/v1/accounts/{}/projects/{}", w.acme, w.staging),
                &carol,
            )
            .await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body["billing_permission"], false);
        assert_eq!(resp.body["name"], "Staging");

        // Her accounts, with her role in each.
        let resp = app.get("/v1/accounts", &carol).await;
        let mut accounts: Vec<(String, String)> = resp.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["id"].as_str().unwrap().to_owned(),
                    a["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        accounts.sort();
        let mut expected = vec![
            (w.acme.clone(), "member".to_owned()),
            (w.globex.clone(), "member".to_owned()),
        ];
        expected.sort();
        assert_eq!(accounts, expected);

        // Granting billing permission on Staging shows its costs to carol.
        app.add_participant(&w.staging, "carol", true).await;
        let resp = app.get(&path, &carol).await;
        assert_eq!(
            project_view(&resp.body),
            sorted(vec![(w.prod.clone(), true), (w.staging.clone(), true)])
        );
    }
);

db_test!(
    another_accounts_resources_answer_404,
    async |app: &TestApp| {
        let w = world(app).await;
        let dave = app.user_token("dave");
        // dave (Globex) asks for Acme and an Acme project through Globex: the same 404 as a
        // resource that does not exist.
        let missing = "acct_00000000000000000000000000000000";
        let not_mine = app.get(&format!("/v1/accounts/{}", w.acme), &dave).await;
        let absent = app.get(&format!("/v1/accounts/{missing}"), &dave).await;
        not_mine.assert_problem(404, "not-found");
        absent.assert_problem(404, "not-found");
        assert_eq!(not_mine.body["title"], absent.body["title"]);
        assert_eq!(not_mine.body.get("detail"), absent.body.get("detail"));
        app.get(&format!("/v1/accounts/{}/projects", w.acme), &dave)
            .await
            .assert_problem(404, "not-found");
        app.get(
            &format!("/v1/accounts/{}/projects/{}", w.globex, w.prod),
            &dave,
        )
        .await
        .assert_problem(404, "not-found");
        // His own project is fine.
        let resp = app
            .get(
                &format!("/v1/accounts/{}/projects/{}", w.globex, w.web),
                &dave,
            )
            .await;
        assert_eq!(resp.status, 200);

        // A token limited to Globex cannot reach Acme, even for carol who belongs to both.
        let carol_globex = app.mint("carol", Some(&w.globex), None);
        app.get(&format!("/v1/accounts/{}", w.acme), &carol_globex)
            .await
            .assert_problem(404, "not-found");
        let resp = app.get("/v1/accounts", &carol_globex).await;
        let ids: Vec<&str> = resp.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![w.globex.as_str()]);
        // A user who belongs nowhere sees no accounts.
        let resp = app.get("/v1/accounts", &app.user_token("mallory")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body["data"], json!([]));
    }
);

db_test!(
    members_and_participants_are_managed_by_operators,
    async |app: &TestApp| {
        let w = world(app).await;
        let admin = app.admin_token();

        // Changing a role is idempotent and keeps one membership.
        app.add_member(&w.acme, "carol", "billing_admin").await;
        app.add_member(&w.acme, "carol", "billing_admin").await;
        let resp = app
            .get(&format!("/v1/admin/accounts/{}/members", w.acme), &admin)
            .await;
        let members: Vec<(String, String)> = resp.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["user_id"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            members,
            vec![
                ("alice".to_owned(), "owner".to_owned()),
                ("bob".to_owned(), "billing_admin".to_owned()),
                ("carol".to_owned(), "billing_admin".to_owned()),
            ]
        );
        // As billing admin carol now sees all three Acme projects.
        let resp = app
            .get(
                &format!("/v1/accounts/{}/projects", w.acme),
                &app.user_token("carol"),
            )
            .await;
        assert_eq!(resp.body["data"].as_array().map(Vec::len), Some(3));

        // Only members of the account can take part in its projects.
        let resp = app
            .put(
                &format!("/v1/admin/projects/{}/participants/dave", w.prod),
                &admin,
                json!({"billing_permission": true}),
            )
            .await;
        resp.assert_problem(409, "not-a-member");
        // Nothing was stored.
        let resp = app
            .get(
                &format!("/v1/admin/projects/{}/participants", w.prod),
                &admin,
            )
            .await;
        let users: Vec<&str> = resp.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(users, vec!["carol"]);

        // An invalid role is a field error.
        let resp = app
            .put(
                &format!("/v1/admin/accounts/{}/members/zed", w.acme),
                &admin,
                json!({"role": "admin"}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), vec!["role"]);

        // Removing a member also removes its participations; then it sees nothing.
        app.add_member(&w.acme, "carol", "member").await;
        let resp = app
            .delete(
                &format!("/v1/admin/accounts/{}/members/carol", w.acme),
                &admin,
            )
            .await;
        assert_eq!(resp.status, 204);
        let resp = app
            .get(
                &format!("/v1/admin/projects/{}/participants", w.prod),
                &admin,
            )
            .await;
        assert_eq!(resp.body["data"], json!([]));
        app.get(
            &format!("/v1/accounts/{}", w.acme),
            &app.user_token("carol"),
        )
        .await
        .assert_problem(404, "not-found");
        // Removing again: 404.
        app.delete(
            &format!("/v1/admin/accounts/{}/members/carol", w.acme),
            &admin,
        )
        .await
        .assert_problem(404, "not-found");

        // Closing a project is final.
        let resp = app
            .patch(
                &format!("/v1/admin/projects/{}", w.lake),
                &admin,
                json!({"closed": true}),
            )
            .await;
        assert_eq!(resp.status, 200);
        assert!(resp.body["closed_at"].is_string());
        app.patch(
            &format!("/v1/admin/projects/{}", w.lake),
            &admin,
            json!({"closed": false}),
        )
        .await
        .assert_problem(409, "project-closed");
    }
);

db_test!(operators_read_every_customer_view, async |app: &TestApp| {
    let w = world(app).await;
    let admin = app.admin_token();
    let bob = app.user_token("bob");

    // An operator sees any account as its billing admin would: the same projects, each
    // with billing permission.
    let account = app.get(&format!("/v1/accounts/{}", w.acme), &admin).await;
    assert_eq!(account.status, 200);
    assert_eq!(account.body["role"], "billing_admin");
    assert_eq!(account.body["id"], w.acme.as_str());
    let as_operator = app
        .get(&format!("/v1/accounts/{}/projects", w.acme), &admin)
        .await;
    let as_billing_admin = app
        .get(&format!("/v1/accounts/{}/projects", w.acme), &bob)
        .await;
    assert_eq!(as_operator.status, 200);
    assert_eq!(
        project_view(&as_operator.body),
        project_view(&as_billing_admin.body)
    );
    assert_eq!(
        project_view(&as_operator.body),
        sorted(vec![
            (w.prod.clone(), true),
            (w.staging.clone(), true),
            (w.lake.clone(), true)
        ])
    );
    // Every customer read of the other account too, and one project of it.
    let web = app
        .get(
            &format!("/v1/accounts/{}/projects/{}", w.globex, w.web),
            &admin,
        )
        .await;
    assert_eq!(web.status, 200);
    assert_eq!(web.body["billing_permission"], true);
    for path in [
        format!("/v1/accounts/{}/usage", w.globex),
        format!("/v1/accounts/{}/billing/channels", w.globex),
        format!("/v1/accounts/{}/projects/{}/usage/daily", w.globex, w.web),
    ] {
        assert_eq!(app.get(&path, &admin).await.status, 200, "{path}");
    }
    // The account list of an operator is every account.
    let list = app.get("/v1/accounts", &admin).await;
    let mut ids: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![w.acme.as_str(), w.globex.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    // An unknown account is still a 404 to an operator.
    app.get("/v1/accounts/acct_00000000000000000000000000000000", &admin)
        .await
        .assert_problem(404, "not-found");
});

db_test!(
    a_member_removed_while_joining_a_project_leaves_no_participant,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let account = app.create_account("Race Co", "USD").await;
        let project = app.create_project(&account, "Production").await;
        for round in 0..25 {
            let user = format!("racer-{round}");
            app.add_member(&account, &user, "member").await;
            // Both at once: joining the project and leaving the account.
            let join_path = format!("/v1/admin/projects/{project}/participants/{user}");
            let leave_path = format!("/v1/admin/accounts/{account}/members/{user}");
            let join = app.put(&join_path, &admin, json!({"billing_permission": true}));
            let leave = app.delete(&leave_path, &admin);
            let (joined, left) = tokio::join!(join, leave);
            assert_eq!(left.status, 204, "{}", left.body);
            // Joining either won before the removal (and the removal took it away) or came
            // after it (and found no member).
            assert!(
                joined.status == 200 || joined.status == 409,
                "{} {}",
                joined.status,
                joined.body
            );
            if joined.status == 409 {
                joined.assert_problem(409, "not-a-member");
            }
        }
        // Whatever the interleaving: no participant is left who is no member.
        let participants = app
            .get(
                &format!("/v1/admin/projects/{project}/participants?limit=100"),
                &admin,
            )
            .await;
        assert_eq!(participants.status, 200);
        assert_eq!(
            participants.body["data"],
            json!([]),
            "{}",
            participants.body
        );
    }
);
