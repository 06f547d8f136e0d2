//! A channel's invitations (§P-6), kept under the channel's lock so that of a concurrent
//! accept and cancel exactly one succeeds. Only pending invitations expire (§P-6.6): an
//! expired or cancelled one is removed (both answer 10408 like an unknown one); an
//! answered one stays as long as its channel, to keep answering 10409/10410. Each one
//! held counts against its inviter's allowance.

use std::collections::HashMap;

use crate::protocol::Code;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InviteState {
    Pending,
    Accepted,
    Rejected,
    Cancelled,
}

pub(crate) struct Invitation {
    pub state: InviteState,
    /// Expiry of a pending invitation, ms since the epoch.
    pub expires_at: u64,
}

/// (inviter, invitee, requestId); the channel is implied by where it is stored.
pub(crate) type InviteKey = (String, String, String);

/// One channel's invitations.
#[derive(Default)]
pub(crate) struct Invitations {
    /// By key; see the module doc for how long an entry stays.
    map: HashMap<InviteKey, Invitation>,
}

impl Invitations {
    pub(crate) fn get(&self, key: &InviteKey) -> Option<&Invitation> {
        self.map.get(key)
    }

    /// Makes the invitation pending until `expires_at` (new, renewed or restarted,
    /// §P-6.1); true when the key is new (it then takes a unit of the inviter's
    /// allowance).
    pub(crate) fn put_pending(&mut self, key: InviteKey, expires_at: u64) -> bool {
        self.map
            .insert(
                key,
                Invitation {
                    state: InviteState::Pending,
                    expires_at,
                },
            )
            .is_none()
    }

    /// Whether `key` would be new (for the allowance check before [`Self::put_pending`]).
    pub(crate) fn contains(&self, key: &InviteKey) -> bool {
        self.map.contains_key(key)
    }

    /// Moves a pending invitation to `to`, or says why it cannot (§P-6.2, §P-6.6).
    /// Cancelled invitations are removed (they answer 10408 like unknown ones); the
    /// returned flag says so, for the inviter's allowance.
    pub(crate) fn transition(
        &mut self,
        key: &InviteKey,
        to: InviteState,
        now: u64,
    ) -> Result<bool, Code> {
        let Some(invitation) = self.map.get_mut(key) else {
            return Err(Code::InviteNotExists);
        };
        match invitation.state {
            InviteState::Pending if invitation.expires_at < now => Err(Code::InviteNotExists),
            InviteState::Pending if to == InviteState::Cancelled => {
                self.map.remove(key);
                Ok(true)
            }
            InviteState::Pending => {
                invitation.state = to;
                Ok(false)
            }
            InviteState::Cancelled => Err(Code::InviteNotExists),
            InviteState::Rejected => Err(Code::InviteHasReject),
            InviteState::Accepted => Err(Code::InviteHasAccept),
        }
    }

    /// Sets the state without checks (the racy faults only).
    #[cfg(feature = "faults")]
    pub(crate) fn force(&mut self, key: &InviteKey, to: InviteState) {
        if let Some(invitation) = self.map.get_mut(key) {
            invitation.state = to;
        }
    }

    /// Forgets the invitation if it is pending and its expiry time has passed; true when
    /// it did.
    pub(crate) fn expire(&mut self, key: &InviteKey, now: u64) -> bool {
        if self
            .map
            .get(key)
            .is_some_and(|i| i.state == InviteState::Pending && i.expires_at < now)
        {
            self.map.remove(key);
            true
        } else {
            false
        }
    }

    /// Whether `account` holds a live invitation here (pending and unexpired, or
    /// accepted): for the members-only option.
    pub(crate) fn invites(&self, account: &str, now: u64) -> bool {
        self.map.iter().any(|((_, invitee, _), i)| {
            invitee == account
                && match i.state {
                    InviteState::Pending => i.expires_at >= now,
                    InviteState::Accepted => true,
                    _ => false,
                }
        })
    }

    /// Empties the map (the channel is forgotten); yields each inviter once per
    /// invitation, for the allowance.
    pub(crate) fn drain_inviters(&mut self) -> impl Iterator<Item = String> + '_ {
        self.map.drain().map(|((inviter, _, _), _)| inviter)
    }
}
