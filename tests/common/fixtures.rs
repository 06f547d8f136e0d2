//! Fixtures shared by several test files: invitation params, a two-account setup, and an
//! observer client that must keep being served while others misbehave.

use serde_json::{Value, json};

use super::{Client, TestServer, acct, all_quiet, assert_channel};

/// `{channelId, account, requestId}` plus `extra`.
pub fn inv(channel: &Value, account: &str, request_id: &str, extra: Value) -> Value {
    let mut p =
        json!({"channelId": channel["channelId"], "account": account, "requestId": request_id});
    if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(extra.clone());
    }
    p
}

/// Alice (on d1 and d2) has joined a fresh channel; bob is online on d1 and d2.
pub struct Pair {
    pub alice: String,
    pub bob: String,
    pub a1: Client,
    pub a2: Client,
    pub b1: Client,
    pub b2: Client,
    pub ch: Value,
}

pub async fn pair(server: &TestServer) -> Pair {
    let (alice, bob) = (acct("alice"), acct("bob"));
    let mut a1 = server.online_on(&alice, "d1").await;
    let a2 = server.online_on(&alice, "d2").await;
    let b1 = server.online_on(&bob, "d1").await;
    let b2 = server.online_on(&bob, "d2").await;
    let ch = a1.ok("create", json!({"type": 2})).await["channel"].clone();
    a1.ok("join", json!({"channelId": ch["channelId"], "uid": 1}))
        .await;
    Pair {
        alice,
        bob,
        a1,
        a2,
        b1,
        b2,
        ch,
    }
}

impl Pair {
    pub async fn quiet(&mut self) {
        all_quiet(&mut [&mut self.a1, &mut self.a2, &mut self.b1, &mut self.b2]).await;
    }

    /// Alice invites bob with `request_id`; both bob devices receive the INVITE.
    pub async fn invite(&mut self, request_id: &str) -> Value {
        self.a1
            .ok("invite", inv(&self.ch, &self.bob, request_id, json!({})))
            .await;
        let ev = self.b1.expect_event("INVITE").await;
        self.b2.expect_event("INVITE").await;
        ev
    }
}

/// A logged-in client that must keep working while others misbehave.
pub struct Observer(pub Client);

impl Observer {
    pub async fn new(server: &TestServer) -> Observer {
        Observer(server.online(&acct("observer")).await)
    }

    pub async fn still_served(&mut self) {
        let data = self.0.ok("create", json!({"type": 1})).await;
        assert_channel(&data["channel"]);
        self.0.expect_no_frame(std::time::Duration::ZERO).await;
    }
}
