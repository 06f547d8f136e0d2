//! Fills a `sigbench serve --open` with channels, for the idle-CPU measurement of issue
//! 11 (`scripts/bench --only expiry`): `--connections` accounts each create
//! `--per-connection` channels (within the default allowance of 1,000 channels per
//! creator), with `--pipeline` creates in flight per connection, then stay connected and
//! idle for `--hold` so that the server holds the channels and the logged-in accounts
//! while its CPU is measured. Prints one JSON line when the channels exist (the script
//! waits for it), then exits after the hold.
//!
//! Usage: `channels --url ws://127.0.0.1:PORT/ [--connections 1000]
//! [--per-connection 1000] [--pipeline 32] [--hold 15s]`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

struct Args {
    url: String,
    connections: usize,
    per_connection: usize,
    pipeline: usize,
    hold: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        connections: 1000,
        per_connection: 1000,
        pipeline: 32,
        hold: Duration::from_secs(15),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => args.url = value.clone(),
            "--connections" => args.connections = number()?.max(1),
            "--per-connection" => args.per_connection = number()?,
            "--pipeline" => args.pipeline = number()?.max(1),
            "--hold" => args.hold = humantime::parse_duration(&value).map_err(|e| e.to_string())?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(args)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The next response (a text frame without `push`), or why there is none.
async fn next_response(ws: &mut Ws) -> Result<serde_json::Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if value.get("push").is_none() {
                    return Ok(value);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed".into()),
        }
    }
}

/// Logs in as `channels-INDEX` and creates `count` channels; returns the connection.
async fn fill(url: String, index: usize, count: usize, pipeline: usize) -> Result<Ws, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let login = format!(
        r#"{{"id":0,"op":"login","params":{{"account":"channels-{index}","token":"open"}}}}"#
    );
    ws.send(Message::text(login))
        .await
        .map_err(|e| e.to_string())?;
    let reply = next_response(&mut ws).await?;
    if reply["code"] != 200 {
        return Err(format!("login: {reply} (start the server with --open)"));
    }
    let create = Message::text(r#"{"id":1,"op":"create","params":{"type":1}}"#);
    let (mut sent, mut answered) = (0, 0);
    while answered < count {
        while sent < count && sent - answered < pipeline {
            ws.feed(create.clone()).await.map_err(|e| e.to_string())?;
            sent += 1;
        }
        ws.flush().await.map_err(|e| e.to_string())?;
        let reply = next_response(&mut ws).await?;
        if reply["code"] != 200 {
            return Err(format!("create: {reply}"));
        }
        answered += 1;
    }
    Ok(ws)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..args.connections {
        tasks.spawn(fill(
            args.url.clone(),
            index,
            args.per_connection,
            args.pipeline,
        ));
    }
    let mut held = Vec::with_capacity(args.connections);
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(ws)) => held.push(ws),
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let channels = args.connections * args.per_connection;
    println!(
        r#"{{"channels":{channels},"seconds":{seconds:.3},"creates_per_s":{:.0}}}"#,
        channels as f64 / seconds
    );
    // Hold the connections (idle) while the caller measures the server.
    tokio::time::sleep(args.hold).await;
    for mut ws in held {
        let _ = ws.close(None).await;
    }
    std::process::ExitCode::SUCCESS
}
