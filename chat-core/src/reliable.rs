//! Reliable, ordered delivery over a lossy datagram link: the state of one direction pair of a
//! session, driven by the caller's clock (no I/O, no sleeping), so that it can be tested against
//! a fake link.
//!
//! * Sending: messages get sequence numbers from 1; each stays queued until acknowledged and is
//!   sent again when its timer runs out, with the timeout doubling from [`RTO_MIN`] up to
//!   [`RTO_MAX`]. At most [`WINDOW`] messages are in flight; more wait their turn.
//! * Receiving: messages are delivered in sequence order exactly once; early ones wait in a
//!   buffer (up to [`WINDOW`] ahead), duplicates and old ones are dropped. The acknowledgement is
//!   cumulative ("everything up to N"), sent with the next outgoing message or, if none comes
//!   within [`ACK_DELAY`], on its own.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// First retransmission timeout.
pub const RTO_MIN: Duration = Duration::from_millis(150);
/// Largest retransmission timeout.
pub const RTO_MAX: Duration = Duration::from_secs(2);
/// Messages in flight (and buffered out of order) at most: the server's events.
pub const WINDOW: usize = 256;
/// Requests in flight (and buffered out of order) at most: a client's requests. Smaller than
/// [`WINDOW`], as the server holds what arrives out of order for every session.
pub const REQUEST_WINDOW: usize = 64;
/// How long an acknowledgement may wait for a message to ride on.
pub const ACK_DELAY: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Unacked<T> {
    seq: u64,
    msg: T,
    /// When to send next (`None`: not yet sent).
    due: Option<Instant>,
    rto: Duration,
    sends: u32,
}

/// One side of a reliable session.
#[derive(Debug)]
pub struct Endpoint<Out, In> {
    next_seq: u64,
    unacked: VecDeque<Unacked<Out>>,
    /// The first `sent` entries of `unacked` have been sent at least once.
    sent: usize,
    /// No retransmission is due before this (the earliest timer among the sent entries).
    resend_at: Option<Instant>,
    /// Highest sequence number delivered in order.
    delivered: u64,
    early: BTreeMap<u64, In>,
    /// An acknowledgement owed to the peer, and by when.
    ack_due: Option<Instant>,
    /// The acknowledgement last sent (on data or alone).
    acked: u64,
    /// Datagrams of data arrived since the last acknowledgement went out.
    datagrams: u32,
    /// Messages sent and not yet acknowledged, at most.
    send_window: usize,
    /// Messages ahead of the next expected one that are kept, at most.
    recv_window: usize,
}

impl<Out: Clone, In> Default for Endpoint<Out, In> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Out: Clone, In> Endpoint<Out, In> {
    /// A fresh session side with windows of [`WINDOW`] both ways.
    pub fn new() -> Self {
        Self::with_windows(WINDOW, WINDOW)
    }

    /// A fresh session side that has at most `send` messages in flight and keeps at most
    /// `recv` messages that arrive ahead of their turn.
    pub fn with_windows(send: usize, recv: usize) -> Self {
        Endpoint {
            send_window: send,
            recv_window: recv,
            next_seq: 1,
            unacked: VecDeque::new(),
            sent: 0,
            resend_at: None,
            acked: 0,
            delivered: 0,
            early: BTreeMap::new(),
            ack_due: None,
            datagrams: 0,
        }
    }

    /// Queues `msg`; returns its sequence number.
    pub fn send(&mut self, msg: Out) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked.push_back(Unacked { seq, msg, due: None, rto: RTO_MIN, sends: 0 });
        seq
    }

    /// The cumulative acknowledgement to put on outgoing datagrams.
    ///
    /// (Sent only through [`poll_transmit`](Self::poll_transmit) or
    /// [`poll_ack`](Self::poll_ack), which record it.)
    pub fn ack(&self) -> u64 {
        self.delivered
    }

    /// Messages queued or in flight, not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// The most times any unacknowledged message has been sent (0 when all are acknowledged).
    pub fn max_sends(&self) -> u32 {
        self.unacked.iter().map(|u| u.sends).max().unwrap_or(0)
    }

    /// The messages not yet acknowledged, in order (to carry them over to a new session).
    pub fn into_unacked(self) -> Vec<Out> {
        self.unacked.into_iter().map(|u| u.msg).collect()
    }

    /// Everything up to this sequence number has been acknowledged by the peer.
    pub fn ack_of_peer(&self) -> u64 {
        self.unacked.front().map_or(self.next_seq - 1, |u| u.seq - 1)
    }

    /// The peer acknowledged everything up to `ack`.
    pub fn on_ack(&mut self, ack: u64) {
        while self.unacked.front().is_some_and(|u| u.seq <= ack) {
            self.unacked.pop_front();
            self.sent = self.sent.saturating_sub(1);
        }
        if self.sent == 0 {
            self.resend_at = None;
        }
        // A burst (say, a thousand users joining) must not pin its peak memory in every session.
        if self.unacked.capacity() > 64 && self.unacked.len() < self.unacked.capacity() / 4 {
            self.unacked.shrink_to(self.unacked.len() * 2);
        }
    }

    /// Gives back the queue memory a past burst left (for an endpoint that has gone quiet: an
    /// idle session of a big room then costs little more than its struct).
    pub fn shrink(&mut self) {
        if self.unacked.capacity() > self.unacked.len() * 2 {
            self.unacked.shrink_to(self.unacked.len() * 2);
        }
    }

    /// A message `seq` arrived: returns the messages now deliverable, in order (possibly none,
    /// for an early or duplicate one). Schedules an acknowledgement.
    pub fn on_data(&mut self, seq: u64, msg: In, now: Instant) -> Vec<In> {
        self.on_data_with(seq, now, || msg)
    }

    /// [`on_data`](Self::on_data) for a message made by `msg` only if it is kept: a duplicate,
    /// or one beyond the window, costs nothing more than its sequence number (on a server
    /// flooded with requests, checking each one would).
    pub fn on_data_with(&mut self, seq: u64, now: Instant, msg: impl FnOnce() -> In) -> Vec<In> {
        let mut out = Vec::new();
        if seq <= self.delivered
            || seq > self.delivered + self.recv_window as u64
            || self.early.contains_key(&seq)
        {
            // A duplicate (our ack was lost) or far ahead: acknowledge at once.
            self.ack_due = Some(now);
            return out;
        }
        let msg = msg();
        if seq == self.delivered + 1 && self.early.is_empty() {
            // In order, nothing waiting: the common case, without the reorder buffer.
            self.delivered = seq;
            out.push(msg);
        } else {
            self.early.insert(seq, msg);
            while let Some(m) = self.early.remove(&(self.delivered + 1)) {
                self.delivered += 1;
                out.push(m);
            }
        }
        if self.ack_due.is_none() {
            self.ack_due = Some(now + ACK_DELAY);
        }
        if self.delivered >= self.acked + (self.recv_window / 8) as u64 {
            // Much has arrived since the last acknowledgement: do not let the sender's window
            // fill while the delayed one waits.
            self.ack_due = Some(now);
        }
        if !self.early.is_empty() {
            // A gap: tell the sender at once what we have.
            self.ack_due = Some(now);
        }
        out
    }

    /// A datagram of data has been handed to [`on_data`](Self::on_data): every second one is
    /// acknowledged at once (as TCP does), so that a sender allowed only a few datagrams in
    /// flight does not wait out [`ACK_DELAY`] when each of its datagrams holds few messages.
    pub fn on_datagram(&mut self, now: Instant) {
        self.datagrams += 1;
        if self.datagrams >= 2 {
            self.ack_due = Some(now);
        }
    }

    /// Messages to (re)send now, as `(seq, msg)`. Marks them sent and sets their timers.
    /// Sending any of them carries the acknowledgement, so the owed one is cleared.
    pub fn poll_transmit(&mut self, now: Instant) -> Vec<(u64, Out)> {
        let mut out = Vec::new();
        // Retransmissions, looked for only once the earliest timer has run out.
        if self.resend_at.is_some_and(|t| t <= now) {
            let mut next: Option<Instant> = None;
            for u in self.unacked.iter_mut().take(self.sent) {
                if u.due.is_some_and(|d| d <= now) {
                    u.rto = (u.rto * 2).min(RTO_MAX);
                    u.due = Some(now + u.rto);
                    u.sends += 1;
                    out.push((u.seq, u.msg.clone()));
                }
                next = match (next, u.due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            self.resend_at = next;
        }
        // First transmissions, up to the window.
        let limit = self.unacked.len().min(self.send_window);
        if self.sent < limit {
            for u in self.unacked.range_mut(self.sent..limit) {
                u.due = Some(now + u.rto);
                u.sends = 1;
                out.push((u.seq, u.msg.clone()));
            }
            self.sent = limit;
            let first_due = now + RTO_MIN;
            self.resend_at = Some(self.resend_at.map_or(first_due, |t| t.min(first_due)));
        }
        if !out.is_empty() {
            self.ack_sent();
        }
        out
    }

    /// The acknowledgement went out on a datagram of the caller's own making (the sending is
    /// done elsewhere, as on the server).
    pub fn ack_sent(&mut self) {
        self.ack_due = None;
        self.acked = self.delivered;
        self.datagrams = 0;
    }

    /// Whether a bare acknowledgement must go out now.
    pub fn poll_ack(&mut self, now: Instant) -> bool {
        if self.ack_due.is_some_and(|d| d <= now) {
            self.ack_sent();
            true
        } else {
            false
        }
    }

    /// The next moment something is due (a retransmission or an acknowledgement).
    pub fn next_timeout(&self) -> Option<Instant> {
        let unsent = self.sent < self.unacked.len().min(self.send_window);
        let first = if unsent { Some(Instant::now()) } else { self.resend_at };
        match (first, self.ack_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Groups `(seq, msg)` pairs (in sequence order) into runs of at most `max` consecutive
/// numbers whose encodings together take at most `budget` bytes: `(first seq, msgs)`. A
/// message larger than the budget still goes, alone.
pub fn batches<T: serde::Serialize>(items: Vec<(u64, T)>, budget: usize, max: usize) -> Vec<(u64, Vec<T>)> {
    let mut out: Vec<(u64, Vec<T>)> = Vec::new();
    let mut used = 0;
    for (seq, msg) in items {
        let size = postcard::experimental::serialized_size(&msg).unwrap_or(budget);
        match out.last_mut() {
            Some((first, run))
                if *first + run.len() as u64 == seq && used + size <= budget && run.len() < max =>
            {
                run.push(msg);
                used += size;
            }
            _ => {
                out.push((seq, vec![msg]));
                used = size;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link that loses, duplicates and reorders datagrams, from a seeded generator.
    struct Link {
        rng: u64,
        in_flight: Vec<(Instant, Vec<u8>)>,
        loss: u64,
        dup: u64,
    }

    impl Link {
        fn next(&mut self) -> u64 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng
        }

        fn push(&mut self, now: Instant, d: Vec<u8>) {
            if self.next() % 100 < self.loss {
                return;
            }
            let copies = if self.next() % 100 < self.dup { 2 } else { 1 };
            for _ in 0..copies {
                let delay = Duration::from_millis(1 + self.next() % 40);
                self.in_flight.push((now + delay, d.clone()));
            }
        }

        fn arrived(&mut self, now: Instant) -> Vec<Vec<u8>> {
            let (ready, rest): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|(t, _)| *t <= now);
            self.in_flight = rest;
            ready.into_iter().map(|(_, d)| d).collect()
        }
    }

    /// Data: tag 0 + seq + ack + payload; ack: tag 1 + ack. Encoded by hand for the test.
    fn frame(data: Option<(u64, u32)>, ack: u64) -> Vec<u8> {
        let mut v = Vec::new();
        match data {
            Some((seq, payload)) => {
                v.push(0);
                v.extend(seq.to_le_bytes());
                v.extend(ack.to_le_bytes());
                v.extend(payload.to_le_bytes());
            }
            None => {
                v.push(1);
                v.extend(ack.to_le_bytes());
            }
        }
        v
    }

    fn run(loss: u64, dup: u64, seed: u64) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut a: Endpoint<u32, u32> = Endpoint::new();
        let mut b: Endpoint<u32, u32> = Endpoint::new();
        let mut ab = Link { rng: seed, in_flight: Vec::new(), loss, dup };
        let mut ba = Link { rng: seed ^ 0xabcdef, in_flight: Vec::new(), loss, dup };
        let n = 2000u32;
        for i in 0..n {
            a.send(i);
            b.send(i + 1_000_000);
        }
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        for _ in 0..200_000 {
            for (ep, link) in [(&mut a, &mut ab), (&mut b, &mut ba)] {
                for (seq, m) in ep.poll_transmit(now) {
                    link.push(now, frame(Some((seq, m)), ep.ack()));
                }
                if ep.poll_ack(now) {
                    link.push(now, frame(None, ep.ack()));
                }
            }
            for (dst, link, got) in [(&mut b, &mut ab, &mut got_b), (&mut a, &mut ba, &mut got_a)] {
                for d in link.arrived(now) {
                    let word = |r: std::ops::Range<usize>| u64::from_le_bytes(d[r].try_into().unwrap());
                    if d[0] == 0 {
                        dst.on_ack(word(9..17));
                        let m = u32::from_le_bytes(d[17..21].try_into().unwrap());
                        got.extend(dst.on_data(word(1..9), m, now));
                    } else {
                        dst.on_ack(word(1..9));
                    }
                }
            }
            if got_a.len() == n as usize && got_b.len() == n as usize && a.unacked() == 0 && b.unacked() == 0
            {
                break;
            }
            now += Duration::from_millis(1);
        }
        assert_eq!(got_b, (0..n).collect::<Vec<_>>(), "b got every message of a, once, in order");
        assert_eq!(got_a, (0..n).map(|i| i + 1_000_000).collect::<Vec<_>>());
        assert_eq!(a.unacked(), 0);
        assert_eq!(b.unacked(), 0);
        assert!(now - t0 < Duration::from_secs(120), "took {:?} of fake time", now - t0);
    }

    #[test]
    fn perfect_link() {
        run(0, 0, 1);
    }

    #[test]
    fn lossy_duplicating_reordering_link() {
        for seed in 1..6 {
            run(10, 5, seed * 7919);
        }
    }

    #[test]
    fn very_lossy_link() {
        run(40, 20, 42);
    }

    #[test]
    fn retransmission_backs_off() {
        let mut now = Instant::now();
        let mut a: Endpoint<u8, u8> = Endpoint::new();
        a.send(1);
        let mut gaps = Vec::new();
        let mut last = now;
        for _ in 0..20_000 {
            if !a.poll_transmit(now).is_empty() {
                gaps.push(now - last);
                last = now;
            }
            now += Duration::from_millis(1);
        }
        assert!(gaps.len() > 5);
        assert!(gaps[2] > gaps[1], "{gaps:?}");
        assert!(gaps.iter().all(|g| *g <= RTO_MAX + Duration::from_millis(1)));
        a.on_ack(1);
        assert_eq!(a.unacked(), 0);
        assert!(a.poll_transmit(now).is_empty());
    }

    #[test]
    fn batches_group_consecutive_runs_within_the_budget() {
        let items: Vec<(u64, String)> = vec![
            (1, "a".repeat(10)),
            (2, "b".repeat(10)),
            (3, "c".repeat(10)),
            (7, "d".into()),
            (8, "e".repeat(50)),
        ];
        let b = batches(items.clone(), 25, 100);
        let shape: Vec<(u64, usize)> = b.iter().map(|(s, v)| (*s, v.len())).collect();
        assert_eq!(shape, [(1, 2), (3, 1), (7, 1), (8, 1)]);
        let b = batches(items, 1000, 2);
        let shape: Vec<(u64, usize)> = b.iter().map(|(s, v)| (*s, v.len())).collect();
        assert_eq!(shape, [(1, 2), (3, 1), (7, 2)], "at most two to a batch");
        assert!(batches(Vec::<(u64, u8)>::new(), 10, 10).is_empty());
    }

    #[test]
    fn duplicates_and_old_messages_are_dropped() {
        let now = Instant::now();
        let mut b: Endpoint<u8, u8> = Endpoint::new();
        assert_eq!(b.on_data(2, 20, now), Vec::<u8>::new());
        assert_eq!(b.on_data(2, 20, now), Vec::<u8>::new());
        assert_eq!(b.on_data(1, 10, now), vec![10, 20]);
        assert_eq!(b.on_data(1, 10, now), Vec::<u8>::new());
        assert_eq!(b.ack(), 2);
        assert!(b.poll_ack(now));
        assert_eq!(b.on_data(10_000, 1, now), Vec::<u8>::new(), "far ahead of the window");
    }
}
