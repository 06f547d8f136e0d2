//! The connection task of a device: it owns the WebSocket, writes what the steps
//! queue, reads and routes what arrives (replies to their requests, pushes to the
//! inbox), sends what the driver answers by itself, and closes the connection politely
//! when the last handle is gone.

use super::*;

/// The connection task: writes what steps queue, reads and routes what arrives, sends
/// what the driver answers by itself, and runs the driver's periodic tick.
pub(super) async fn drive(
    mut ws: WebSocketStream<Transport>,
    outbox: Arc<Outbox>,
    inbox: Arc<Inbox>,
    wire: SharedWire,
    tap: Tap,
) {
    let tick_every = lock_wire(&wire).tick_every();
    let mut ticks = tick_every.map(|every| {
        let mut t = tokio::time::interval_at(Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    // Reused for every frame: what the driver made of it (most frames make one item; an
    // idle connection keeps this allocation, so it starts at one).
    let mut decoded: Vec<Inbound> = Vec::with_capacity(1);
    let (close_code, note) = 'conn: loop {
        let tick = async {
            match ticks.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tick => {
                lock_wire(&wire).tick(&mut decoded);
                for text in route(&inbox, &tap, None, &mut decoded) {
                    if ws.send(Message::text(text)).await.is_err() {
                        break 'conn (None, Some("write failed".into()));
                    }
                }
            }
            out = outbox.next() => match out {
                Some(Message::Close(frame)) => {
                    if let Err(e) = ws.close(frame).await {
                        break (None, Some(format!("sending our Close failed: {e}")));
                    }
                    // The closing handshake: the server answers with a Close frame of
                    // its own, then ends the TCP connection (RFC 6455 §5.5.1).
                    break close_reply(&mut ws).await;
                }
                Some(message) => {
                    if let Err(e) = ws.send(message).await {
                        break (None, Some(format!("write failed: {e}")));
                    }
                }
                // Every `Device` handle is gone: close politely.
                None => {
                    let _ = ws.close(None).await;
                    break (None, Some("closed by the harness".into()));
                }
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    lock_wire(&wire).receive(&text, &mut decoded);
                    for answer in route(&inbox, &tap, Some(text), &mut decoded) {
                        if ws.send(Message::text(answer)).await.is_err() {
                            break 'conn (None, Some("write failed".into()));
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => break (frame.map(|f| u16::from(f.code)), None),
                Some(Ok(Message::Binary(bytes))) => {
                    let text = format!("(binary frame, {} bytes)", bytes.len());
                    tap.record(Direction::In, false, Instant::now(), &text);
                    inbox.malformed("binary frame from server".into());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break (None, Some(e.to_string())),
                None => break (None, Some("the connection ended without a Close frame".into())),
            },
        }
    };
    let how = match (close_code, &note) {
        (Some(c), _) => format!("(close, code {c})"),
        (None, Some(note)) => format!("(connection ended: {note})"),
        (None, None) => "(close, no code)".to_owned(),
    };
    tap.record(Direction::In, false, Instant::now(), &how);
    *tap.lock() = None;
    inbox.close(close_code, note);
    // After the inbox knows the close code: a sender that fails reads it there.
    outbox.end();
}

/// After sending our Close: the server's Close reply (its code), or why none came.
async fn close_reply(ws: &mut WebSocketStream<Transport>) -> (Option<u16>, Option<String>) {
    let reply = tokio::time::timeout(CLOSE_WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return (frame.map(|f| u16::from(f.code)), None);
                }
                // Frames the server sent before it saw our Close.
                Some(Ok(_)) => {}
                Some(Err(e)) => return (None, Some(format!("no Close reply: {e}"))),
                None => {
                    return (
                        None,
                        Some("no Close reply: the connection just ended".into()),
                    );
                }
            }
        }
    })
    .await;
    reply.unwrap_or_else(|_| (None, Some(format!("no Close reply within {CLOSE_WAIT:?}"))))
}

/// Files what the driver decoded from one frame (`text`; `None` for a tick) and returns
/// the frames to send back.
fn route(
    inbox: &Inbox,
    tap: &Tap,
    text: Option<Utf8Bytes>,
    decoded: &mut Vec<Inbound>,
) -> Vec<String> {
    let at = Instant::now();
    if let Some(text) = &text {
        tap.record(Direction::In, false, at, text);
    }
    let text = text.unwrap_or_default();
    let bytes = text.len();
    let mut answers = Vec::new();
    for item in decoded.drain(..) {
        match item {
            Inbound::Reply { key, reply } => {
                let received = Received {
                    at,
                    text: text.clone(),
                    frame: reply,
                };
                inbox.reply(key, received, bytes);
            }
            Inbound::Push(push) => {
                // The decoded push costs memory too: count it as twice the text.
                let record = PushRecord {
                    at,
                    push,
                    text: text.clone(),
                };
                inbox.push(record, bytes.saturating_mul(3));
            }
            Inbound::Send(frame) => {
                tap.record(Direction::Out, true, at, &frame);
                answers.push(frame);
            }
            Inbound::Unreadable { key, why } => {
                inbox.unreadable(key, format!("{why}: {}", truncate(&text)));
            }
        }
    }
    answers
}
