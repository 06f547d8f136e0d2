//! Channel ops (§P-5): create, join, leave, close, query, delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use rand::RngExt;

use super::ops::{Caller, Data, Reply};
use super::state::{Channel, ChannelInner, EventParts, Member, Shared, ms, now_ms};
use crate::protocol::params::{ChannelAction, Create, Join, Query};
use crate::protocol::{Code, EventType};

/// Largest server-assigned uid (§P-5.2).
const MAX_UID: i64 = 1 << 53;

impl Shared {
    /// Creates a channel; `Err(10405)` when a valid channel holds the name (§P-5.1).
    pub(crate) fn create_channel(
        &self,
        caller: &Caller,
        req: Create,
    ) -> Result<Arc<Channel>, Code> {
        let now = now_ms();
        let id = self.next_id();
        let make = |name: String| {
            Arc::new(Channel {
                id: format!("c-{id}"),
                name,
                kind: req.kind,
                ext: req.ext.clone().unwrap_or_default(),
                creator: caller.account.clone(),
                create_time: now,
                expire_time: AtomicU64::new(now + ms(self.config.channel_ttl)),
                closed: AtomicBool::new(false),
                inner: Default::default(),
            })
        };
        let channel = match req.channel_name {
            Some(name) => {
                let mut names = self.names.lock(&name);
                if names.get(&name).is_some_and(|c| c.is_valid(now)) {
                    return Err(Code::RoomHasExists);
                }
                let channel = make(name.clone());
                names.insert(name, channel.clone());
                channel
            }
            None => loop {
                // A generated name can only collide with one a client chose on purpose.
                let name = format!("room-{id}-{:08x}", rand::rng().random::<u32>());
                let mut names = self.names.lock(&name);
                if !names.get(&name).is_some_and(|c| c.is_valid(now)) {
                    let channel = make(name.clone());
                    names.insert(name, channel.clone());
                    break channel;
                }
            },
        };
        self.channels
            .lock(&channel.id)
            .insert(channel.id.clone(), channel.clone());
        Ok(channel)
    }

    pub(crate) fn create(&self, caller: &Caller, req: Create) -> Reply {
        match self.create_channel(caller, req) {
            Ok(channel) => Reply::data(Data::Channel {
                channel: channel.info(now_ms()),
            }),
            Err(code) => Reply::code(code),
        }
    }

    pub(crate) fn join(&self, caller: &Caller, req: Join) -> Reply {
        self.locked_channel(&req.channel_id, |channel, inner| {
            self.join_locked(
                caller,
                channel,
                inner,
                req.uid,
                req.attach_ext,
                req.offline_enabled,
            )?;
            Ok(Reply::data(Data::Full(
                channel.with_members(inner, now_ms()),
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
        let now = now_ms();
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
        self.set_membership(&caller.account, channel, true);
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
            self.set_membership(&caller.account, channel, false);
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
                self.set_membership(&member.account, channel, false);
            }
            Ok(channel.clone())
        });
        match closed.and_then(|r| r) {
            Ok(channel) => {
                // Outside the channel lock: the name index is locked before channels.
                self.forget_channel(&channel);
                Reply::code(Code::Ok)
            }
            Err(code) => Reply::code(code),
        }
    }

    /// Closes a channel that `call` created, without events: nobody else is in it.
    pub(crate) fn roll_back(&self, channel: &Arc<Channel>, inner: &ChannelInner) {
        channel.closed.store(true, Relaxed);
        for member in &inner.members {
            self.set_membership(&member.account, channel, false);
        }
        self.forget_channel(channel);
    }

    pub(crate) fn query(&self, req: Query) -> Reply {
        let now = now_ms();
        let channel = match req {
            Query::ById(id) => self.valid_channel(&id, now),
            Query::ByName(name) => self
                .names
                .lock(&name)
                .get(&name)
                .filter(|c| c.is_valid(now))
                .cloned(),
        };
        let Some(channel) = channel else {
            return Reply::code(Code::RoomNotExists);
        };
        let inner = super::shard::lock(&channel.inner);
        Reply::data(Data::Full(channel.with_members(&inner, now)))
    }

    pub(crate) fn delay(&self, caller: &Caller, channel_id: &str) -> Reply {
        self.locked_channel(channel_id, |channel, inner| {
            if !channel.may_manage(inner, &caller.account) {
                return Reply::code(Code::RoomMemberNotExists);
            }
            let now = now_ms();
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
