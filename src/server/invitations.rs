//! Invitation ops (§P-6): invite, cancel, reject, accept, call, control.
//!
//! Every transition of an invitation happens under its channel's lock, so of a
//! concurrent accept and cancel exactly one succeeds (§P-6). A targeted op that would
//! store its event for an offline account checks first that the store and the sender's
//! allowance admit it (else 429, nothing changed).

use std::sync::Arc;

use super::ops::{Caller, Data, Reply};
use super::shard::lock;
use super::state::channels::{Channel, ChannelInner};
use super::state::invitations::InviteState;
use super::state::{EventParts, Shared, ms};
use crate::protocol::params::{Accept, Call, Control, Create, Invite, InviteAction};
use crate::protocol::{Code, EventType, PushInfo};

/// What an event costs in the offline store beyond its channel's `ext` and its
/// `attachExt`: a generous estimate of the rest of its `notify` text, for the checks
/// made before an op changes anything (the store itself counts the real size).
const EVENT_OVERHEAD: usize = 1024;

/// The invite-specific params, shared by `invite` and `call`.
pub(crate) struct InviteArgs {
    pub invitee: String,
    pub request_id: String,
    pub offline_enabled: bool,
    pub attach_ext: Option<String>,
    pub push_info: Option<PushInfo>,
}

impl Shared {
    pub(crate) fn invite(&self, caller: &Caller, req: Invite) -> Reply {
        let args = InviteArgs {
            invitee: req.account,
            request_id: req.request_id,
            offline_enabled: req.offline_enabled,
            attach_ext: req.attach_ext,
            push_info: req.push_info,
        };
        self.locked_channel(&req.channel_id, |channel, inner| {
            self.invite_locked(caller, channel, inner, args)
        })
        .map_or_else(Reply::code, Reply::code)
    }

    /// §P-6.1 on a locked, valid channel.
    pub(crate) fn invite_locked(
        &self,
        caller: &Caller,
        channel: &Arc<Channel>,
        inner: &mut ChannelInner,
        args: InviteArgs,
    ) -> Code {
        if !channel.may_manage(inner, &caller.account) {
            return Code::RoomMemberNotExists;
        }
        if inner.members.iter().any(|m| m.account == args.invitee) && !fault!(self, InviteMemberOk)
        {
            return Code::RoomMemberHasExists;
        }
        if inner.members.len() >= self.config.max_members && !fault!(self, NoMemberLimit) {
            return Code::RoomMemberExceed;
        }
        let key = (
            caller.account.clone(),
            args.invitee.clone(),
            args.request_id.clone(),
        );
        let push_bytes = args
            .push_info
            .as_ref()
            .and_then(|p| serde_json::to_vec(p).ok())
            .map_or(0, |v| v.len());
        if !self.could_deliver(
            &args.invitee,
            args.offline_enabled,
            &caller.account,
            EVENT_OVERHEAD + channel.ext.len() + push_bytes,
            args.attach_ext.as_deref(),
        ) {
            return Code::LimitExceeded;
        }
        let is_new = !inner.invitations.contains(&key);
        if is_new && !self.quotas.invitations.try_take(&caller.account, 1) {
            return Code::LimitExceeded;
        }
        // A new invitation, a renewal of a pending one, or a fresh one after it ended:
        // in every case it is pending again with a new expiry (§P-6.1).
        let expires_at = if fault!(self, InvitesNeverExpire) {
            u64::MAX
        } else {
            self.now_ms() + ms(self.config.invite_ttl)
        };
        inner.invitations.put_pending(key.clone(), expires_at);
        if expires_at != u64::MAX {
            self.expiry.invitation(expires_at + 1, channel, key);
        }
        let need_push = args.push_info.as_ref().is_some_and(|p| p.need_push);
        let event = self.event(
            EventType::Invite,
            channel,
            &caller.account,
            EventParts {
                push_info: args.push_info,
                ..EventParts::invitation(&args.invitee, args.request_id, args.attach_ext)
            },
        );
        let delivery = self.deliver(&args.invitee, &event, args.offline_enabled);
        if delivery.online {
            Code::Ok
        } else if need_push && !delivery.push_token && !fault!(self, No10202) {
            Code::PeerPushOffline
        } else {
            Code::PeerNimOffline
        }
    }

    pub(crate) fn cancel(&self, caller: &Caller, req: InviteAction) -> Reply {
        #[cfg(feature = "faults")]
        if let Some(reply) = self.racy_cancel(caller, &req) {
            return reply;
        }
        self.locked_channel(&req.channel_id, |channel, inner| {
            let key = (
                caller.account.clone(),
                req.account.clone(),
                req.request_id.clone(),
            );
            if fault!(self, CancelAfterAcceptOk)
                && inner
                    .invitations
                    .get(&key)
                    .is_some_and(|i| i.state == InviteState::Accepted)
            {
                return Code::Ok;
            }
            if !self.could_deliver(
                &req.account,
                req.offline_enabled && !fault!(self, CancelSilent),
                &caller.account,
                EVENT_OVERHEAD + channel.ext.len(),
                req.attach_ext.as_deref(),
            ) {
                return Code::LimitExceeded;
            }
            match inner
                .invitations
                .transition(&key, InviteState::Cancelled, self.now_ms())
            {
                Ok(true) => self.quotas.invitations.give_back(&caller.account, 1),
                Ok(false) => {}
                Err(code) => return code,
            }
            let event = self.event(
                EventType::CancelInvite,
                channel,
                &caller.account,
                EventParts::invitation(&req.account, req.request_id, req.attach_ext),
            );
            if !fault!(self, CancelSilent) {
                self.deliver(&req.account, &event, req.offline_enabled);
            }
            Code::Ok
        })
        .map_or_else(Reply::code, Reply::code)
    }

    /// The common part of reject and accept: transition, notify the inviter, sync the
    /// invitee's other devices. Returns 200 or 10201 (inviter offline).
    fn answer_locked(
        &self,
        caller: &Caller,
        channel: &Arc<Channel>,
        inner: &mut ChannelInner,
        req: InviteAction,
        to: InviteState,
    ) -> Result<Code, Code> {
        let key = (
            req.account.clone(),
            caller.account.clone(),
            req.request_id.clone(),
        );
        if inner
            .invitations
            .get(&key)
            .is_some_and(|i| i.state == InviteState::Pending && i.expires_at >= self.now_ms())
            && !self.could_deliver(
                &req.account,
                req.offline_enabled,
                &caller.account,
                EVENT_OVERHEAD + channel.ext.len(),
                req.attach_ext.as_deref(),
            )
        {
            return Err(Code::LimitExceeded);
        }
        inner.invitations.transition(&key, to, self.now_ms())?;
        let event_type = if to == InviteState::Accepted {
            EventType::Accept
        } else {
            EventType::Reject
        };
        let event = self.event(
            event_type,
            channel,
            &caller.account,
            EventParts::invitation(&req.account, req.request_id, req.attach_ext),
        );
        let delivery = self.deliver(&req.account, &event, req.offline_enabled);
        self.sync_other_devices(&caller.account, caller.conn_id, &event);
        Ok(if delivery.online {
            Code::Ok
        } else {
            Code::PeerNimOffline
        })
    }

    pub(crate) fn reject(&self, caller: &Caller, req: InviteAction) -> Reply {
        self.locked_channel(&req.channel_id.clone(), |channel, inner| {
            self.answer_locked(caller, channel, inner, req, InviteState::Rejected)
        })
        .and_then(|r| r)
        .map_or_else(Reply::code, Reply::code)
    }

    pub(crate) fn accept(&self, caller: &Caller, req: Accept) -> Reply {
        #[cfg(feature = "faults")]
        if let Some(reply) = self.racy_accept(caller, &req) {
            return reply;
        }
        let offline_enabled = req.action.offline_enabled;
        let result = self.locked_channel(&req.action.channel_id.clone(), |channel, inner| {
            let code =
                self.answer_locked(caller, channel, inner, req.action, InviteState::Accepted)?;
            if !req.auto_join {
                return Ok(Reply::code(code));
            }
            let joined = self.join_locked(
                caller,
                channel,
                inner,
                req.uid,
                req.join_attach_ext,
                offline_enabled,
            );
            let data = Data::Full(channel.rendered(inner, self.now_ms()));
            Ok(Reply {
                code: joined.err().unwrap_or(code),
                data: Some(data),
            })
        });
        match result {
            Ok(Ok(reply)) => reply,
            Ok(Err(code)) | Err(code) => Reply::code(code),
        }
    }

    pub(crate) fn call(&self, caller: &Caller, req: Call) -> Reply {
        let create = Create {
            kind: req.kind,
            channel_name: req.channel_name,
            ext: req.ext,
        };
        let channel = match self.create_channel(caller, create) {
            Ok(channel) => channel,
            Err(code) => return Reply::code(code),
        };
        let mut inner = lock(&channel.inner);
        let roll_back = |inner: std::sync::MutexGuard<'_, ChannelInner>| {
            if !fault!(self, CallNoRollback) {
                channel
                    .closed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                drop(inner);
                self.forget_channel(&channel);
            }
        };
        if let Err(code) = self.join_locked(
            caller,
            &channel,
            &mut inner,
            req.uid,
            None,
            req.offline_enabled,
        ) {
            roll_back(inner);
            return Reply::code(code);
        }
        let args = InviteArgs {
            invitee: req.account,
            request_id: req.request_id,
            offline_enabled: req.offline_enabled,
            attach_ext: req.attach_ext,
            push_info: req.push_info,
        };
        let code = self.invite_locked(caller, &channel, &mut inner, args);
        if !code.invitation_stands() {
            roll_back(inner);
            return Reply::code(code);
        }
        Reply {
            code,
            data: Some(Data::Full(channel.rendered(&inner, self.now_ms()))),
        }
    }

    pub(crate) fn control(&self, caller: &Caller, req: Control) -> Reply {
        self.locked_channel(&req.channel_id, |channel, inner| {
            if !self.may_see(caller, channel, inner) {
                return Code::RoomNotExists;
            }
            let targets: Vec<&str> = match &req.account {
                Some(target) => {
                    if !inner.members.iter().any(|m| &m.account == target) {
                        return Code::RoomMemberNotExists;
                    }
                    vec![target.as_str()]
                }
                None => inner
                    .members
                    .iter()
                    .map(|m| m.account.as_str())
                    .filter(|a| *a != caller.account)
                    .collect(),
            };
            let event = self.event(
                EventType::Control,
                channel,
                &caller.account,
                EventParts {
                    attach_ext: req.attach_ext.clone(),
                    ..Default::default()
                },
            );
            let mut online = false;
            for target in targets {
                online |= self
                    .deliver(target, &event, fault!(self, ControlStored))
                    .online;
            }
            if req.account.is_some() && !online {
                Code::PeerNimOffline
            } else {
                Code::Ok
            }
        })
        .map_or_else(Reply::code, Reply::code)
    }
}
