//! Channels (§P-5): each channel's data, and the registry that finds them by id, by name
//! and by member account.
//!
//! Lock order, by construction: a channel's `inner` lock is the outermost lock of the
//! server — ops hold it while they change members and invitations and deliver the events
//! that follow (which keeps event order per channel), and every other lock (registry
//! shards here, mailboxes, presence, quotas, the expiry heap) is a leaf taken inside it
//! or on its own. No method of this module takes a channel's `inner` lock while a registry
//! shard is held.

use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::value::RawValue;

use super::invitations::Invitations;
use crate::protocol::{ChannelInfo, ChannelWithMembers, MemberInfo};
use crate::server::shard::Sharded;

/// A channel member (membership belongs to the account, §P-5.8).
pub(crate) struct Member {
    pub account: String,
    pub device: String,
    pub uid: i64,
    pub join_time: u64,
}

#[derive(Default)]
pub(crate) struct ChannelInner {
    pub members: Members,
    pub invitations: Invitations,
}

/// A channel's members in join order, and the channel rendered with them, kept until
/// they change: `query` and the other ops that answer `{channel, members}` reuse the
/// text instead of cloning and serializing the same fields again for every answer.
#[derive(Default)]
pub(crate) struct Members {
    /// The members, in join order.
    list: Vec<Member>,
    /// The last rendering, dropped by every change of `list`; it also records the
    /// channel's `expireTime` and `invalid` it was made with, since those change
    /// without a member changing (delay, close, expiry).
    rendered: Cell<Option<Rendered>>,
}

/// [`Channel::rendered`]'s text and what it depends on besides the member list.
struct Rendered {
    expire_time: u64,
    invalid: bool,
    json: ChannelJson,
}

impl Members {
    pub(crate) fn push(&mut self, member: Member) {
        self.list.push(member);
        self.rendered.take();
    }

    pub(crate) fn remove(&mut self, index: usize) -> Member {
        self.rendered.take();
        self.list.remove(index)
    }
}

impl Deref for Members {
    type Target = [Member];
    fn deref(&self) -> &[Member] {
        &self.list
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Member;
    type IntoIter = std::slice::Iter<'a, Member>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// `{channel, members}` (§P-4.1, §P-4.2) already serialized, shared by every answer
/// that carries it; serializes as that JSON text.
#[derive(Clone, Debug)]
pub(crate) struct ChannelJson(Arc<RawValue>);

impl Serialize for ChannelJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl ChannelJson {
    /// The JSON text.
    pub(crate) fn raw(&self) -> &RawValue {
        &self.0
    }
}

impl ChannelInner {
    pub(crate) fn is_member(&self, account: &str) -> bool {
        self.members.iter().any(|m| m.account == account)
    }
}

pub(crate) struct Channel {
    pub id: String,
    pub name: String,
    pub kind: u8,
    pub ext: String,
    pub creator: String,
    pub create_time: u64,
    /// Atomics so that rendering a channel (for stored events, name checks) needs no lock.
    pub expire_time: AtomicU64,
    pub closed: AtomicBool,
    /// Set once when the registry lets go of the channel, so that what it held (the
    /// creator's allowances, memberships, invitations) is given back exactly once.
    pub forgotten: AtomicBool,
    /// Members and invitations; every state transition happens under this lock.
    pub inner: Mutex<ChannelInner>,
}

impl Channel {
    pub(crate) fn is_valid(&self, now: u64) -> bool {
        !self.closed.load(Relaxed) && now <= self.expire_time.load(Relaxed)
    }

    pub(crate) fn info(&self, now: u64) -> ChannelInfo {
        ChannelInfo {
            channel_id: self.id.clone(),
            channel_name: self.name.clone(),
            kind: self.kind,
            ext: self.ext.clone(),
            creator: self.creator.clone(),
            create_time: self.create_time,
            expire_time: self.expire_time.load(Relaxed),
            invalid: !self.is_valid(now),
        }
    }

    pub(crate) fn member_info(&self, member: &Member) -> MemberInfo {
        MemberInfo {
            account: member.account.clone(),
            uid: member.uid,
            join_time: member.join_time,
            expire_time: self.expire_time.load(Relaxed),
        }
    }

    /// The creator and every member may close, delay and invite (§P-5.4, §P-5.6, §P-6.1).
    pub(crate) fn may_manage(&self, inner: &ChannelInner, account: &str) -> bool {
        self.creator == account || inner.is_member(account)
    }

    /// Whether `account` may see or enter the channel when the server restricts
    /// `join`/`query`/`control` to those concerned: creator, members, invitees.
    pub(crate) fn concerns(&self, inner: &ChannelInner, account: &str, now: u64) -> bool {
        self.may_manage(inner, account) || inner.invitations.invites(account, now)
    }

    pub(crate) fn with_members(&self, inner: &ChannelInner, now: u64) -> ChannelWithMembers {
        ChannelWithMembers {
            channel: self.info(now),
            members: inner.members.iter().map(|m| self.member_info(m)).collect(),
        }
    }

    /// [`Channel::with_members`] as JSON text, serialized again only when the members,
    /// the expiry or the validity changed since the last call.
    pub(crate) fn rendered(&self, inner: &ChannelInner, now: u64) -> ChannelJson {
        let cache = &inner.members.rendered;
        let expire_time = self.expire_time.load(Relaxed);
        let invalid = !self.is_valid(now);
        if let Some(last) = cache.take()
            && last.expire_time == expire_time
            && last.invalid == invalid
        {
            let json = last.json.clone();
            cache.set(Some(last));
            return json;
        }
        let text = serde_json::value::to_raw_value(&self.with_members(inner, now))
            .expect("a channel always serializes");
        let json = ChannelJson(Arc::from(text));
        cache.set(Some(Rendered {
            expire_time,
            invalid,
            json: json.clone(),
        }));
        json
    }
}

/// Where channels are found.
pub(crate) struct Channels {
    /// By id: every channel not yet forgotten.
    by_id: Sharded<String, Arc<Channel>>,
    /// Channel name → the channel that last took it; valid only while that channel is.
    by_name: Sharded<String, Arc<Channel>>,
    /// Account → the channels it is a member of, for `channelsSync` (§P-3.6).
    by_member: Sharded<String, HashMap<String, Arc<Channel>>>,
    /// Channels in `by_id`, for `/metrics`.
    count: AtomicU64,
}

impl Channels {
    pub(crate) fn new() -> Channels {
        Channels {
            by_id: Sharded::new(),
            by_name: Sharded::new(),
            by_member: Sharded::new(),
            count: AtomicU64::new(0),
        }
    }

    /// Channels held (valid or not yet forgotten).
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Registers the channel `make` builds for `name`, unless a valid channel holds the
    /// name; `None` then (§P-5.1, 10405).
    pub(crate) fn insert_named(
        &self,
        name: String,
        now: u64,
        make: impl FnOnce(String) -> Arc<Channel>,
    ) -> Option<Arc<Channel>> {
        let channel = {
            let mut names = self.by_name.lock(&name);
            if names.get(&name).is_some_and(|c| c.is_valid(now)) {
                return None;
            }
            let channel = make(name.clone());
            names.insert(name, channel.clone());
            channel
        };
        self.by_id
            .lock(&channel.id)
            .insert(channel.id.clone(), channel.clone());
        self.count.fetch_add(1, Relaxed);
        Some(channel)
    }

    /// Looks a channel up by id; `None` when missing, closed or expired.
    pub(crate) fn valid(&self, id: &str, now: u64) -> Option<Arc<Channel>> {
        let channel = self.by_id.lock(id).get(id).cloned()?;
        channel.is_valid(now).then_some(channel)
    }

    /// Looks a channel up by name; `None` when no valid channel has it.
    pub(crate) fn valid_by_name(&self, name: &str, now: u64) -> Option<Arc<Channel>> {
        self.by_name
            .lock(name)
            .get(name)
            .filter(|c| c.is_valid(now))
            .cloned()
    }

    /// Records that `account` is (or is no longer) a member of `channel`.
    pub(crate) fn set_membership(&self, account: &str, channel: &Arc<Channel>, member: bool) {
        let mut shard = self.by_member.lock(account);
        if member {
            shard
                .entry(account.to_string())
                .or_default()
                .insert(channel.id.clone(), channel.clone());
        } else if let Some(channels) = shard.get_mut(account) {
            channels.remove(&channel.id);
            if channels.is_empty() {
                shard.remove(account);
            }
        }
    }

    /// The channels `account` is a member of (valid or not: the caller filters).
    pub(crate) fn of_member(&self, account: &str) -> Vec<Arc<Channel>> {
        self.by_member
            .lock(account)
            .get(account)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops the channel's id and name; true the first time only.
    pub(crate) fn remove(&self, channel: &Arc<Channel>) -> bool {
        if channel.forgotten.swap(true, Relaxed) {
            return false;
        }
        {
            let mut names = self.by_name.lock(&channel.name);
            if names
                .get(&channel.name)
                .is_some_and(|c| Arc::ptr_eq(c, channel))
            {
                names.remove(&channel.name);
            }
        }
        if self.by_id.lock(&channel.id).remove(&channel.id).is_some() {
            self.count.fetch_sub(1, Relaxed);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shard::lock;

    fn channel(expire_time: u64) -> Channel {
        Channel {
            id: "c-1".into(),
            name: "room".into(),
            kind: 1,
            ext: String::new(),
            creator: "a".into(),
            create_time: 1,
            expire_time: AtomicU64::new(expire_time),
            closed: AtomicBool::new(false),
            forgotten: AtomicBool::new(false),
            inner: Default::default(),
        }
    }

    /// The cached text must always equal a fresh rendering.
    fn fresh(channel: &Channel, inner: &ChannelInner, now: u64) -> String {
        let text = serde_json::to_string(&channel.rendered(inner, now)).unwrap();
        let expected = serde_json::to_string(&channel.with_members(inner, now)).unwrap();
        assert_eq!(text, expected);
        text
    }

    #[test]
    fn the_rendered_channel_follows_members_expiry_and_validity() {
        let channel = channel(1000);
        let mut inner = lock(&channel.inner);
        let empty = fresh(&channel, &inner, 10);
        assert!(empty.contains(r#""members":[]"#), "{empty}");
        inner.members.push(Member {
            account: "b".into(),
            device: "d".into(),
            uid: 7,
            join_time: 5,
        });
        assert!(fresh(&channel, &inner, 10).contains(r#""account":"b""#));
        channel.expire_time.store(2000, Relaxed);
        assert!(fresh(&channel, &inner, 10).contains(r#""expireTime":2000"#));
        assert!(fresh(&channel, &inner, 2001).contains(r#""invalid":true"#));
        assert!(fresh(&channel, &inner, 10).contains(r#""invalid":false"#));
        channel.closed.store(true, Relaxed);
        assert!(fresh(&channel, &inner, 10).contains(r#""invalid":true"#));
        inner.members.remove(0);
        assert!(fresh(&channel, &inner, 10).contains(r#""members":[]"#));
    }
}
