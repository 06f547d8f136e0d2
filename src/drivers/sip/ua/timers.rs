//! The UA's timers: transaction timeouts (Timer B/F, the proceeding bound), the
//! registration refresh, and the ACK an answered call waits for.

use tokio::time::Instant;

use super::{Event, Origin, ResponseEvent, Role, Ua};

impl Ua {
    /// When [`Ua::tick`] next has work (transaction timeouts, refresh, ACK waits).
    pub fn next_deadline(&self) -> Option<Instant> {
        let tx = self.clients.values().map(|t| t.deadline);
        let acks = self.uas.values().filter_map(|c| c.ack_deadline);
        let refresh = if self.registration.in_flight {
            None
        } else {
            self.registration.refresh_at
        };
        tx.chain(acks).chain(refresh).min()
    }

    /// Timers: transaction timeouts become 408 responses, registrations are refreshed,
    /// an answer without ACK is ended with BYE.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        let expired: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, tx)| tx.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for branch_method in expired {
            let tx = self.clients.remove(&branch_method).expect("listed");
            let timer = if tx.draft.method == "INVITE" {
                if tx.proceeding {
                    "no final response within 180 s of the provisional one (Timer C)"
                } else {
                    "no response within 32 s (Timer B)"
                }
            } else {
                "no final response within 32 s (Timer F)"
            };
            if tx.draft.method == "INVITE" {
                self.uac.remove(&tx.draft.call_id);
            }
            if tx.draft.method == "REGISTER" {
                self.registration.in_flight = false;
            }
            if tx.draft.method == "BYE" {
                self.uac.remove(&tx.draft.call_id);
                self.uas.remove(&tx.draft.call_id);
            }
            self.remember(branch_method);
            out.push(Event::Response(ResponseEvent {
                key: tx.key,
                origin: tx.origin,
                method: tx.draft.method.clone(),
                call_id: tx.draft.call_id.clone(),
                status: 408,
                reason: "Request Timeout".into(),
                is_final: true,
                message: None,
                note: Some(timer.into()),
            }));
        }
        let reg = &self.registration;
        if !reg.in_flight && reg.granted.is_some() && reg.refresh_at.is_some_and(|at| at <= now) {
            let expires = reg.asked;
            let key = self.new_key();
            match self.send_register(now, key, Origin::Refresh, expires) {
                Ok(text) => out.push(Event::Send(text)),
                Err(why) => out.push(Event::Unreadable { key: None, why }),
            }
        }
        let unacked: Vec<String> = self
            .uas
            .iter()
            .filter(|(_, c)| c.ack_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in unacked {
            if let Some(call) = self.uas.get_mut(&id) {
                call.ack_deadline = None;
            }
            out.push(Event::NoAck {
                call_id: id.clone(),
            });
            if let Ok((_, text)) = self.bye_as(now, Role::Uas, &id, Origin::Internal) {
                out.push(Event::Send(text));
            }
        }
    }
}
