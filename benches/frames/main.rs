//! Frames-per-second load client for issue 6's server target: drives either the echo
//! server (`--example echo`) or `sigbench serve --open` with the same frames, and prints
//! one JSON line with what it measured.
//!
//! Every connection keeps `--pipeline` requests in flight: each response that arrives is
//! answered with the next request, written in batches (everything that arrived, then one
//! flush), so neither side waits on the other's round trip. The request is a `query` of
//! a channel that exists — against `sigbench serve` each connection first logs in and
//! creates it; against the echo server the same text simply comes back. A frame counts
//! once its reply is read, so `frames_per_s` is requests answered per second (each one
//! frame in and one frame out on the server).
//!
//! Usage: `frames --url ws://127.0.0.1:PORT/ --mode sigbench|echo [--connections 50]
//! [--pipeline 16] [--duration 5s]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Sigbench,
}

struct Args {
    url: String,
    mode: Mode,
    connections: usize,
    pipeline: usize,
    duration: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        mode: Mode::Sigbench,
        connections: 50,
        pipeline: 16,
        duration: Duration::from_secs(5),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => args.url = value.clone(),
            "--mode" => {
                args.mode = match value.as_str() {
                    "echo" => Mode::Echo,
                    "sigbench" => Mode::Sigbench,
                    other => return Err(format!("--mode: '{other}' is not echo or sigbench")),
                }
            }
            "--connections" => args.connections = number()?.max(1),
            "--pipeline" => args.pipeline = number()?.max(1),
            "--duration" => {
                args.duration = humantime::parse_duration(&value).map_err(|e| e.to_string())?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(args)
}

type Ws = WebSocketStream<TcpStream>;

async fn connect(url: &str) -> Result<Ws, String> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("'{url}' is not a ws:// URL"))?;
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Reads text frames until one is a response (no `push` field); returns it.
async fn response(ws: &mut Ws) -> Result<serde_json::Value, String> {
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

/// Logs in and creates a channel; returns its id. Echo mode: a made-up id.
async fn prepare(ws: &mut Ws, mode: Mode, index: usize) -> Result<String, String> {
    if mode == Mode::Echo {
        return Ok(format!("echo-{index}"));
    }
    let login = format!(
        r#"{{"id":1,"op":"login","params":{{"account":"frames-{index}","token":"open"}}}}"#
    );
    ws.send(Message::text(login))
        .await
        .map_err(|e| e.to_string())?;
    let reply = response(ws).await?;
    if reply["code"] != 200 {
        return Err(format!("login: {reply} (start the server with --open)"));
    }
    ws.send(Message::text(
        r#"{"id":2,"op":"create","params":{"type":1}}"#,
    ))
    .await
    .map_err(|e| e.to_string())?;
    let reply = response(ws).await?;
    reply["data"]["channel"]["channelId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("create: {reply}"))
}

async fn drive(
    mut ws: Ws,
    channel: String,
    pipeline: usize,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> Result<(), String> {
    let request = Message::text(format!(
        r#"{{"id":3,"op":"query","params":{{"channelId":"{channel}"}}}}"#
    ));
    for _ in 0..pipeline {
        ws.feed(request.clone()).await.map_err(|e| e.to_string())?;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    let mut in_flight = pipeline;
    while in_flight > 0 {
        let Some(first) = ws.next().await else {
            return Err("closed".into());
        };
        let mut next = Some(first);
        let mut got = 0usize;
        while let Some(message) = next {
            if let Message::Text(_) = message.map_err(|e| e.to_string())? {
                got += 1;
            }
            next = ws.next().now_or_never().flatten();
        }
        if counting.load(Relaxed) {
            answered.fetch_add(got as u64, Relaxed);
        }
        in_flight -= got;
        if !stop.load(Relaxed) {
            for _ in 0..got {
                ws.feed(request.clone()).await.map_err(|e| e.to_string())?;
            }
            ws.flush().await.map_err(|e| e.to_string())?;
            in_flight += got;
        }
    }
    let _ = ws.close(None).await;
    Ok(())
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
    let mut ready = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let prepared = async {
            let mut ws = connect(&args.url).await?;
            let channel = prepare(&mut ws, args.mode, index).await?;
            Ok::<_, String>((ws, channel))
        };
        match prepared.await {
            Ok(pair) => ready.push(pair),
            Err(e) => {
                eprintln!("error: connection {index}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (ws, channel) in ready {
        tasks.spawn(drive(
            ws,
            channel,
            args.pipeline,
            counting.clone(),
            stop.clone(),
            answered.clone(),
        ));
    }
    // A short warm-up, then count for the duration.
    tokio::time::sleep(Duration::from_millis(500)).await;
    counting.store(true, Relaxed);
    let start = Instant::now();
    tokio::time::sleep(args.duration).await;
    counting.store(false, Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Relaxed);
    let mut failed = 0;
    while let Some(result) = tasks.join_next().await {
        if !matches!(result, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let frames = answered.load(Relaxed);
    println!(
        r#"{{"mode":"{}","connections":{},"pipeline":{},"seconds":{elapsed:.3},"frames":{frames},"frames_per_s":{:.0},"failed_connections":{failed}}}"#,
        if args.mode == Mode::Echo {
            "echo"
        } else {
            "sigbench"
        },
        args.connections,
        args.pipeline,
        frames as f64 / elapsed,
    );
    if failed > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
