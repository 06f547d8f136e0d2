//! One connection's inbox: what a reader task received and the steps have not consumed
//! yet — replies awaited by id, replies nobody awaits (`unclaimed`, for raw steps), and
//! pushes — bounded in bytes, with counters for what had to be dropped.
//!
//! The inbox knows nothing about the wire protocol: a driver decodes each frame and hands
//! over an already-correlated reply (`Option<u64>` id), a push, or a malformed frame's
//! description, each with its size in bytes. What the inbox guarantees:
//!
//! - Memory is bounded: pushes and unclaimed replies each have a byte budget; past it the
//!   oldest entries go and are counted as overflow (a target flooding the harness is a
//!   failure of the target, never an out-of-memory of the harness).
//! - A reply to a request that timed out (see [`Inbox::expire`]) is counted as late and
//!   dropped: no later step can take it as its own.
//! - [`Inbox::reset`] empties what one session left behind before the next one starts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::pulse::Pulse;

/// Byte budgets of one connection's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes of buffered pushes kept before the oldest are dropped (4 MiB: room for the
    /// unreadSync of a full 1000-event offline store, which one frame carries).
    pub push_bytes: usize,
    /// Bytes of unclaimed replies kept before the oldest are dropped.
    pub unclaimed_bytes: usize,
    /// Timed-out request ids remembered, so their late replies are recognised.
    pub expired_ids: usize,
    /// Malformed-frame descriptions kept (the rest are only counted).
    pub malformed: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            push_bytes: 4 * 1024 * 1024,
            unclaimed_bytes: 256 * 1024,
            expired_ids: 1024,
            malformed: 16,
        }
    }
}

/// What had to be dropped or was unexpected since the counters were last taken.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Pushes dropped because the push buffer was full.
    pub pushes_dropped: u64,
    /// Unclaimed replies dropped because their buffer was full.
    pub unclaimed_dropped: u64,
    /// Replies that arrived after their request timed out (dropped).
    pub late_replies: u64,
    /// Malformed frames (only the first [`Bounds::malformed`] are described).
    pub malformed: u64,
    /// Descriptions of the first malformed frames.
    pub malformed_samples: Vec<String>,
}

impl Counters {
    pub fn is_empty(&self) -> bool {
        *self == Counters::default()
    }
}

/// What a waiting request receives: its reply, or why the reply could not be read.
pub type Delivery<R> = Result<R, String>;

/// Why a wait on the inbox ended without what it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The deadline passed.
    Deadline,
    /// The connection ended (with the close code, if the peer sent one).
    Closed(Option<u16>),
}

/// An entry with its size, so budgets are kept in bytes.
struct Sized<T> {
    bytes: usize,
    item: T,
}

/// A FIFO with a byte budget that drops its oldest entries when full.
struct Bounded<T> {
    items: VecDeque<Sized<T>>,
    bytes: usize,
    limit: usize,
}

impl<T> Bounded<T> {
    fn new(limit: usize) -> Self {
        Bounded {
            items: VecDeque::new(),
            bytes: 0,
            limit,
        }
    }

    /// Adds `item`; returns how many entries were dropped to make room (an entry larger
    /// than the whole budget is itself dropped).
    fn push(&mut self, item: T, bytes: usize) -> u64 {
        if bytes > self.limit {
            return 1;
        }
        let mut dropped = 0;
        while self.bytes + bytes > self.limit {
            let Some(old) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old.bytes;
            dropped += 1;
        }
        self.bytes += bytes;
        self.items.push_back(Sized { bytes, item });
        dropped
    }

    fn remove(&mut self, index: usize) -> Option<T> {
        let entry = self.items.remove(index)?;
        self.bytes -= entry.bytes;
        Some(entry.item)
    }

    fn position(&self, mut f: impl FnMut(&T) -> bool) -> Option<usize> {
        self.items.iter().position(|e| f(&e.item))
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|e| &e.item)
    }

    fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.bytes = 0;
        self.items.drain(..).map(|e| e.item)
    }

    /// Empties the queue and gives its memory back (an idle connection keeps none).
    fn release(&mut self) {
        self.bytes = 0;
        self.items = VecDeque::new();
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

struct State<R, P> {
    /// Requests waiting for their reply (or why it could not be read), by id.
    pending: HashMap<u64, oneshot::Sender<Delivery<R>>>,
    /// Ids of requests that timed out, oldest first (bounded by `Bounds::expired_ids`).
    expired: VecDeque<u64>,
    /// The same ids, for lookup.
    expired_set: HashSet<u64>,
    /// Raw sends whose reply never came in time: the next this many unclaimed replies
    /// are theirs, late, and are dropped.
    expired_unclaimed: u64,
    /// Replies nobody awaits by id, oldest first.
    unclaimed: Bounded<R>,
    /// Pushes not consumed yet, oldest first.
    pushes: Bounded<P>,
    /// What was dropped or unexpected since last taken.
    counters: Counters,
    /// `Some` once the connection ended; inside, the peer's close code if it sent one.
    closed: Option<Option<u16>>,
    /// How the connection ended when no Close frame came from the peer (a reset, an end
    /// of stream, no reply to our Close in time), for failure messages.
    close_note: Option<String>,
}

/// One connection's buffers, shared by its reader task and the steps using it.
pub struct Inbox<R, P> {
    /// Never held across an `.await` (a std mutex is enough and cheaper).
    state: Mutex<State<R, P>>,
    /// Woken whenever something arrives or the connection ends.
    changed: Notify,
    /// The byte budgets.
    bounds: Bounds,
    /// Told of every request and every arrival, to notice a silent target.
    pulse: Option<Arc<Pulse>>,
}

impl<R, P> Default for Inbox<R, P> {
    fn default() -> Self {
        Inbox::new(Bounds::default())
    }
}

impl<R, P> Inbox<R, P> {
    pub fn new(bounds: Bounds) -> Self {
        Inbox {
            state: Mutex::new(State {
                pending: HashMap::new(),
                expired: VecDeque::new(),
                expired_set: HashSet::new(),
                expired_unclaimed: 0,
                unclaimed: Bounded::new(bounds.unclaimed_bytes),
                pushes: Bounded::new(bounds.push_bytes),
                counters: Counters::default(),
                closed: None,
                close_note: None,
            }),
            changed: Notify::new(),
            bounds,
            pulse: None,
        }
    }

    /// Reports requests and arrivals to `pulse` too.
    pub fn with_pulse(mut self, pulse: Arc<Pulse>) -> Self {
        self.pulse = Some(pulse);
        self
    }

    fn heard(&self) {
        if let Some(pulse) = &self.pulse {
            pulse.heard();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R, P>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- the reader's side ----

    /// A reply, correlated by the driver to request `id` (`None`: it names no request).
    pub fn reply(&self, id: Option<u64>, reply: R, bytes: usize) {
        self.heard();
        let mut state = self.lock();
        if let Some(id) = id {
            if let Some(waiter) = state.pending.remove(&id) {
                // A waiter that gave up in the meantime is the same as a late reply.
                if waiter.send(Ok(reply)).is_err() {
                    state.counters.late_replies += 1;
                }
                return;
            }
            if state.expired_set.remove(&id) {
                state.expired.retain(|e| *e != id);
                state.counters.late_replies += 1;
                return;
            }
        }
        if state.expired_unclaimed > 0 {
            state.expired_unclaimed -= 1;
            state.counters.late_replies += 1;
            return;
        }
        let dropped = state.unclaimed.push(reply, bytes);
        state.counters.unclaimed_dropped += dropped;
        drop(state);
        self.changed.notify_waiters();
    }

    /// A push.
    pub fn push(&self, push: P, bytes: usize) {
        self.heard();
        let mut state = self.lock();
        let dropped = state.pushes.push(push, bytes);
        state.counters.pushes_dropped += dropped;
        drop(state);
        self.changed.notify_waiters();
    }

    /// A frame the driver could not read: the failure of request `id` when one waits
    /// for it, else a malformed frame.
    pub fn unreadable(&self, id: Option<u64>, why: String) {
        let waiter = id.and_then(|id| self.lock().pending.remove(&id));
        match waiter {
            Some(waiter) => {
                self.heard();
                let _ = waiter.send(Err(why));
            }
            None => self.malformed(why),
        }
    }

    /// A frame that is not a valid frame of the protocol.
    pub fn malformed(&self, description: String) {
        self.heard();
        let mut state = self.lock();
        state.counters.malformed += 1;
        if state.counters.malformed_samples.len() < self.bounds.malformed {
            state.counters.malformed_samples.push(description);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// For a request that timed out: what may have been its reply — the last frame the
    /// driver could not read, else the last reply no request claimed (`show` describes
    /// one).
    pub fn unmatched_hint(&self, show: impl Fn(&R) -> String) -> Option<String> {
        let state = self.lock();
        if let Some(m) = state.counters.malformed_samples.last() {
            return Some(format!("the server sent: {m}"));
        }
        state.unclaimed.iter().last().map(show)
    }

    /// The connection ended, with the peer's close code if it sent one, or a note on how
    /// it ended otherwise; every request still waiting is woken (its reply is gone).
    pub fn close(&self, code: Option<u16>, note: Option<String>) {
        let mut state = self.lock();
        state.closed = Some(code);
        state.close_note = note;
        state.pending.clear();
        drop(state);
        self.changed.notify_waiters();
    }

    // ---- the steps' side ----

    /// Registers request `id` before it is sent; its reply is delivered to the receiver.
    /// `Err` with the close code when the connection has already ended.
    pub fn expect(&self, id: u64) -> Result<oneshot::Receiver<Delivery<R>>, Option<u16>> {
        let mut state = self.lock();
        if let Some(code) = state.closed {
            return Err(code);
        }
        let (tx, rx) = oneshot::channel();
        state.pending.insert(id, tx);
        drop(state);
        if let Some(pulse) = &self.pulse {
            pulse.asked();
        }
        Ok(rx)
    }

    /// Request `id` timed out: a reply that still comes is late and will be dropped.
    pub fn expire(&self, id: u64) {
        let mut state = self.lock();
        if state.pending.remove(&id).is_none() {
            return;
        }
        if state.expired.len() >= self.bounds.expired_ids {
            if let Some(old) = state.expired.pop_front() {
                state.expired_set.remove(&old);
            }
        }
        state.expired.push_back(id);
        state.expired_set.insert(id);
    }

    /// A raw send's reply did not come in time: the next unclaimed reply is that one,
    /// late, and is dropped.
    pub fn expire_unclaimed(&self) {
        self.lock().expired_unclaimed += 1;
    }

    /// Waits for the oldest unclaimed reply.
    pub async fn next_unclaimed(&self, deadline: Instant) -> Result<R, WaitEnd> {
        self.wait(deadline, |state| {
            if state.unclaimed.len() > 0 {
                return Some(state.unclaimed.remove(0).ok_or(WaitEnd::Deadline));
            }
            state.closed.map(|code| Err(WaitEnd::Closed(code)))
        })
        .await
    }

    /// Takes the oldest buffered push that `matches`, waiting until `deadline`.
    pub async fn take_push(
        &self,
        deadline: Instant,
        mut matches: impl FnMut(&P) -> bool,
    ) -> Result<P, WaitEnd> {
        self.wait(deadline, |state| {
            if let Some(pos) = state.pushes.position(&mut matches) {
                return Some(state.pushes.remove(pos).ok_or(WaitEnd::Deadline));
            }
            state.closed.map(|code| Err(WaitEnd::Closed(code)))
        })
        .await
    }

    /// Waits until the connection ends; `None` if it is still open at `deadline`.
    pub async fn closed(&self, deadline: Instant) -> Option<Option<u16>> {
        self.wait(deadline, |state| state.closed.map(Ok::<_, WaitEnd>))
            .await
            .ok()
    }

    /// Polls `ready` under the lock each time something changes, until it answers or
    /// the deadline passes.
    async fn wait<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&mut State<R, P>) -> Option<Result<T, WaitEnd>>,
    ) -> Result<T, WaitEnd> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so nothing that arrives in between is missed.
            changed.as_mut().enable();
            if let Some(answer) = ready(&mut self.lock()) {
                return answer;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(WaitEnd::Deadline);
            }
        }
    }

    /// Removes and returns every buffered push.
    pub fn drain_pushes(&self) -> Vec<P> {
        self.lock().pushes.drain().collect()
    }

    /// Up to `n` buffered pushes, oldest first, shown through `show`.
    pub fn peek_pushes<T>(&self, n: usize, show: impl Fn(&P) -> T) -> Vec<T> {
        self.lock().pushes.iter().take(n).map(show).collect()
    }

    /// The counters since last taken (reset to zero).
    pub fn take_counters(&self) -> Counters {
        std::mem::take(&mut self.lock().counters)
    }

    /// Starts a new session on this connection: forgets buffered pushes and unclaimed
    /// replies; returns the counters of the session that ended. Timed-out ids stay
    /// remembered, so a late reply to an earlier session's request is still dropped.
    pub fn reset(&self) -> Counters {
        let mut state = self.lock();
        // Released rather than kept for reuse: a harness holds thousands of connections
        // between sessions (the pushes after a login left a block of slots in each), and
        // a session that needs them again allocates them once.
        state.pushes.release();
        state.unclaimed.release();
        if state.pending.is_empty() {
            state.pending.shrink_to_fit();
        }
        std::mem::take(&mut state.counters)
    }

    /// `Some(code)` once the connection has ended (`None` inside: no close frame).
    pub fn closed_now(&self) -> Option<Option<u16>> {
        self.lock().closed
    }

    /// Why no Close frame came from the peer, when none did.
    pub fn close_note(&self) -> Option<String> {
        self.lock().close_note.clone()
    }

    /// Bytes currently buffered (pushes + unclaimed replies).
    pub fn buffered_bytes(&self) -> usize {
        let state = self.lock();
        state.pushes.bytes + state.unclaimed.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn small() -> Inbox<String, String> {
        Inbox::new(Bounds {
            push_bytes: 100,
            unclaimed_bytes: 50,
            expired_ids: 2,
            malformed: 1,
        })
    }

    #[test]
    fn pushes_are_bounded_in_bytes_and_overflow_is_counted() {
        let inbox = small();
        for i in 0..10 {
            inbox.push(format!("p{i}"), 30);
        }
        assert!(inbox.buffered_bytes() <= 100);
        assert_eq!(inbox.drain_pushes(), vec!["p7", "p8", "p9"]);
        assert_eq!(inbox.take_counters().pushes_dropped, 7);
        // An entry larger than the whole budget is dropped itself.
        inbox.push("huge".into(), 1000);
        assert_eq!(inbox.take_counters().pushes_dropped, 1);
        assert_eq!(inbox.buffered_bytes(), 0);
    }

    #[test]
    fn unclaimed_replies_are_bounded_in_bytes() {
        let inbox = small();
        for i in 0..1000u64 {
            inbox.reply(Some(1_000_000 + i), format!("r{i}"), 10);
        }
        assert!(inbox.buffered_bytes() <= 50);
        assert_eq!(inbox.take_counters().unclaimed_dropped, 995);
    }

    #[tokio::test]
    async fn a_late_reply_is_counted_and_never_handed_to_a_later_step() {
        let inbox = small();
        let rx = inbox.expect(1).unwrap();
        drop(rx);
        inbox.expire(1);
        inbox.reply(Some(1), "late".into(), 4);
        let deadline = Instant::now() + Duration::from_millis(1);
        assert_eq!(inbox.next_unclaimed(deadline).await, Err(WaitEnd::Deadline));
        assert_eq!(inbox.take_counters().late_replies, 1);
    }

    #[tokio::test]
    async fn a_late_raw_reply_is_dropped() {
        let inbox = small();
        inbox.expire_unclaimed();
        inbox.reply(None, "late".into(), 4);
        inbox.reply(None, "fresh".into(), 5);
        let deadline = Instant::now() + Duration::from_millis(1);
        assert_eq!(inbox.next_unclaimed(deadline).await, Ok("fresh".into()));
        assert_eq!(inbox.take_counters().late_replies, 1);
    }

    #[test]
    fn expired_ids_are_bounded() {
        let inbox = small();
        for id in 0..5 {
            let _rx = inbox.expect(id).unwrap();
            inbox.expire(id);
        }
        assert_eq!(inbox.lock().expired.len(), 2);
        assert_eq!(inbox.lock().expired_set.len(), 2);
    }

    #[tokio::test]
    async fn reset_forgets_what_a_session_left() {
        let inbox = small();
        inbox.push("p".into(), 1);
        inbox.reply(None, "r".into(), 1);
        inbox.malformed("bad".into());
        inbox.malformed("bad2".into());
        let counters = inbox.reset();
        assert_eq!(counters.malformed, 2);
        assert_eq!(counters.malformed_samples, vec!["bad".to_string()]);
        assert_eq!(inbox.buffered_bytes(), 0);
        let deadline = Instant::now() + Duration::from_millis(1);
        assert_eq!(inbox.next_unclaimed(deadline).await, Err(WaitEnd::Deadline));
    }

    #[tokio::test]
    async fn close_wakes_waiters_and_fails_new_requests() {
        let inbox = small();
        let rx = inbox.expect(7).unwrap();
        inbox.close(Some(1000), None);
        assert!(rx.await.is_err());
        assert_eq!(inbox.expect(8).err(), Some(Some(1000)));
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            inbox.take_push(far, |_| true).await,
            Err(WaitEnd::Closed(Some(1000)))
        );
    }
}
