//! The `raw` step: a frame sent as written (or split into fragments, or as a close),
//! outside the driver's framing, and what the target must answer to it.

use super::*;

impl Session<'_> {
    pub(super) async fn raw(&self, step: &Step, raw: &RawStep) -> StepResult {
        let device = self.connect(step, raw.target).await?;
        self.sending(step, &device);
        let payload = raw.frame.render(&self.lock().vars);
        let (messages, shown) = match payload {
            RawPayload::Text(text) => {
                let shown = truncate(&text);
                (fragment(text, raw.frame.fragments()), shown)
            }
            RawPayload::Binary(bytes) => {
                let shown = format!("(binary, {} bytes)", bytes.len());
                (vec![Message::binary(bytes)], shown)
            }
            RawPayload::Close(code) => {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: "".into(),
                };
                (vec![Message::Close(Some(frame))], format!("(Close {code})"))
            }
        };
        let sent = device
            .send_raw(messages)
            .await
            .map_err(|e| self.client_failure(step, raw.target, &e, &shown))?;
        self.lock().sent[raw.id.0] = Some(sent);
        let deadline = sent + raw.timeout;
        match &raw.expect {
            RawExpect::Response(expect) => {
                let response = device
                    .next_unclaimed(sent, raw.timeout)
                    .await
                    .map_err(|e| {
                        if matches!(e, ClientError::Timeout(..)) {
                            // Its reply may still come: it must not answer a later step.
                            device.expire_unclaimed();
                        }
                        self.request_failure(step, raw.target, raw.metric, &e, &shown)
                    })?;
                self.record(raw.metric, response.at - sent, response.at);
                self.check_response(step, raw.target, &shown, &response, expect, &[])?;
                Ok(Some(response.frame))
            }
            RawExpect::Close(want) => match device.closed(deadline).await {
                Some(code) if code == Some(*want) => {
                    let now = Instant::now();
                    self.record(raw.metric, now - sent, now);
                    self.set_device(raw.target, None);
                    Ok(None)
                }
                got => {
                    let got = match got {
                        None => format!("connection still open after {:?}", raw.timeout),
                        Some(None) => match device.close_note() {
                            Some(note) => format!("no Close frame ({note})"),
                            None => "a Close frame without a close code".into(),
                        },
                        Some(Some(code)) => format!("close code {code}"),
                    };
                    let m = Mismatch::new(format!("close code {want}"), got);
                    self.fail(
                        step,
                        Some(raw.target),
                        m.to_string(),
                        self.sample(m.to_string()).with_frame(format!("-> {shown}")),
                    );
                    Err(Abort)
                }
            },
        }
    }
}

/// A text message as one frame, or split into `parts` frames (a text frame, then
/// continuations) at character boundaries.
fn fragment(text: String, parts: usize) -> Vec<Message> {
    if parts <= 1 {
        return vec![Message::text(text)];
    }
    let step = text.len().div_ceil(parts).max(1);
    let mut pieces = Vec::with_capacity(parts);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&text[start..end]);
        start = end;
    }
    let last = pieces.len().saturating_sub(1);
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            Message::Frame(Frame::message(piece.to_string(), opcode, i == last))
        })
        .collect()
}
