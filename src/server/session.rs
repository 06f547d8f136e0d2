//! Login (§P-3) with multi-device and kick, the syncs that follow it, and markRead (§P-7.2).

use std::collections::HashSet;

use tokio_util::sync::CancellationToken;

use super::Auth;
use super::metrics::Metrics;
use super::ops::{Caller, Data, Reply};
use super::shard::lock;
use super::state::{ConnHandle, Device, Outbound, Shared, now_ms};
use crate::protocol::frame::{Push, code_response, response};
use crate::protocol::params::Login;
use crate::protocol::{ChannelWithMembers, Code, Event, token};

pub(crate) enum LoginOutcome {
    /// Logged in; the response and syncs are queued. `kicked` is the `done` token of the
    /// connection this login replaced: its close goes out before our response.
    LoggedIn {
        caller: Caller,
        kicked: Option<CancellationToken>,
    },
    /// 302 is queued; the connection must close with 1008.
    AuthFailed,
}

impl Shared {
    pub(crate) fn login(&self, id: u64, req: Login, conn: &ConnHandle) -> LoginOutcome {
        if let Auth::Secret(secret) = &self.config.auth
            && !token::verify(secret, &req.account, &req.token)
        {
            conn.send(
                Outbound::Text(code_response(Some(id), Code::AuthFailed).into()),
                &self.metrics,
            );
            return LoginOutcome::AuthFailed;
        }
        let channels = self.channels_of(&req.account);
        let now = now_ms();
        let mut shard = self.accounts.lock(&req.account);
        let state = shard.entry(req.account.clone()).or_default();
        if req.push_token.is_some() {
            state.push_token = true;
        }
        let mut kicked = None;
        if let Some(pos) = state.devices.iter().position(|d| d.name == req.device)
            && !fault!(self, NoKick)
        {
            let old = state.devices.remove(pos);
            old.conn.send(Outbound::Kicked, &self.metrics);
            Metrics::add(&self.metrics.kicks, 1);
            kicked = Some(old.conn.done.clone());
        }
        state.devices.push(Device {
            name: req.device.clone(),
            conn: conn.clone(),
        });
        let mut unread: Vec<Event> = state
            .offline
            .iter()
            .map(|stored| Event {
                channel: if fault!(self, StaleStoredChannel) {
                    stored.event.channel.clone()
                } else {
                    stored.channel.info(now)
                },
                ..stored.event.clone()
            })
            .collect();
        if fault!(self, UnreadNewestFirst) {
            unread.reverse();
        }
        if fault!(self, OfflineOnce) {
            state.offline.clear();
        }
        let data = Data::Login {
            account: req.account.clone(),
            device: req.device.clone(),
            server_time: now,
        };
        for text in [
            response(id, Code::Ok, Some(data)),
            Push::ChannelsSync {
                channels: &channels,
            }
            .to_text(),
            Push::UnreadSync { events: &unread }.to_text(),
        ] {
            conn.send(Outbound::Text(text.into()), &self.metrics);
        }
        drop(shard);
        self.metrics.op(Some(crate::protocol::Op::Login), Code::Ok);
        LoginOutcome::LoggedIn {
            caller: Caller {
                account: req.account,
                device: req.device,
                conn_id: conn.id,
            },
            kicked,
        }
    }

    /// Every valid channel where `account` is a member, with its members (§P-3.6).
    fn channels_of(&self, account: &str) -> Vec<ChannelWithMembers> {
        let channels: Vec<_> = self
            .accounts
            .lock(account)
            .get(account)
            .map(|s| s.channels.values().cloned().collect())
            .unwrap_or_default();
        let now = now_ms();
        let mut out: Vec<(u64, ChannelWithMembers)> = channels
            .iter()
            .filter(|c| c.is_valid(now))
            .map(|c| (c.create_time, c.with_members(&lock(&c.inner), now)))
            .collect();
        out.sort_by(|a, b| (a.0, &a.1.channel.channel_id).cmp(&(b.0, &b.1.channel.channel_id)));
        out.into_iter().map(|(_, c)| c).collect()
    }

    pub(crate) fn mark_read(&self, caller: &Caller, msgids: &[String]) -> Reply {
        let ids: HashSet<&str> = msgids.iter().map(String::as_str).collect();
        let mut shard = self.accounts.lock(&caller.account);
        if let Some(state) = shard.get_mut(&caller.account) {
            state
                .offline
                .retain(|stored| !ids.contains(stored.event.msgid.as_str()));
        }
        Reply::code(Code::Ok)
    }
}
