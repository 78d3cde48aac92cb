//! The store suite: every test runs on SQLite and, when configured, on PostgreSQL.

use std::future::Future;
use vestibule_model::user::{EmailAddress, PasswordDigest, PhoneNumber, Web3Wallet};
use vestibule_model::*;
use vestibule_store::testing::{backends, fresh, Backend, TestStore};
use vestibule_store::{clients, instance, keys, sessions, sign_ins, users, StoreError};

async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let ts = fresh(backend).await;
        eprintln!("backend {backend:?}");
        test(ts).await;
    }
}

/// The first ten users and how many there are.
async fn first_users(store: &vestibule_store::Store) -> (Vec<User>, i64) {
    let filter = users::ListFilter {
        limit: 10,
        ..Default::default()
    };
    let mut c = store.read().await.expect("read");
    users::list(&mut c, &filter).await.expect("list")
}

fn t(ms: i64) -> Timestamp {
    Timestamp(1_700_000_000_000 + ms)
}

fn user(n: u32) -> User {
    let email_id = IdentificationId::from_trusted(format!("idn_e{n}"));
    let phone_id = IdentificationId::from_trusted(format!("idn_p{n}"));
    let wallet_id = IdentificationId::from_trusted(format!("idn_w{n}"));
    User {
        id: UserId::from_trusted(format!("user_{n}")),
        external_id: Some(format!("ext-{n}")),
        username: Some(format!("user{n}")),
        first_name: Some(format!("First{n}")),
        last_name: Some("Last".into()),
        email_addresses: vec![EmailAddress {
            id: email_id.clone(),
            email_address: format!("user{n}@example.com"),
            verified: true,
            verification_strategy: Some("admin".into()),
            created_at: t(i64::from(n)),
        }],
        phone_numbers: vec![PhoneNumber {
            id: phone_id.clone(),
            phone_number: format!("+1555000{n:04}"),
            verified: true,
            verification_strategy: Some("admin".into()),
            reserved_for_second_factor: false,
            default_second_factor: false,
            created_at: t(i64::from(n)),
        }],
        primary_email_address_id: Some(email_id),
        primary_phone_number_id: Some(phone_id),
        web3_wallets: vec![Web3Wallet {
            id: wallet_id.clone(),
            web3_wallet: format!("0x{n:040x}"),
            verified: true,
            verification_strategy: Some("admin".into()),
            created_at: t(i64::from(n)),
        }],
        primary_web3_wallet_id: Some(wallet_id),
        passkeys: Vec::new(),
        password: Some(PasswordDigest {
            hasher: "argon2id".into(),
            digest: format!("$argon2id$v=19$m=19456,t=2,p=1$salt{n}$hash"),
        }),
        public_metadata: serde_json::json!({"plan": "pro", "n": n}),
        private_metadata: serde_json::json!({}),
        unsafe_metadata: serde_json::json!({"u": [1, 2]}),
        banned: false,
        locked_until: None,
        failed_verification_attempts: 0,
        totp_enabled: false,
        backup_codes_remaining: 0,
        last_sign_in_at: None,
        last_active_at: None,
        created_at: t(i64::from(n) * 1000),
        updated_at: t(i64::from(n) * 1000),
    }
}

fn session(id: &str, client: &str, user: &str, at: i64) -> Session {
    Session::new(
        SessionId::from_trusted(id.into()),
        ClientId::from_trusted(client.into()),
        UserId::from_trusted(user.into()),
        t(at),
        &Settings::default().sessions,
        t(at),
        None,
    )
}

#[tokio::test]
async fn users_round_trip_and_lookup_by_each_identifier() {
    on_every_backend(|ts| async move {
        let u = user(1);
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &u).await.expect("insert");
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        let got = users::get(&mut c, &u.id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(got, u);
        let wallet = "0x0000000000000000000000000000000000000001";
        for typed in ["USER1@example.com", "+15550000001", "User1", wallet] {
            let ident = Identifier::classify(typed).expect("valid");
            let found = users::find_by_identifier(&mut c, &ident)
                .await
                .expect("find");
            assert_eq!(found.map(|f| f.id), Some(u.id.clone()), "{typed}");
        }
        let missing = Identifier::classify("nobody@example.com").expect("valid");
        assert!(users::find_by_identifier(&mut c, &missing)
            .await
            .expect("find")
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn duplicate_identifiers_are_conflicts_naming_the_field() {
    on_every_backend(|ts| async move {
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &user(1)).await.expect("insert");
        tx.commit().await.expect("commit");

        let mut same_email = user(2);
        same_email.email_addresses[0].email_address = "user1@example.com".into();
        let mut same_username = user(3);
        same_username.username = Some("user1".into());
        let mut same_phone = user(4);
        same_phone.phone_numbers[0].phone_number = "+15550000001".into();
        let mut same_wallet = user(5);
        same_wallet.web3_wallets[0].web3_wallet = user(1).web3_wallets[0].web3_wallet.clone();
        for (candidate, field) in [
            (same_email, "email_address"),
            (same_username, "username"),
            (same_phone, "phone_number"),
            (same_wallet, "web3_wallet"),
        ] {
            let mut tx = ts.store.begin().await.expect("begin");
            let err = users::insert(&mut tx, &candidate)
                .await
                .expect_err("conflict");
            assert!(
                matches!(err, StoreError::Conflict { what } if what == field),
                "{field}: {err:?}"
            );
            drop(tx); // rolled back: nothing of the candidate remains
        }
        let (all, total) = first_users(&ts.store).await;
        assert_eq!((all.len(), total), (1, 1));
    })
    .await;
}

#[tokio::test]
async fn list_filters_pages_and_counts() {
    on_every_backend(|ts| async move {
        let mut tx = ts.store.begin().await.expect("begin");
        for n in 1..=7 {
            users::insert(&mut tx, &user(n)).await.expect("insert");
        }
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        let page = |offset, limit| users::ListFilter {
            limit,
            offset,
            ..Default::default()
        };
        let (first, total) = users::list(&mut c, &page(0, 3)).await.expect("list");
        assert_eq!(total, 7);
        let names: Vec<_> = first.iter().map(|u| u.id.to_string()).collect();
        assert_eq!(names, ["user_7", "user_6", "user_5"], "newest first");
        let (last, _) = users::list(&mut c, &page(6, 3)).await.expect("list");
        assert_eq!(last.len(), 1);
        assert_eq!(
            last[0].email_addresses.len(),
            1,
            "children loaded on pages too"
        );

        let by_email = users::ListFilter {
            email_addresses: vec!["user2@example.com".into(), "user5@example.com".into()],
            limit: 10,
            ..Default::default()
        };
        let (found, total) = users::list(&mut c, &by_email).await.expect("list");
        assert_eq!(total, 2);
        assert_eq!(
            found.iter().map(|u| u.id.to_string()).collect::<Vec<_>>(),
            ["user_5", "user_2"]
        );

        let query = users::ListFilter {
            query: Some("USER3@".into()),
            limit: 10,
            ..Default::default()
        };
        let (found, _) = users::list(&mut c, &query).await.expect("list");
        assert_eq!(found.len(), 1);
        // LIKE wildcards in the query are literal characters
        let wildcard = users::ListFilter {
            query: Some("%".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(users::list(&mut c, &wildcard).await.expect("list").1, 0);
    })
    .await;
}

#[tokio::test]
async fn update_and_delete_user() {
    on_every_backend(|ts| async move {
        let mut u = user(1);
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &u).await.expect("insert");
        sessions::insert(&mut tx, &session("sess_a", "client_a", "user_1", 0))
            .await
            .expect("session");
        tx.commit().await.expect("commit");

        u.first_name = Some("Renamed".into());
        u.banned = true;
        u.locked_until = Some(t(99));
        let mut tx = ts.store.begin().await.expect("begin");
        assert!(users::update(&mut tx, &u).await.expect("update"));
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            users::get(&mut c, &u.id).await.expect("get"),
            Some(u.clone())
        );
        drop(c);

        let mut tx = ts.store.begin().await.expect("begin");
        assert!(users::delete(&mut tx, &u.id).await.expect("delete"));
        assert!(!users::delete(&mut tx, &u.id).await.expect("delete again"));
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        assert!(users::get(&mut c, &u.id).await.expect("get").is_none());
        assert!(
            sessions::get(&mut c, &SessionId::from_trusted("sess_a".into()))
                .await
                .expect("get")
                .is_none()
        );
        let email = Identifier::classify("user1@example.com").expect("valid");
        assert!(users::find_id_by_identifier(&mut c, &email)
            .await
            .expect("find")
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn password_upgrade_only_replaces_the_digest_it_verified() {
    on_every_backend(|ts| async move {
        let u = user(1);
        let old = u.password.clone().expect("has password").digest;
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &u).await.expect("insert");
        let new = PasswordDigest {
            hasher: "argon2id".into(),
            digest: "new".into(),
        };
        assert!(!users::upgrade_password(&mut tx, &u.id, "stale", &new)
            .await
            .expect("upgrade"));
        assert!(users::upgrade_password(&mut tx, &u.id, &old, &new)
            .await
            .expect("upgrade"));
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        let got = users::get(&mut c, &u.id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(got.password, Some(new));
    })
    .await;
}

#[tokio::test]
async fn client_tokens_rotate_and_dev_browsers_bind() {
    on_every_backend(|ts| async move {
        let client = Client::new(ClientId::from_trusted("client_1".into()), t(0));
        let mut tx = ts.store.begin().await.expect("begin");
        clients::insert(&mut tx, &client, "hash-1")
            .await
            .expect("insert");
        clients::insert_dev_browser(&mut tx, "db-1", t(0))
            .await
            .expect("dev browser");
        tx.commit().await.expect("commit");

        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            clients::by_token_hash(&mut c, "hash-1").await.expect("get"),
            Some(client.clone())
        );
        assert_eq!(
            clients::dev_browser_client(&mut c, "db-1")
                .await
                .expect("get"),
            Some(None)
        );
        assert_eq!(
            clients::dev_browser_client(&mut c, "nope")
                .await
                .expect("get"),
            None
        );
        drop(c);

        let mut tx = ts.store.begin().await.expect("begin");
        assert!(clients::rotate_token(&mut tx, &client.id, "hash-2")
            .await
            .expect("rotate"));
        assert!(clients::bind_dev_browser(&mut tx, "db-1", &client.id)
            .await
            .expect("bind"));
        assert!(clients::rotate_dev_browser(&mut tx, "db-1", "db-2")
            .await
            .expect("rotate"));
        tx.commit().await.expect("commit");

        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            clients::by_token_hash(&mut c, "hash-1").await.expect("get"),
            None,
            "old token dead"
        );
        assert_eq!(
            clients::by_token_hash(&mut c, "hash-2")
                .await
                .expect("get")
                .map(|c| c.id),
            Some(client.id.clone())
        );
        assert_eq!(
            clients::dev_browser_client(&mut c, "db-1")
                .await
                .expect("get"),
            None
        );
        assert_eq!(
            clients::dev_browser_client(&mut c, "db-2")
                .await
                .expect("get"),
            Some(Some(client.id.clone()))
        );
        drop(c);

        let mut tx = ts.store.begin().await.expect("begin");
        assert!(clients::delete(&mut tx, &client.id).await.expect("delete"));
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            clients::by_token_hash(&mut c, "hash-2").await.expect("get"),
            None
        );
        assert_eq!(
            clients::dev_browser_client(&mut c, "db-2")
                .await
                .expect("get"),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_is_found_by_its_client_token_only() {
    on_every_backend(|ts| async move {
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &user(1)).await.expect("user");
        for (client, hash) in [("client_a", "hash-a"), ("client_b", "hash-b")] {
            let c = Client::new(ClientId::from_trusted(client.into()), t(0));
            clients::insert(&mut tx, &c, hash).await.expect("client");
        }
        let mut s = session("sess_a", "client_a", "user_1", 10);
        s.second_factor_verified_at = Some(t(20));
        sessions::insert(&mut tx, &s).await.expect("session");
        tx.commit().await.expect("commit");

        let find = |hash: &'static str, id: &'static str| {
            let store = ts.store.clone();
            async move {
                sessions::find_for_client_token(&store, hash, &SessionId::from_trusted(id.into()))
                    .await
                    .expect("find")
            }
        };
        assert_eq!(find("hash-a", "sess_a").await, Some(s.clone()));
        assert_eq!(find("hash-b", "sess_a").await, None, "another client's");
        assert_eq!(find("hash-x", "sess_a").await, None, "no such client");
        assert_eq!(find("hash-a", "sess_x").await, None, "no such session");

        // A committed change is seen by the next read.
        let mut tx = ts.store.begin().await.expect("begin");
        assert!(clients::rotate_token(
            &mut tx,
            &ClientId::from_trusted("client_a".into()),
            "hash-a2"
        )
        .await
        .expect("rotate"));
        tx.commit().await.expect("commit");
        assert_eq!(find("hash-a", "sess_a").await, None, "rotated away");
        assert_eq!(find("hash-a2", "sess_a").await, Some(s));
    })
    .await;
}

#[tokio::test]
async fn sign_in_updates_are_conditional_on_the_version() {
    on_every_backend(|ts| async move {
        let settings = Settings::default();
        let si = SignIn::new(
            SignInId::from_trusted("sia_1".into()),
            ClientId::from_trusted("client_1".into()),
            t(0),
            &settings,
        );
        let mut tx = ts.store.begin().await.expect("begin");
        sign_ins::insert(&mut tx, &si).await.expect("insert");
        tx.commit().await.expect("commit");

        let mut c = ts.store.read().await.expect("read");
        let (read, version) = sign_ins::get(&mut c, &si.id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!((read.clone(), version), (si.clone(), 1));
        drop(c);

        // 20 writers race from the same version: exactly one may win.
        let mut handles = Vec::new();
        for n in 0..20 {
            let store = ts.store.clone();
            let mut candidate = read.clone();
            candidate.updated_at = t(n);
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let won = sign_ins::update(&mut tx, &candidate, version)
                    .await
                    .expect("update");
                tx.commit().await.expect("commit");
                won
            }));
        }
        let mut wins = 0;
        for h in handles {
            if h.await.expect("join") {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            sign_ins::get(&mut c, &si.id)
                .await
                .expect("get")
                .map(|(_, v)| v),
            Some(2)
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_end_once_and_in_bulk() {
    on_every_backend(|ts| async move {
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &user(1)).await.expect("user");
        for (id, client, at) in [
            ("sess_a", "client_a", 1),
            ("sess_b", "client_a", 2),
            ("sess_c", "client_b", 3),
        ] {
            sessions::insert(&mut tx, &session(id, client, "user_1", at))
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
        let a = SessionId::from_trusted("sess_a".into());

        let mut tx = ts.store.begin().await.expect("begin");
        assert!(sessions::end(&mut tx, &a, SessionStatus::Ended, t(10))
            .await
            .expect("end"));
        assert!(!sessions::end(&mut tx, &a, SessionStatus::Removed, t(11))
            .await
            .expect("end twice"));
        assert!(!sessions::touch(&mut tx, &a, t(12))
            .await
            .expect("touch ended"));
        tx.commit().await.expect("commit");

        let mut c = ts.store.read().await.expect("read");
        let got = sessions::get(&mut c, &a)
            .await
            .expect("get")
            .expect("found");
        assert_eq!((got.status, got.updated_at), (SessionStatus::Ended, t(10)));
        let on_a = sessions::for_client(&mut c, &ClientId::from_trusted("client_a".into()))
            .await
            .expect("for client");
        assert_eq!(
            on_a.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
            ["sess_a", "sess_b"]
        );
        drop(c);

        let mut tx = ts.store.begin().await.expect("begin");
        let keep = SessionId::from_trusted("sess_c".into());
        let n = sessions::end_all_for_user(
            &mut tx,
            &UserId::from_trusted("user_1".into()),
            SessionStatus::Revoked,
            t(20),
            Some(&keep),
        )
        .await
        .expect("end all");
        assert_eq!(n, 1, "only sess_b was still signed in besides the kept one");
        tx.commit().await.expect("commit");

        let mut c = ts.store.read().await.expect("read");
        let filter = sessions::ListFilter {
            user_id: Some(UserId::from_trusted("user_1".into())),
            status: Some(SessionStatus::Active),
            limit: 10,
            ..Default::default()
        };
        let (active, total) = sessions::list(&mut c, &filter).await.expect("list");
        assert_eq!((total, active[0].id.as_str()), (1, "sess_c"));
    })
    .await;
}

#[tokio::test]
async fn signing_keys_rotate_and_expire() {
    on_every_backend(|ts| async move {
        let key = |kid: &str, at: i64| keys::StoredKey {
            kid: kid.into(),
            private_key: vec![1, 2, 3, 0, 255],
            created_at: t(at),
            retired_at: None,
        };
        let mut tx = ts.store.begin().await.expect("begin");
        keys::insert(&mut tx, &key("ins_old", 0))
            .await
            .expect("insert");
        keys::insert(&mut tx, &key("ins_new", 5))
            .await
            .expect("insert");
        assert_eq!(
            keys::retire_all_except(&mut tx, "ins_new", t(6))
                .await
                .expect("retire"),
            1
        );
        tx.commit().await.expect("commit");

        let mut c = ts.store.read().await.expect("read");
        let all = keys::all(&mut c).await.expect("all");
        assert_eq!(
            all.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["ins_new", "ins_old"]
        );
        assert_eq!(all[1].retired_at, Some(t(6)));
        assert_eq!(all[0].private_key, vec![1, 2, 3, 0, 255]);
        drop(c);

        let mut tx = ts.store.begin().await.expect("begin");
        assert_eq!(
            keys::delete_retired_before(&mut tx, t(6))
                .await
                .expect("delete"),
            0
        );
        assert_eq!(
            keys::delete_retired_before(&mut tx, t(7))
                .await
                .expect("delete"),
            1
        );
        tx.commit().await.expect("commit");
    })
    .await;
}

#[tokio::test]
async fn instance_values_are_chosen_once_even_under_races() {
    on_every_backend(|ts| async move {
        let mut handles = Vec::new();
        for n in 0..8 {
            let store = ts.store.clone();
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let v = instance::get_or_insert(&mut tx, "secret_key", &format!("candidate-{n}"))
                    .await
                    .expect("get_or_insert");
                tx.commit().await.expect("commit");
                v
            }));
        }
        let mut values = Vec::new();
        for h in handles {
            values.push(h.await.expect("join"));
        }
        values.dedup();
        assert_eq!(values.len(), 1, "{values:?}");
        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            instance::get(&mut c, "secret_key").await.expect("get"),
            Some(values[0].clone())
        );
    })
    .await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    on_every_backend(|ts| async move {
        ts.store.migrate().await.expect("second run is a no-op");
        let again = vestibule_store::Store::open(&ts.url, &Default::default())
            .await
            .expect("reopen");
        let mut c = again.read().await.expect("read");
        let count: i64 = migrations_count(&mut c).await;
        assert_eq!(count, 9, "every migration recorded once");
    })
    .await;
}

#[tokio::test]
async fn abandoned_transactions_roll_back_before_the_connection_serves_again() {
    on_every_backend(|ts| async move {
        // Dropped after a successful write.
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &user(1)).await.expect("insert");
        drop(tx);
        // Cancelled while its write is in flight (PostgreSQL), or dropped after many writes
        // (SQLite's statements run within the poll that reaches them).
        let backend = ts.backend();
        let mut tx = ts.store.begin().await.expect("begin");
        {
            // Many statements, so that one poll cannot see them all answered.
            let mut inserts = std::pin::pin!(async {
                for n in 100..300 {
                    users::insert(&mut tx, &user(n)).await.expect("insert");
                }
            });
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(inserts.as_mut().poll(cx))).await;
            if backend == Backend::Postgres {
                assert!(first.is_pending(), "the inserts are in flight when dropped");
            }
        }
        drop(tx);
        // The writer is free and clean: a new transaction commits, and only its user exists.
        let mut tx = ts.store.begin().await.expect("begin again");
        users::insert(&mut tx, &user(3)).await.expect("insert");
        tx.commit().await.expect("commit");
        let (all, total) = first_users(&ts.store).await;
        assert_eq!(total, 1);
        assert_eq!(all[0].id.as_str(), "user_3");
    })
    .await;
}

#[tokio::test]
async fn more_tasks_than_connections_all_get_one() {
    on_every_backend(|ts| async move {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = ts.store.clone();
                tokio::spawn(async move {
                    if i % 4 == 0 {
                        let mut tx = store.begin().await.expect("begin");
                        let n = migrations_count(&mut tx).await;
                        tx.commit().await.expect("commit");
                        n
                    } else {
                        migrations_count(&mut store.read().await.expect("read")).await
                    }
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task"), 9);
        }
    })
    .await;
}

async fn migrations_count(c: &mut vestibule_store::Connection) -> i64 {
    let row = vestibule_store::db::query("SELECT COUNT(*) AS n FROM schema_migrations")
        .fetch_one(c)
        .await
        .expect("count");
    row.get::<i64>("n").expect("n")
}

fn message(id: &str, to: &str, at: i64) -> vestibule_store::outbox::OutboxMessage {
    vestibule_store::outbox::OutboxMessage {
        id: id.into(),
        channel: vestibule_store::outbox::Channel::Email,
        recipient: to.into(),
        purpose: "sign_in_code".into(),
        payload: vec![9, 8, 7],
        created_at: t(at),
        attempts: 0,
        next_attempt_at: t(at),
        delivered_at: None,
        failed_at: None,
        last_error: None,
    }
}

#[tokio::test]
async fn outbox_claims_are_exclusive_and_leased() {
    use vestibule_store::outbox;
    on_every_backend(|ts| async move {
        let mut tx = ts.store.begin().await.expect("begin");
        for n in 0..20 {
            outbox::insert(
                &mut tx,
                &message(&format!("msg_{n:02}"), "a@example.com", n),
            )
            .await
            .expect("insert");
        }
        tx.commit().await.expect("commit");

        // Eight couriers claim at once, round after round: every message goes to exactly one.
        let mut all = Vec::new();
        for _round in 0..10 {
            let mut handles = Vec::new();
            for _ in 0..8 {
                let store = ts.store.clone();
                handles.push(tokio::spawn(async move {
                    let mut tx = store.begin().await.expect("begin");
                    let got = outbox::claim_due(&mut tx, t(1_000), 60, 5)
                        .await
                        .expect("claim");
                    tx.commit().await.expect("commit");
                    got.into_iter().map(|m| m.id).collect::<Vec<_>>()
                }));
            }
            let mut this_round = 0;
            for h in handles {
                let got = h.await.expect("join");
                this_round += got.len();
                all.extend(got);
            }
            if this_round == 0 {
                break;
            }
        }
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!((before, all.len()), (20, 20), "each message claimed once");

        // Leased: nothing is due again until the lease ends.
        let mut tx = ts.store.begin().await.expect("begin");
        assert!(outbox::claim_due(&mut tx, t(30_000), 60, 50)
            .await
            .expect("claim")
            .is_empty());
        outbox::mark_delivered(&mut tx, "msg_00", t(30_000))
            .await
            .expect("delivered");
        outbox::mark_retry(&mut tx, "msg_01", t(100_000), "421 try later")
            .await
            .expect("retry");
        outbox::mark_failed(&mut tx, "msg_02", t(30_000), "550 no such user")
            .await
            .expect("failed");
        tx.commit().await.expect("commit");

        // After the lease, the 17 unfinished ones (not msg_01, not yet due) come back, attempts counted.
        let mut tx = ts.store.begin().await.expect("begin");
        let again = outbox::claim_due(&mut tx, t(62_000), 60, 50)
            .await
            .expect("claim");
        tx.commit().await.expect("commit");
        assert_eq!(again.len(), 17);
        assert!(again.iter().all(|m| m.attempts == 2));
        let mut tx = ts.store.begin().await.expect("begin");
        for m in &again {
            assert!(outbox::mark_delivered(&mut tx, &m.id, t(63_000))
                .await
                .expect("delivered"));
        }
        assert!(
            !outbox::mark_delivered(&mut tx, "msg_00", t(63_000))
                .await
                .expect("twice"),
            "delivered once"
        );
        tx.commit().await.expect("commit");
        let mut tx = ts.store.begin().await.expect("begin");
        let retried = outbox::claim_due(&mut tx, t(200_000), 60, 50)
            .await
            .expect("claim");
        tx.commit().await.expect("commit");
        assert_eq!(
            retried.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["msg_01"]
        );

        let mut c = ts.store.read().await.expect("read");
        let m = outbox::get(&mut c, "msg_02")
            .await
            .expect("get")
            .expect("found");
        assert_eq!(
            (m.failed_at, m.last_error.as_deref()),
            (Some(t(30_000)), Some("550 no such user"))
        );
        let inbox = outbox::recent(&mut c, Some("a@example.com"), 3)
            .await
            .expect("recent");
        assert_eq!(
            inbox.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["msg_19", "msg_18", "msg_17"]
        );
        assert_eq!(inbox[0].payload, vec![9, 8, 7]);
    })
    .await;
}

fn code_verification(
    id: &str,
    max_attempts: u32,
    created: i64,
) -> vestibule_model::verification::CodeVerification {
    use vestibule_model::sign_in::VerificationStatus;
    use vestibule_model::verification::{CodeVerification, Slot, VerificationOwner};
    CodeVerification {
        id: VerificationId::from_trusted(id.into()),
        owner: VerificationOwner::SignIn(SignInId::from_trusted("sia_1".into())),
        user_id: Some(UserId::from_trusted("user_1".into())),
        slot: Slot::FirstFactor,
        strategy: Strategy::EmailCode,
        identification_id: Some(IdentificationId::from_trusted("idn_e1".into())),
        attempts: 0,
        max_attempts,
        status: VerificationStatus::Unverified,
        expire_at: t(created + 600_000),
        created_at: t(created),
        verified_at: None,
        redirect_url: None,
        verified_by_client_id: None,
    }
}

#[tokio::test]
async fn guesses_are_counted_atomically_and_one_right_code_wins() {
    use vestibule_store::verifications;
    on_every_backend(|ts| async move {
        let mut tx = ts.store.begin().await.expect("begin");
        verifications::insert(
            &mut tx,
            &code_verification("ver_a", 5, 0),
            Some("hash-a"),
            None,
        )
        .await
        .expect("insert");
        verifications::insert(
            &mut tx,
            &code_verification("ver_b", 50, 0),
            Some("hash-b"),
            None,
        )
        .await
        .expect("insert");
        tx.commit().await.expect("commit");

        // 50 parallel guesses against a limit of 5: exactly 5 are counted.
        let mut handles = Vec::new();
        for _ in 0..50 {
            let store = ts.store.clone();
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let counted = verifications::count_attempt(
                    &mut tx,
                    &VerificationId::from_trusted("ver_a".into()),
                    t(1_000),
                )
                .await
                .expect("count");
                tx.commit().await.expect("commit");
                counted
            }));
        }
        let mut counted = Vec::new();
        for h in handles {
            if let Some(c) = h.await.expect("join") {
                counted.push(c.attempts);
            }
        }
        counted.sort_unstable();
        assert_eq!(counted, vec![1, 2, 3, 4, 5]);
        let mut tx = ts.store.begin().await.expect("begin");
        assert!(verifications::fail_if_exhausted(
            &mut tx,
            &VerificationId::from_trusted("ver_a".into())
        )
        .await
        .expect("fail"));
        tx.commit().await.expect("commit");

        // 20 parallel right guesses: one marks it verified.
        let mut handles = Vec::new();
        for _ in 0..20 {
            let store = ts.store.clone();
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let won = verifications::mark_verified(
                    &mut tx,
                    &VerificationId::from_trusted("ver_b".into()),
                    t(2_000),
                    None,
                )
                .await
                .expect("verify");
                tx.commit().await.expect("commit");
                won
            }));
        }
        let mut wins = 0;
        for h in handles {
            wins += usize::from(h.await.expect("join"));
        }
        assert_eq!(wins, 1);
        let mut c = ts.store.read().await.expect("read");
        let a = verifications::get(&mut c, &VerificationId::from_trusted("ver_a".into()))
            .await
            .expect("get")
            .expect("found");
        assert_eq!((a.status.as_str(), a.attempts), ("failed", 5));
        let b = verifications::get(&mut c, &VerificationId::from_trusted("ver_b".into()))
            .await
            .expect("get")
            .expect("found");
        assert_eq!(
            (b.status.as_str(), b.verified_at),
            ("verified", Some(t(2_000)))
        );
        drop(c);
        // Expired verifications count no guess and cannot be verified.
        let mut tx = ts.store.begin().await.expect("begin");
        verifications::insert(
            &mut tx,
            &code_verification("ver_c", 5, 0),
            Some("hash-c"),
            Some("link-c"),
        )
        .await
        .expect("insert");
        let late = t(600_000);
        assert!(verifications::count_attempt(
            &mut tx,
            &VerificationId::from_trusted("ver_c".into()),
            late
        )
        .await
        .expect("count")
        .is_none());
        assert!(!verifications::mark_verified(
            &mut tx,
            &VerificationId::from_trusted("ver_c".into()),
            late,
            None
        )
        .await
        .expect("verify"));
        let by_link = verifications::get_by_link_token(&mut tx, "link-c")
            .await
            .expect("get")
            .expect("found");
        assert_eq!(by_link.id.as_str(), "ver_c");
        tx.commit().await.expect("commit");
    })
    .await;
}

#[tokio::test]
async fn attempts_are_taken_before_judging_and_stop_at_the_lock() {
    use vestibule_store::users::Attempt;
    on_every_backend(|ts| async move {
        let u = user(1);
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &u).await.expect("insert");
        tx.commit().await.expect("commit");
        let lock_until = t(3_600_000);

        // 30 parallel attempts with a threshold of 10: exactly 10 are taken, the 10th locks, and
        // the other 20 are refused without being counted.
        let mut handles = Vec::new();
        for _ in 0..30 {
            let store = ts.store.clone();
            let id = u.id.clone();
            handles.push(tokio::spawn(async move {
                let mut conn = store.write().await.expect("write");
                users::take_attempt(&mut conn, &id, t(0), 10, lock_until)
                    .await
                    .expect("take")
            }));
        }
        let mut taken = Vec::new();
        let mut refused = 0;
        for h in handles {
            match h.await.expect("join") {
                Attempt::Taken { count, locked } => taken.push((count, locked)),
                Attempt::Refused { locked_until } => {
                    assert_eq!(locked_until, lock_until);
                    refused += 1;
                }
                Attempt::Gone => panic!("the user exists"),
            }
        }
        taken.sort();
        assert_eq!(
            taken,
            (1..=10).map(|c| (c, c == 10)).collect::<Vec<_>>(),
            "counts 1 to 10, locked by the 10th"
        );
        assert_eq!(refused, 20);

        let mut tx = ts.store.begin().await.expect("begin");
        // A locked account gets no session, even in a transaction that got this far.
        assert!(!users::record_sign_in(&mut tx, &u.id, t(1_000))
            .await
            .expect("sign in"));
        // The right guess of the attempt that locked lifts its own lock.
        users::refund_attempt(&mut tx, &u.id, true)
            .await
            .expect("refund");
        assert!(users::record_sign_in(&mut tx, &u.id, t(1_000))
            .await
            .expect("sign in"));
        // After a lock lapses the next attempt starts a new count.
        for _ in 0..9 {
            users::take_attempt(&mut tx, &u.id, t(2_000), 10, lock_until)
                .await
                .expect("take");
        }
        assert_eq!(
            users::take_attempt(&mut tx, &u.id, t(2_000), 10, lock_until)
                .await
                .expect("take"),
            Attempt::Taken {
                count: 10,
                locked: true
            }
        );
        assert_eq!(
            users::take_attempt(&mut tx, &u.id, lock_until, 10, t(9_999_999))
                .await
                .expect("take"),
            Attempt::Taken {
                count: 1,
                locked: false
            }
        );
        // A refund un-counts the attempt of a right guess.
        users::refund_attempt(&mut tx, &u.id, false)
            .await
            .expect("refund");
        assert_eq!(
            users::get(&mut tx, &u.id)
                .await
                .expect("get")
                .expect("user")
                .failed_verification_attempts,
            0
        );
        assert_eq!(
            users::take_attempt(
                &mut tx,
                &UserId::from_trusted("user_gone".into()),
                t(0),
                10,
                t(1)
            )
            .await
            .expect("take"),
            Attempt::Gone
        );
        tx.commit().await.expect("commit");

        // A banned account gets no session either.
        let mut banned = users::get(&mut ts.store.read().await.expect("read"), &u.id)
            .await
            .expect("get")
            .expect("user");
        banned.banned = true;
        let mut tx = ts.store.begin().await.expect("begin");
        users::update(&mut tx, &banned).await.expect("ban");
        assert!(!users::record_sign_in(&mut tx, &u.id, t(5_000_000))
            .await
            .expect("sign in"));
        tx.commit().await.expect("commit");
    })
    .await;
}

#[tokio::test]
async fn rate_limit_windows_count_and_reset() {
    use vestibule_store::rate_limits;
    on_every_backend(|ts| async move {
        let mut handles = Vec::new();
        for _ in 0..25 {
            let store = ts.store.clone();
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let r = rate_limits::hit(&mut tx, "sic:ip:127.0.0.1", t(1_000), 10)
                    .await
                    .expect("hit");
                tx.commit().await.expect("commit");
                r
            }));
        }
        let mut counts = Vec::new();
        for h in handles {
            let (count, ends) = h.await.expect("join");
            assert_eq!(ends, t(11_000));
            counts.push(count);
        }
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=25).collect::<Vec<_>>(),
            "each event counted once"
        );
        let mut tx = ts.store.begin().await.expect("begin");
        assert_eq!(
            rate_limits::hit(&mut tx, "sic:ip:127.0.0.1", t(10_999), 10)
                .await
                .expect("hit"),
            (26, t(11_000))
        );
        assert_eq!(
            rate_limits::hit(&mut tx, "sic:ip:127.0.0.1", t(11_000), 10)
                .await
                .expect("hit"),
            (1, t(21_000)),
            "a new window"
        );
        assert_eq!(
            rate_limits::hit(&mut tx, "other", t(11_000), 10)
                .await
                .expect("hit")
                .0,
            1
        );
        assert_eq!(
            rate_limits::delete_stale(&mut tx, t(11_001))
                .await
                .expect("stale"),
            2
        );
        tx.commit().await.expect("commit");

        // Several keys with different windows in one statement; a repeated key counts once.
        let mut c = ts.store.write().await.expect("write");
        let keys = [("a", 10), ("b", 60), ("a", 10)];
        assert_eq!(
            rate_limits::hit_all(&mut c, &keys, t(30_000))
                .await
                .expect("hit"),
            vec![(1, t(40_000)), (1, t(90_000)), (1, t(40_000))]
        );
        assert_eq!(
            rate_limits::hit_all(&mut c, &keys, t(45_000))
                .await
                .expect("hit"),
            vec![(1, t(55_000)), (2, t(90_000)), (1, t(55_000))],
            "a's 10 s window ended and restarted; b's 60 s window goes on"
        );
    })
    .await;
}

#[tokio::test]
async fn totp_steps_and_backup_codes_are_used_once_even_in_parallel() {
    use vestibule_store::second_factors as sf;
    on_every_backend(|ts| async move {
        let u = user(1);
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &u).await.expect("insert");
        let factor = sf::TotpFactor {
            id: "totp_1".into(),
            user_id: u.id.clone(),
            secret: vec![1, 2, 3],
            verified: false,
            last_used_step: None,
            created_at: t(0),
            updated_at: t(0),
        };
        assert!(sf::put_unverified_totp(&mut tx, &factor)
            .await
            .expect("put"));
        // Not verified yet: sign-in codes are refused, the enrolment code verifies it.
        assert!(!sf::use_totp_step(&mut tx, &u.id, 100, false, t(1))
            .await
            .expect("use"));
        assert!(sf::use_totp_step(&mut tx, &u.id, 100, true, t(1))
            .await
            .expect("verify"));
        assert!(
            !sf::put_unverified_totp(&mut tx, &factor)
                .await
                .expect("put"),
            "a verified factor stays"
        );
        tx.commit().await.expect("commit");

        // Ten parallel uses of the same step: one wins; older steps never.
        let mut handles = Vec::new();
        for _ in 0..10 {
            let store = ts.store.clone();
            let id = u.id.clone();
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let won = sf::use_totp_step(&mut tx, &id, 101, false, t(2))
                    .await
                    .expect("use");
                tx.commit().await.expect("commit");
                won
            }));
        }
        let mut wins = 0;
        for h in handles {
            wins += usize::from(h.await.expect("join"));
        }
        assert_eq!(wins, 1);
        let mut tx = ts.store.begin().await.expect("begin");
        assert!(!sf::use_totp_step(&mut tx, &u.id, 100, false, t(3))
            .await
            .expect("older"));
        let hashes: Vec<String> = (0..10).map(|n| format!("hash-{n}")).collect();
        sf::replace_backup_codes(&mut tx, &u.id, "bcode_1", "salt", &hashes, t(3))
            .await
            .expect("codes");
        tx.commit().await.expect("commit");

        let mut handles = Vec::new();
        for _ in 0..10 {
            let store = ts.store.clone();
            let id = u.id.clone();
            handles.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let won = sf::use_backup_code(&mut tx, &id, "hash-3", t(4))
                    .await
                    .expect("use");
                tx.commit().await.expect("commit");
                won
            }));
        }
        let mut wins = 0;
        for h in handles {
            wins += usize::from(h.await.expect("join"));
        }
        assert_eq!(wins, 1, "a backup code works once");

        let mut c = ts.store.read().await.expect("read");
        assert_eq!(
            sf::backup_codes(&mut c, &u.id).await.expect("codes"),
            Some(("salt".into(), 9))
        );
        let loaded = users::get(&mut c, &u.id).await.expect("get").expect("user");
        assert!(loaded.totp_enabled);
        assert_eq!(loaded.backup_codes_remaining, 9);
        assert!(
            !sf::is_trusted(&mut c, &ClientId::from_trusted("client_1".into()), &u.id)
                .await
                .expect("trusted")
        );
        drop(c);
        let mut tx = ts.store.begin().await.expect("begin");
        sf::trust(
            &mut tx,
            &ClientId::from_trusted("client_1".into()),
            &u.id,
            t(5),
        )
        .await
        .expect("trust");
        sf::trust(
            &mut tx,
            &ClientId::from_trusted("client_1".into()),
            &u.id,
            t(6),
        )
        .await
        .expect("twice is fine");
        assert!(
            sf::is_trusted(&mut tx, &ClientId::from_trusted("client_1".into()), &u.id)
                .await
                .expect("trusted")
        );
        assert!(sf::delete_totp(&mut tx, &u.id).await.expect("delete"));
        assert!(sf::delete_backup_codes(&mut tx, &u.id)
            .await
            .expect("delete"));
        tx.commit().await.expect("commit");
        let mut c = ts.store.read().await.expect("read");
        let loaded = users::get(&mut c, &u.id).await.expect("get").expect("user");
        assert!(!loaded.totp_enabled && loaded.backup_codes_remaining == 0);
    })
    .await;
}

#[tokio::test]
async fn a_sign_in_token_is_accepted_once_while_pending_and_unexpired() {
    use vestibule_model::sign_in_token::{SignInToken, SignInTokenStatus};
    use vestibule_model::SignInTokenId;
    use vestibule_store::sign_in_tokens;
    on_every_backend(|ts| async move {
        let u = user(1);
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &u).await.expect("user");
        let issue = |id: &str, lifetime| {
            SignInToken::issue(
                SignInTokenId::from_trusted(id.into()),
                u.id.clone(),
                Some(lifetime),
                t(1_000),
            )
            .expect("issue")
        };
        let (once, short, revoked) = (issue("sit_a", 600), issue("sit_b", 60), issue("sit_c", 600));
        for (tok, hash) in [(&once, "ha"), (&short, "hb"), (&revoked, "hc")] {
            sign_in_tokens::insert(&mut tx, tok, hash)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
        let mut c = ts.store.write().await.expect("write");
        let found = sign_in_tokens::find_by_hash(&mut c, "ha")
            .await
            .expect("find");
        assert_eq!(found.as_ref(), Some(&once));
        assert!(sign_in_tokens::find_by_hash(&mut c, "nope")
            .await
            .expect("find")
            .is_none());
        assert!(sign_in_tokens::accept(&mut c, &once.id, t(2_000))
            .await
            .expect("accept"));
        assert!(!sign_in_tokens::accept(&mut c, &once.id, t(2_000))
            .await
            .expect("again"));
        let used = sign_in_tokens::get(&mut c, &once.id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(used.status, SignInTokenStatus::Accepted);
        assert!(
            !sign_in_tokens::accept(&mut c, &short.id, t(61_000))
                .await
                .expect("expired"),
            "an expired token is not accepted"
        );
        let mut r = revoked.clone();
        r.revoke(t(3_000)).expect("revoke");
        assert!(sign_in_tokens::revoke(&mut c, &r).await.expect("revoke"));
        assert!(!sign_in_tokens::accept(&mut c, &r.id, t(4_000))
            .await
            .expect("revoked"));
    })
    .await;
}

#[tokio::test]
async fn an_id_token_is_used_once_and_forgotten_after_it_expires() {
    on_every_backend(|ts| async move {
        use vestibule_store::id_tokens;
        let mut tx = ts.store.begin().await.expect("begin");
        assert!(id_tokens::use_once(&mut tx, "h1", t(1000))
            .await
            .expect("use"));
        assert!(!id_tokens::use_once(&mut tx, "h1", t(1000))
            .await
            .expect("again"));
        assert!(id_tokens::use_once(&mut tx, "h2", t(5000))
            .await
            .expect("another"));
        assert_eq!(
            id_tokens::delete_expired(&mut tx, t(2000))
                .await
                .expect("prune"),
            1
        );
        tx.commit().await.expect("commit");
    })
    .await;
}

#[tokio::test]
async fn a_passkey_registers_once_and_its_credential_belongs_to_one_account() {
    use vestibule_store::passkeys::{self, Credential, NewRegistration};
    use vestibule_store::StoreError;
    on_every_backend(|ts| async move {
        let (a, b) = (user(1), user(2));
        let mut tx = ts.store.begin().await.expect("begin");
        users::insert(&mut tx, &a).await.expect("user a");
        users::insert(&mut tx, &b).await.expect("user b");
        let (pa, pb) = (
            IdentificationId::from_trusted("idn_pka".into()),
            IdentificationId::from_trusted("idn_pkb".into()),
        );
        for (id, u) in [(&pa, &a), (&pb, &b)] {
            let r = NewRegistration {
                id,
                user_id: &u.id,
                name: "Passkey 1",
                ceremony: "state",
                nonce: "{}",
                expire_at: t(300_000),
                now: t(1_000),
            };
            passkeys::insert_registration(&mut tx, &r)
                .await
                .expect("start");
        }
        tx.commit().await.expect("commit");
        let mut c = ts.store.write().await.expect("write");
        let pending = passkeys::pending_registration(&mut c, &a.id, &pa)
            .await
            .expect("read")
            .expect("pending");
        assert_eq!(
            (pending.ceremony.as_str(), pending.nonce.as_str()),
            ("state", "{}")
        );
        assert!(
            passkeys::pending_registration(&mut c, &b.id, &pa)
                .await
                .expect("read")
                .is_none(),
            "another account's registration is not found"
        );
        let cred = Credential {
            credential_id: "cred-1",
            public_key: "pk",
            dynamic_state: "d0",
        };
        assert!(
            passkeys::complete_registration(&mut c, &a.id, &pa, cred, t(2_000))
                .await
                .expect("complete")
        );
        assert!(
            !passkeys::complete_registration(&mut c, &a.id, &pa, cred, t(2_000))
                .await
                .expect("again"),
            "a registration completes once"
        );
        assert!(matches!(
            passkeys::complete_registration(&mut c, &b.id, &pb, cred, t(2_000)).await,
            Err(StoreError::Conflict { what: "passkey" })
        ));
        let found = passkeys::by_credential(&mut c, "cred-1")
            .await
            .expect("find")
            .expect("registered");
        assert_eq!(
            (found.user_id.clone(), found.dynamic_state.as_str()),
            (a.id.clone(), "d0")
        );
        assert!(passkeys::record_use(&mut c, &pa, Some("d1"), t(3_000))
            .await
            .expect("use"));
        let used = users::get(&mut c, &a.id).await.expect("get").expect("user");
        assert_eq!(used.passkeys.len(), 1);
        assert_eq!(used.passkeys[0].last_used_at, Some(t(3_000)));
        assert!(used.passkeys[0].verified);
        assert_eq!(
            passkeys::credential_ids(&mut c, &a.id).await.expect("ids"),
            vec!["cred-1".to_owned()]
        );
        assert!(!passkeys::delete(&mut c, &b.id, &pa)
            .await
            .expect("not theirs"));
        assert!(passkeys::delete(&mut c, &a.id, &pa).await.expect("delete"));
        assert!(passkeys::by_credential(&mut c, "cred-1")
            .await
            .expect("find")
            .is_none());
        assert!(!passkeys::record_use(&mut c, &pa, None, t(4_000))
            .await
            .expect("gone"));
    })
    .await;
}
