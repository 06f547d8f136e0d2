//! One connection's outgoing queue: the frames steps hand to the connection task, which
//! writes them. Bounded in bytes (a step that would go past the budget waits until the
//! task has written enough), and empty queues hold no memory: a harness keeps thousands
//! of idle connections, and a channel with its first block of slots allocated up front
//! cost each of them about 2 KiB (docs/performance.md, "Issue 16: harness changes").

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// Bytes of frames queued before `send` waits (a frame larger than this still goes, alone).
pub const OUTBOX_BYTES: usize = 256 * 1024;

struct State {
    /// Frames not written yet, oldest first, with their sizes.
    frames: VecDeque<(Message, usize)>,
    /// Bytes in `frames`.
    bytes: usize,
    /// Every sender is gone: once `frames` is empty, the connection closes.
    hung_up: bool,
    /// The connection task ended: nothing queued will be written any more.
    ended: bool,
}

/// The queue between the steps of a connection (many senders) and its task (the reader).
pub struct Outbox {
    /// Never held across an `.await`.
    state: Mutex<State>,
    /// Wakes the connection task: a frame was queued, or the senders hung up.
    queued: Notify,
    /// Wakes senders waiting for room, or for the end of the connection.
    room: Notify,
    /// The byte budget.
    limit: usize,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(OUTBOX_BYTES)
    }
}

impl Outbox {
    pub fn new(limit: usize) -> Self {
        Outbox {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                hung_up: false,
                ended: false,
            }),
            queued: Notify::new(),
            room: Notify::new(),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `message`, waiting while the queue is over its budget. `Err` gives the
    /// message back when the connection task has ended.
    pub async fn send(&self, message: Message) -> Result<(), Message> {
        let bytes = message.len();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before looking, so a frame written in between is not missed.
            room.as_mut().enable();
            {
                let mut state = self.lock();
                if state.ended {
                    return Err(message);
                }
                if state.frames.is_empty() || state.bytes + bytes <= self.limit {
                    state.bytes += bytes;
                    state.frames.push_back((message, bytes));
                    drop(state);
                    self.queued.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// The connection task's side: the next frame to write; `None` once every sender has
    /// hung up and everything queued was taken.
    pub async fn next(&self) -> Option<Message> {
        loop {
            // `notify_one` keeps a permit when nobody waits: a frame queued between the
            // look and the wait wakes this wait at once.
            let queued = self.queued.notified();
            {
                let mut state = self.lock();
                if let Some((message, bytes)) = state.frames.pop_front() {
                    state.bytes -= bytes;
                    drop(state);
                    self.room.notify_waiters();
                    return Some(message);
                }
                if state.hung_up {
                    return None;
                }
            }
            queued.await;
        }
    }

    /// Gives the memory of an empty queue back: an idle connection keeps none (the
    /// frames of its last session left a block of slots).
    pub fn release(&self) {
        let mut state = self.lock();
        if state.frames.is_empty() {
            state.frames = VecDeque::new();
        }
    }

    /// Every sender is gone: the connection task closes the connection once it has
    /// written what is queued.
    pub fn hang_up(&self) {
        self.lock().hung_up = true;
        self.queued.notify_one();
    }

    /// The connection task ended: queued frames are dropped, senders fail from now on.
    pub fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        state.frames = VecDeque::new();
        state.bytes = 0;
        drop(state);
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn frames_come_out_in_order_and_hang_up_ends_the_stream() {
        let outbox = Outbox::new(1024);
        outbox.send(Message::text("a")).await.unwrap();
        outbox.send(Message::text("bb")).await.unwrap();
        outbox.hang_up();
        assert_eq!(outbox.next().await, Some(Message::text("a")));
        assert_eq!(outbox.next().await, Some(Message::text("bb")));
        assert_eq!(outbox.next().await, None);
    }

    #[tokio::test]
    async fn a_sender_past_the_budget_waits_for_the_writer() {
        let outbox = Arc::new(Outbox::new(10));
        outbox.send(Message::text("0123456789")).await.unwrap();
        let sender = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.send(Message::text("x")).await })
        };
        // The queue is full: the second frame waits until the first is taken.
        tokio::task::yield_now().await;
        assert!(!sender.is_finished());
        assert_eq!(outbox.next().await, Some(Message::text("0123456789")));
        sender.await.unwrap().unwrap();
        assert_eq!(outbox.next().await, Some(Message::text("x")));
        // A frame larger than the whole budget still goes when the queue is empty.
        outbox.send(Message::text("x".repeat(100))).await.unwrap();
        assert_eq!(outbox.lock().bytes, 100);
    }

    #[tokio::test]
    async fn once_the_connection_ended_senders_get_their_frame_back() {
        let outbox = Arc::new(Outbox::new(1));
        outbox.send(Message::text("queued")).await.unwrap();
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.send(Message::text("waits")).await })
        };
        tokio::task::yield_now().await;
        outbox.end();
        assert_eq!(waiting.await.unwrap(), Err(Message::text("waits")));
        assert_eq!(
            outbox.send(Message::text("late")).await,
            Err(Message::text("late"))
        );
        assert_eq!(outbox.lock().bytes, 0);
    }
}
