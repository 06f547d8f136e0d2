//! A quick end-to-end pass over the reference server: login, call, accept with
//! autoJoin, close — the P-10 example exchange, checked frame by frame.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sigbench::server::{ServerConfig, spawn};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
            .await
            .expect("a frame within 2 s")
            .expect("connection open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

async fn send(ws: &mut Ws, id: u64, op: &str, params: Value) {
    let text = json!({"id": id, "op": op, "params": params}).to_string();
    ws.send(Message::text(text)).await.unwrap();
}

async fn login(url: &str, account: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(
        &mut ws,
        1,
        "login",
        json!({"account": account, "token": "t"}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(r["code"], 200, "{r}");
    assert_eq!(r["data"]["account"], account);
    assert_eq!(recv(&mut ws).await["push"], "channelsSync");
    assert_eq!(recv(&mut ws).await["push"], "unreadSync");
    ws
}

#[tokio::test]
async fn call_accept_close_follows_the_example_exchange() {
    let server = spawn(ServerConfig::default()).await.unwrap();
    let url = server.url();
    let mut alice = login(&url, "alice").await;
    let mut bob = login(&url, "bob").await;

    send(
        &mut alice,
        2,
        "call",
        json!({"type": 2, "account": "bob", "requestId": "r1"}),
    )
    .await;
    let invite = recv(&mut bob).await;
    assert_eq!(invite["push"], "notify");
    assert_eq!(invite["event"]["eventType"], "INVITE");
    assert_eq!(invite["event"]["from"], "alice");
    assert_eq!(invite["event"]["to"], "bob");
    let r = recv(&mut alice).await;
    assert_eq!(
        (r["id"].clone(), r["code"].clone()),
        (json!(2), json!(200)),
        "{r}"
    );
    let cid = r["data"]["channel"]["channelId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r["data"]["members"][0]["account"], "alice");

    send(
        &mut bob,
        2,
        "accept",
        json!({"channelId": cid, "account": "alice", "requestId": "r1", "autoJoin": true}),
    )
    .await;
    assert_eq!(recv(&mut alice).await["event"]["eventType"], "ACCEPT");
    let join = recv(&mut alice).await;
    assert_eq!(join["event"]["eventType"], "ROOM_JOIN");
    assert_eq!(join["event"]["member"]["account"], "bob");
    let r = recv(&mut bob).await;
    assert_eq!(r["code"], 200, "{r}");
    assert_eq!(r["data"]["members"].as_array().unwrap().len(), 2);

    send(&mut alice, 3, "close", json!({"channelId": cid})).await;
    assert_eq!(recv(&mut bob).await["event"]["eventType"], "ROOM_CLOSE");
    assert_eq!(recv(&mut alice).await["code"], 200);
    send(&mut alice, 4, "query", json!({"channelId": cid})).await;
    assert_eq!(recv(&mut alice).await["code"], 10404);

    server.shutdown().await;
}
