//! Login (§P-3) with multi-device and kick, the syncs that follow it, and markRead (§P-7.2).
//!
//! Login registers the device and snapshots the stored events under the account's
//! mailbox lock (so no event is lost between "offline" and "online"), then lets go of
//! the lock before rendering and serializing anything.

use std::collections::HashSet;

use tokio_util::sync::CancellationToken;

use super::Auth;
use super::ops::{Caller, Data, Reply};
use super::shard::lock;
use super::state::Shared;
use super::state::presence::{ConnHandle, StopReason};
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
                code_response(Some(id), Code::AuthFailed).into(),
                &self.metrics,
            );
            return LoginOutcome::AuthFailed;
        }
        let channels = self.channels_of(&req.account);
        let now = self.now_ms();
        let (replaced, stored) = {
            let mut mailbox = self.offline.lock(&req.account);
            let replaced = self.presence.register(
                &mailbox,
                &req.device,
                conn,
                req.push_token.is_some(),
                !fault!(self, NoKick),
            );
            let stored = mailbox.unread();
            if fault!(self, OfflineOnce) {
                mailbox.remove(None, &self.quotas.ext_bytes);
            }
            (replaced, stored)
        };
        let kicked = replaced.map(|old| {
            old.stop(StopReason::Kicked, &self.metrics);
            old.done.clone()
        });
        let mut unread: Vec<Event> = stored
            .iter()
            .map(|(event, channel)| Event {
                channel: if fault!(self, StaleStoredChannel) {
                    event.channel.clone()
                } else {
                    channel.info(now)
                },
                ..Event::clone(event)
            })
            .collect();
        if fault!(self, UnreadNewestFirst) {
            unread.reverse();
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
            conn.send(text.into(), &self.metrics);
        }
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

    /// Removes the device of a connection that ended.
    pub(crate) fn logout(&self, caller: &Caller) {
        let mailbox = self.offline.lock(&caller.account);
        self.presence.unregister(&mailbox, caller.conn_id);
    }

    /// Every valid channel where `account` is a member, with its members (§P-3.6).
    fn channels_of(&self, account: &str) -> Vec<ChannelWithMembers> {
        let channels = self.channels.of_member(account);
        let now = self.now_ms();
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
        self.offline
            .lock(&caller.account)
            .remove(Some(&ids), &self.quotas.ext_bytes);
        Reply::code(Code::Ok)
    }
}
