//! Deliberate deviations from the protocol (cargo feature `faults`, never in default
//! builds): `sigbench serve --fault NAME` makes the reference server break one rule, so
//! that the conformance suite can be shown to catch it (tests/conformance_faults.rs).
//!
//! Each fault is checked at the one place it changes, through the `fault!` macro of
//! [`super`]; without the feature that macro is the constant `false`. The only fault
//! with code of its own is `accept-cancel-not-atomic`, which replaces the atomic
//! check-and-set of an invitation by a read, a pause and a blind write.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::ops::{Caller, Reply};
use super::shard::lock;
use super::state::channels::Channel;
use super::state::invitations::{InviteKey, InviteState};
use super::state::{EventParts, Shared};
use crate::protocol::params::{Accept, InviteAction};
use crate::protocol::{Code, EventType};

/// One deviation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    InviteMemberOk,
    CancelSilent,
    CancelAfterAcceptOk,
    NoMemberLimit,
    CallNoRollback,
    OfflineDrop,
    OfflineOnce,
    NoMultiClientSync,
    InvitesNeverExpire,
    No10202,
    AcceptCancelNotAtomic,
    Slow50ms,
    NoKick,
    UnreadNewestFirst,
    ControlStored,
    CloseEcho,
    StaleStoredChannel,
    PresenceNever,
    NoCloseReply,
}

impl Fault {
    pub const ALL: [Fault; 19] = [
        Fault::InviteMemberOk,
        Fault::CancelSilent,
        Fault::CancelAfterAcceptOk,
        Fault::NoMemberLimit,
        Fault::CallNoRollback,
        Fault::OfflineDrop,
        Fault::OfflineOnce,
        Fault::NoMultiClientSync,
        Fault::InvitesNeverExpire,
        Fault::No10202,
        Fault::AcceptCancelNotAtomic,
        Fault::Slow50ms,
        Fault::NoKick,
        Fault::UnreadNewestFirst,
        Fault::ControlStored,
        Fault::CloseEcho,
        Fault::StaleStoredChannel,
        Fault::PresenceNever,
        Fault::NoCloseReply,
    ];

    /// The name given to `--fault`.
    pub const fn name(self) -> &'static str {
        match self {
            Fault::InviteMemberOk => "invite-member-ok",
            Fault::CancelSilent => "cancel-silent",
            Fault::CancelAfterAcceptOk => "cancel-after-accept-ok",
            Fault::NoMemberLimit => "no-member-limit",
            Fault::CallNoRollback => "call-no-rollback",
            Fault::OfflineDrop => "offline-drop",
            Fault::OfflineOnce => "offline-once",
            Fault::NoMultiClientSync => "no-multi-client-sync",
            Fault::InvitesNeverExpire => "invites-never-expire",
            Fault::No10202 => "no-10202",
            Fault::AcceptCancelNotAtomic => "accept-cancel-not-atomic",
            Fault::Slow50ms => "slow-50ms",
            Fault::NoKick => "no-kick",
            Fault::UnreadNewestFirst => "unread-newest-first",
            Fault::ControlStored => "control-stored",
            Fault::CloseEcho => "close-echo",
            Fault::StaleStoredChannel => "stale-stored-channel",
            Fault::PresenceNever => "presence-never",
            Fault::NoCloseReply => "no-close-reply",
        }
    }

    /// What the server does wrong, and the rule it breaks.
    pub const fn description(self) -> &'static str {
        match self {
            Fault::InviteMemberOk => "invite to a member answers 200 instead of 10407 (P-6.1)",
            Fault::CancelSilent => "cancel does not send CANCEL_INVITE to the invitee (P-6.2)",
            Fault::CancelAfterAcceptOk => {
                "cancel of an accepted invitation answers 200 instead of 10410 (P-6.2)"
            }
            Fault::NoMemberLimit => "the member limit is never enforced: no 10419 (P-5.2, P-6.1)",
            Fault::CallNoRollback => "a call that fails leaves its channel open (P-6.5)",
            Fault::OfflineDrop => "events for offline accounts are dropped, never stored (P-7.1)",
            Fault::OfflineOnce => {
                "stored events are deleted when first delivered, not on markRead (P-7.2)"
            }
            Fault::NoMultiClientSync => "multiClientSync is never sent (P-8.2)",
            Fault::InvitesNeverExpire => "pending invitations never expire (P-6.6)",
            Fault::No10202 => "10201 where 10202 is due: push registration ignored (P-6.1)",
            Fault::AcceptCancelNotAtomic => {
                "accept and cancel read and write the invitation in two steps: both can win (P-6)"
            }
            Fault::Slow50ms => "every request is answered 50 ms late (P-2.2)",
            Fault::NoKick => "a second login with the same account and device kicks nobody (P-3.5)",
            Fault::UnreadNewestFirst => "unreadSync lists stored events newest first (P-7.2)",
            Fault::ControlStored => "CONTROL events are stored for offline accounts (P-6.7, P-7.1)",
            Fault::CloseEcho => "ROOM_CLOSE also goes to the closer's own devices (P-5.4, P-5.9)",
            Fault::StaleStoredChannel => {
                "stored events carry the channel as it was when stored, never invalid (P-4.3)"
            }
            Fault::PresenceNever => {
                "a connection that ended stays online forever: no 10201, nothing stored (P-6.1, P-7.1)"
            }
            Fault::NoCloseReply => {
                "a client's Close frame is not answered: the connection just ends (P-1.6)"
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Fault, String> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault '{s}' (faults: {})", names.join(", "))
            })
    }
}

/// The faults a server runs with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Faults(Vec<Fault>);

impl Faults {
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> Faults {
        let mut list: Vec<Fault> = faults.into_iter().collect();
        list.sort();
        list.dedup();
        Faults(list)
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

/// How long `accept-cancel-not-atomic` waits between its read and its write.
const RACE_WINDOW: Duration = Duration::from_millis(3);

impl Shared {
    /// `accept-cancel-not-atomic`: reads the invitation under the channel lock, lets the
    /// lock go, waits, then writes its decision without looking again. `None` when the
    /// fault is off or the invitation is not pending (the normal path answers then).
    fn racy_decide(&self, channel_id: &str, key: &InviteKey) -> Option<Arc<Channel>> {
        if !self.config.faults.has(Fault::AcceptCancelNotAtomic) {
            return None;
        }
        let now = self.now_ms();
        let channel = self.channels.valid(channel_id, now)?;
        let pending = lock(&channel.inner)
            .invitations
            .get(key)
            .is_some_and(|i| i.state == InviteState::Pending && i.expires_at >= now);
        if !pending {
            return None;
        }
        std::thread::sleep(RACE_WINDOW);
        Some(channel)
    }

    /// The racy cancel; see [`Shared::racy_decide`].
    pub(crate) fn racy_cancel(&self, caller: &Caller, req: &InviteAction) -> Option<Reply> {
        let key = (
            caller.account.clone(),
            req.account.clone(),
            req.request_id.clone(),
        );
        let channel = self.racy_decide(&req.channel_id, &key)?;
        let mut inner = lock(&channel.inner);
        inner.invitations.force(&key, InviteState::Cancelled);
        let event = self.event(
            EventType::CancelInvite,
            &channel,
            &caller.account,
            EventParts {
                to: Some(req.account.clone()),
                request_id: Some(req.request_id.clone()),
                attach_ext: req.attach_ext.clone(),
                ..Default::default()
            },
        );
        self.deliver(&req.account, &event, req.offline_enabled);
        Some(Reply::code(Code::Ok))
    }

    /// The racy accept (without `autoJoin`); see [`Shared::racy_decide`].
    pub(crate) fn racy_accept(&self, caller: &Caller, req: &Accept) -> Option<Reply> {
        if req.auto_join {
            return None;
        }
        let action = &req.action;
        let key = (
            action.account.clone(),
            caller.account.clone(),
            action.request_id.clone(),
        );
        let channel = self.racy_decide(&action.channel_id, &key)?;
        let mut inner = lock(&channel.inner);
        inner.invitations.force(&key, InviteState::Accepted);
        let event = self.event(
            EventType::Accept,
            &channel,
            &caller.account,
            EventParts {
                to: Some(action.account.clone()),
                request_id: Some(action.request_id.clone()),
                attach_ext: action.attach_ext.clone(),
                ..Default::default()
            },
        );
        let delivery = self.deliver(&action.account, &event, action.offline_enabled);
        self.sync_other_devices(&caller.account, caller.conn_id, &event);
        Some(Reply::code(if delivery.online {
            Code::Ok
        } else {
            Code::PeerNimOffline
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(!f.description().is_empty());
        }
        let mut names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Fault::ALL.len());
        assert!("nope".parse::<Fault>().unwrap_err().contains("slow-50ms"));
        let set = Faults::new([Fault::Slow50ms, Fault::NoKick, Fault::Slow50ms]);
        assert!(set.has(Fault::NoKick));
        assert_eq!(set.iter().count(), 2);
    }
}
