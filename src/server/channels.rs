//! Channel ops (§P-5): create, join, leave, close, query, delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use rand::RngExt;

use super::ops::{Caller, Data, Reply};
use super::state::channels::{Channel, ChannelInner, Member};
use super::state::{EventParts, Shared, ms, unguessable};
use crate::protocol::params::{ChannelAction, Create, Join, Query};
use crate::protocol::{Code, EventType};

/// Largest server-assigned uid (§P-5.2).
const MAX_UID: i64 = 1 << 53;

impl Shared {
    /// Creates a channel; `Err(10405)` when a valid channel holds the name (§P-5.1),
    /// `Err(429)` past the creator's channel or `ext` allowance.
    pub(crate) fn create_channel(
        &self,
        caller: &Caller,
        req: Create,
    ) -> Result<Arc<Channel>, Code> {
        let now = self.now_ms();
        let ext = req.ext.unwrap_or_default();
        let quotas = &self.quotas;
        if !quotas.channels.try_take(&caller.account, 1) {
            return Err(Code::LimitExceeded);
        }
        if !quotas.ext_bytes.try_take(&caller.account, ext.len() as u64) {
            quotas.channels.give_back(&caller.account, 1);
            return Err(Code::LimitExceeded);
        }
        let expire_time = now + ms(self.config.channel_ttl);
        let make = |name: String| {
            Arc::new(Channel {
                id: format!("c-{}", unguessable()),
                name,
                kind: req.kind,
                ext: ext.clone(),
                creator: caller.account.clone(),
                create_time: now,
                expire_time: AtomicU64::new(expire_time),
                closed: AtomicBool::new(false),
                forgotten: AtomicBool::new(false),
                inner: Default::default(),
            })
        };
        let channel = match req.channel_name {
            Some(name) => self.channels.insert_named(name, now, make),
            // A generated name is 128 random bits: it collides with nothing.
            None => loop {
                if let Some(channel) =
                    self.channels
                        .insert_named(format!("room-{}", unguessable()), now, make)
                {
                    break Some(channel);
                }
            },
        };
        let Some(channel) = channel else {
            quotas.channels.give_back(&caller.account, 1);
            quotas
                .ext_bytes
                .give_back(&caller.account, ext.len() as u64);
            return Err(Code::RoomHasExists);
        };
        self.expiry.channel(expire_time + 1, &channel);
        Ok(channel)
    }

    pub(crate) fn create(&self, caller: &Caller, req: Create) -> Reply {
        match self.create_channel(caller, req) {
            Ok(channel) => Reply::data(Data::Channel {
                channel: channel.info(self.now_ms()),
            }),
            Err(code) => Reply::code(code),
        }
    }

    /// With `members_only`, whether `caller` may see this channel (else it answers
    /// 10404, as if the channel did not exist).
    pub(crate) fn may_see(&self, caller: &Caller, channel: &Channel, inner: &ChannelInner) -> bool {
        !self.config.members_only || channel.concerns(inner, &caller.account, self.now_ms())
    }

    pub(crate) fn join(&self, caller: &Caller, req: Join) -> Reply {
        self.locked_channel(&req.channel_id, |channel, inner| {
            if !self.may_see(caller, channel, inner) {
                return Err(Code::RoomNotExists);
            }
            self.join_locked(
                caller,
                channel,
                inner,
                req.uid,
                req.attach_ext,
                req.offline_enabled,
            )?;
            Ok(Reply::data(Data::Full(
                channel.rendered(inner, self.now_ms()),
            )))
        })
        .and_then(|r| r)
        .unwrap_or_else(Reply::code)
    }

    /// The join of §P-5.2 on a locked, valid channel; also used by accept's autoJoin
    /// and by call.
    pub(crate) fn join_locked(
        &self,
        caller: &Caller,
        channel: &Arc<Channel>,
        inner: &mut ChannelInner,
        uid: Option<i64>,
        attach_ext: Option<String>,
        offline_enabled: bool,
    ) -> Result<(), Code> {
        if let Some(m) = inner.members.iter().find(|m| m.account == caller.account) {
            return Err(if m.device == caller.device {
                Code::RoomMemberHasExists
            } else {
                Code::RoomMemberHasExistsOtherClient
            });
        }
        let uid = match uid {
            Some(uid) if uid > 0 => {
                if inner.members.iter().any(|m| m.uid == uid) {
                    return Err(Code::UidConflict);
                }
                uid
            }
            _ => 0,
        };
        if inner.members.len() >= self.config.max_members && !fault!(self, NoMemberLimit) {
            return Err(Code::RoomMemberExceed);
        }
        let uid = if uid > 0 {
            uid
        } else {
            let mut rng = rand::rng();
            loop {
                let candidate = rng.random_range(1..=MAX_UID);
                if !inner.members.iter().any(|m| m.uid == candidate) {
                    break candidate;
                }
            }
        };
        let now = self.now_ms();
        channel
            .expire_time
            .store(now + ms(self.config.channel_ttl), Relaxed);
        let member = Member {
            account: caller.account.clone(),
            device: caller.device.clone(),
            uid,
            join_time: now,
        };
        let member_info = channel.member_info(&member);
        inner.members.push(member);
        self.channels.set_membership(&caller.account, channel, true);
        let event = self.event(
            EventType::RoomJoin,
            channel,
            &caller.account,
            EventParts {
                attach_ext,
                member: Some(member_info),
                ..Default::default()
            },
        );
        for other in inner.members.iter().filter(|m| m.account != caller.account) {
            self.deliver(&other.account, &event, offline_enabled);
        }
        Ok(())
    }

    pub(crate) fn leave(&self, caller: &Caller, req: ChannelAction) -> Reply {
        self.locked_channel(&req.channel_id, |channel, inner| {
            let Some(pos) = inner
                .members
                .iter()
                .position(|m| m.account == caller.account)
            else {
                return Code::RoomMemberNotExists;
            };
            inner.members.remove(pos);
            self.channels
                .set_membership(&caller.account, channel, false);
            let event = self.event(
                EventType::Leave,
                channel,
                &caller.account,
                EventParts {
                    attach_ext: req.attach_ext,
                    ..Default::default()
                },
            );
            for other in &inner.members {
                self.deliver(&other.account, &event, req.offline_enabled);
            }
            Code::Ok
        })
        .map_or_else(Reply::code, Reply::code)
    }

    pub(crate) fn close(&self, caller: &Caller, req: ChannelAction) -> Reply {
        let closed = self.locked_channel(&req.channel_id, |channel, inner| {
            if !channel.may_manage(inner, &caller.account) {
                return Err(Code::RoomMemberNotExists);
            }
            channel.closed.store(true, Relaxed);
            let event = self.event(
                EventType::RoomClose,
                channel,
                &caller.account,
                EventParts {
                    attach_ext: req.attach_ext,
                    ..Default::default()
                },
            );
            for member in &inner.members {
                if member.account != caller.account || fault!(self, CloseEcho) {
                    self.deliver(&member.account, &event, req.offline_enabled);
                }
            }
            Ok(channel.clone())
        });
        match closed.and_then(|r| r) {
            Ok(channel) => {
                // Outside the channel lock: forgetting takes it again.
                self.forget_channel(&channel);
                Reply::code(Code::Ok)
            }
            Err(code) => Reply::code(code),
        }
    }

    pub(crate) fn query(&self, caller: &Caller, req: Query) -> Reply {
        let now = self.now_ms();
        let channel = match req {
            Query::ById(id) => self.channels.valid(&id, now),
            Query::ByName(name) => self.channels.valid_by_name(&name, now),
        };
        let Some(channel) = channel else {
            return Reply::code(Code::RoomNotExists);
        };
        let inner = super::shard::lock(&channel.inner);
        if !self.may_see(caller, &channel, &inner) {
            return Reply::code(Code::RoomNotExists);
        }
        Reply::data(Data::Full(channel.rendered(&inner, now)))
    }

    pub(crate) fn delay(&self, caller: &Caller, channel_id: &str) -> Reply {
        self.locked_channel(channel_id, |channel, inner| {
            if !channel.may_manage(inner, &caller.account) {
                return Reply::code(Code::RoomMemberNotExists);
            }
            let now = self.now_ms();
            channel
                .expire_time
                .store(now + ms(self.config.channel_ttl), Relaxed);
            Reply::data(Data::Channel {
                channel: channel.info(now),
            })
        })
        .unwrap_or_else(Reply::code)
    }
}
