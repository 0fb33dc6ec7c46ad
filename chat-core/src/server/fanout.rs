//! The server's side of delivery: one shared log of the room's broadcasts, and per session an
//! [`Outbox`] that sends the session its part of the log and its private events reliably.
//!
//! A session holds positions in the log, never copies of it, and its retransmission state is
//! kept per datagram, not per event: ten thousand sessions in the middle of a burst of logins
//! cost a few hundred bytes each, whatever the burst.

use crate::protocol::{self, Event};
use crate::reliable::{RTO_MAX, RTO_MIN};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An event encoded once (postcard, as an element of `ServerMsg::Data`'s list), shared by
/// every session it goes to.
pub(crate) type Shared = Arc<[u8]>;

/// Encodes one event as an element of `ServerMsg::Data`'s list, to share.
pub(crate) fn encode_event(e: &Event) -> Shared {
    protocol::encode_event(e).into()
}

/// One broadcast in the room log.
#[derive(Debug)]
pub(crate) struct LogEntry {
    pub(crate) bytes: Shared,
    /// When it was logged.
    pub(crate) at: Instant,
    /// The session it is not sent to (the sender of a line sees it from its own input).
    pub(crate) except: Option<u64>,
    /// Total encoded bytes of the log up to and including this entry.
    cum: u64,
}

/// The broadcasts some session still needs (to send, or to send again), one copy for all.
#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: VecDeque<LogEntry>,
    /// Position of `entries[0]`.
    pub(crate) start: u64,
    /// Position of the most recent entry that must go out at once (anything but presence).
    pub(crate) last_urgent: Option<u64>,
}

impl Log {
    /// The position the next entry gets.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.entries.len() as u64
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, pos: u64) -> Option<&LogEntry> {
        pos.checked_sub(self.start).and_then(|i| self.entries.get(usize::try_from(i).ok()?))
    }

    pub(crate) fn push(&mut self, bytes: Shared, at: Instant, except: Option<u64>, urgent: bool) {
        let cum = self.entries.back().map_or(0, |e| e.cum) + bytes.len() as u64;
        if urgent {
            self.last_urgent = Some(self.end());
        }
        self.entries.push_back(LogEntry { bytes, at, except, cum });
    }

    /// Encoded bytes from `pos` to the end.
    pub(crate) fn bytes_from(&self, pos: u64) -> u64 {
        match (self.get(pos), self.entries.back()) {
            (Some(first), Some(last)) => last.cum - first.cum + first.bytes.len() as u64,
            _ => 0,
        }
    }

    /// Drops the entries before `pos`.
    pub(crate) fn trim_to(&mut self, pos: u64) {
        while self.start < pos && self.entries.pop_front().is_some() {
            self.start += 1;
        }
        if self.entries.capacity() > 1024 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }
}

/// Events taken by a session and not yet acknowledged, in sequence order.
#[derive(Debug)]
enum Piece {
    /// Events `seq .. seq + n` are the log entries `pos .. pos + n`.
    Log { seq: u64, pos: u64, n: u64 },
    /// Event `seq`, for this session only.
    One { seq: u64, bytes: Shared },
}

impl Piece {
    #[cfg(test)]
    fn first(&self) -> u64 {
        match self {
            Piece::Log { seq, .. } | Piece::One { seq, .. } => *seq,
        }
    }

    fn end(&self) -> u64 {
        match self {
            Piece::Log { seq, n, .. } => seq + n,
            Piece::One { seq, .. } => seq + 1,
        }
    }
}

/// A datagram sent and not yet wholly acknowledged: events `first .. first + n`.
#[derive(Debug)]
struct Flight {
    first: u64,
    n: u64,
    due: Instant,
    rto: Duration,
}

/// Datagrams in flight per session at most: more events wait and then share datagrams.
pub(crate) const MAX_FLIGHTS: usize = 16;

/// The sending half of a session: events numbered from 1, each kept (as a log position or a
/// shared encoding) until acknowledged, sent in datagrams of consecutive events that are sent
/// again, whole, when their timer runs out (doubling from [`RTO_MIN`] up to [`RTO_MAX`]).
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Sequence number of the next event taken.
    next_seq: u64,
    /// Events before this have been sent at least once.
    sent: u64,
    /// Everything up to this has been acknowledged.
    acked: u64,
    pieces: VecDeque<Piece>,
    flights: VecDeque<Flight>,
    /// No flight is due before this.
    resend_at: Option<Instant>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            next_seq: 1,
            sent: 1,
            acked: 0,
            pieces: VecDeque::new(),
            flights: VecDeque::new(),
            resend_at: None,
        }
    }
}

impl Outbox {
    /// Events taken and not yet acknowledged.
    pub(crate) fn unacked(&self) -> u64 {
        self.next_seq - 1 - self.acked
    }

    /// Everything up to this sequence number has been acknowledged.
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    /// The sequence number of the last event taken.
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Datagrams in flight.
    #[cfg(test)]
    pub(crate) fn flights(&self) -> usize {
        self.flights.len()
    }

    /// The oldest log position still needed (for a retransmission).
    pub(crate) fn oldest_log_pos(&self) -> Option<u64> {
        self.pieces.iter().find_map(|p| match p {
            Piece::Log { pos, .. } => Some(*pos),
            Piece::One { .. } => None,
        })
    }

    /// Takes log entry `pos` as the next event.
    pub(crate) fn push_log(&mut self, pos: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(Piece::Log { seq: s, pos: p, n }) = self.pieces.back_mut()
            && *s + *n == seq
            && *p + *n == pos
        {
            *n += 1;
            return;
        }
        self.pieces.push_back(Piece::Log { seq, pos, n: 1 });
    }

    /// Takes a private event as the next event.
    pub(crate) fn push_one(&mut self, bytes: Shared) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pieces.push_back(Piece::One { seq, bytes });
    }

    /// The peer has everything up to `ack`.
    pub(crate) fn on_ack(&mut self, ack: u64) {
        let ack = ack.min(self.next_seq - 1);
        if ack <= self.acked {
            return;
        }
        self.acked = ack;
        self.sent = self.sent.max(ack + 1);
        while let Some(p) = self.pieces.front_mut() {
            if p.end() <= ack + 1 {
                self.pieces.pop_front();
                continue;
            }
            if let Piece::Log { seq, pos, n } = p
                && *seq <= ack
            {
                let k = ack + 1 - *seq;
                *seq += k;
                *pos += k;
                *n -= k;
            }
            break;
        }
        while let Some(f) = self.flights.front_mut() {
            if f.first + f.n <= ack + 1 {
                self.flights.pop_front();
                continue;
            }
            if f.first <= ack {
                f.n -= ack + 1 - f.first;
                f.first = ack + 1;
            }
            break;
        }
        if self.flights.is_empty() {
            self.resend_at = None;
        }
    }

    /// Gives back queue memory a past burst left.
    pub(crate) fn shrink(&mut self) {
        if self.pieces.capacity() > self.pieces.len() * 2 {
            self.pieces.shrink_to(self.pieces.len() * 2);
        }
        if self.flights.capacity() > self.flights.len() * 2 {
            self.flights.shrink_to(self.flights.len() * 2);
        }
    }

    /// The encoding of event `seq`.
    fn bytes_of<'a>(&'a self, seq: u64, log: &'a Log) -> Option<&'a Shared> {
        let i = self.pieces.partition_point(|p| p.end() <= seq);
        match self.pieces.get(i)? {
            Piece::Log { seq: s, pos, .. } if *s <= seq => log.get(pos + (seq - s)).map(|e| &e.bytes),
            Piece::One { seq: s, bytes } if *s == seq => Some(bytes),
            _ => None,
        }
    }

    /// Sends what is due: datagrams whose timer ran out, then the events taken and not yet
    /// sent (while fewer than [`MAX_FLIGHTS`] datagrams are in flight), each datagram through
    /// `send` with the session's `tag` and `ack` on it. Returns how many datagrams went and how
    /// many events went for the first time.
    pub(crate) fn transmit(
        &mut self,
        now: Instant,
        log: &Log,
        tag: u64,
        ack: u64,
        buf: &mut Vec<u8>,
        send: &mut dyn FnMut(&[u8]),
    ) -> (usize, u64) {
        let mut datagrams = 0;
        if self.resend_at.is_some_and(|t| t <= now) {
            let mut next: Option<Instant> = None;
            for i in 0..self.flights.len() {
                let f = &mut self.flights[i];
                if f.due <= now {
                    f.rto = (f.rto * 2).min(RTO_MAX);
                    f.due = now + f.rto;
                    let (first, n) = (f.first, f.n);
                    self.encode(first, n, tag, ack, log, buf);
                    send(buf);
                    datagrams += 1;
                }
                let due = self.flights[i].due;
                next = Some(next.map_or(due, |t| t.min(due)));
            }
            self.resend_at = next;
        }
        let mut fresh = 0;
        while self.sent < self.next_seq && self.flights.len() < MAX_FLIGHTS {
            let first = self.sent;
            let mut used = 0;
            let mut n = 0;
            while first + n < self.next_seq {
                let size = self.bytes_of(first + n, log).map_or(0, |b| b.len());
                if n > 0 && used + size > crate::protocol::BATCH_BUDGET {
                    break;
                }
                used += size;
                n += 1;
            }
            self.encode(first, n, tag, ack, log, buf);
            send(buf);
            datagrams += 1;
            fresh += n;
            self.sent += n;
            self.flights.push_back(Flight { first, n, due: now + RTO_MIN, rto: RTO_MIN });
            let due = now + RTO_MIN;
            self.resend_at = Some(self.resend_at.map_or(due, |t| t.min(due)));
        }
        (datagrams, fresh)
    }

    /// Writes the `ServerMsg::Data` datagram for events `first .. first + n` into `buf`, byte
    /// for byte what `protocol::encode` would give.
    fn encode(&self, first: u64, n: u64, tag: u64, ack: u64, log: &Log, buf: &mut Vec<u8>) {
        protocol::data_header(buf, tag, first, ack, self.last_seq(), n);
        for seq in first..first + n {
            // Every unacknowledged event is held (its log entry is kept while a piece names it).
            if let Some(b) = self.bytes_of(seq, log) {
                buf.extend_from_slice(b);
            }
        }
    }

    /// When a datagram is next due to be sent again.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.resend_at
    }

    /// Whether every event taken has been acknowledged.
    pub(crate) fn is_idle(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Pieces held (for the tests' memory checks).
    #[cfg(test)]
    pub(crate) fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// First piece's first sequence number (for the tests).
    #[cfg(test)]
    fn first_unacked(&self) -> Option<u64> {
        self.pieces.front().map(Piece::first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerMsg;

    fn decode(d: &[u8]) -> (u64, u64, Vec<Event>) {
        match protocol::decode::<ServerMsg>(d).expect("a valid datagram") {
            ServerMsg::Data { seq, ack, events, .. } => (seq, ack, events),
            other => panic!("{other:?}"),
        }
    }

    fn admin(i: usize) -> Event {
        Event::Admin { ts: i as u64, text: format!("a{i}") }
    }

    #[test]
    fn datagrams_are_the_protocols_encoding_and_carry_log_and_private_events_in_order() {
        let now = Instant::now();
        let mut log = Log::default();
        let mut ob = Outbox::default();
        for i in 0..3 {
            log.push(encode_event(&admin(i)), now, None, true);
        }
        ob.push_log(0);
        ob.push_log(1);
        ob.push_one(encode_event(&Event::Goodbye));
        ob.push_log(2);
        let mut sent = Vec::new();
        let (datagrams, fresh) =
            ob.transmit(now, &log, 9, 1 << 40, &mut Vec::new(), &mut |d| sent.push(d.to_vec()));
        assert_eq!((datagrams, fresh), (1, 4));
        let events = vec![admin(0), admin(1), Event::Goodbye, admin(2)];
        assert_eq!(
            sent,
            [protocol::encode(&ServerMsg::Data { tag: 9, seq: 1, ack: 1 << 40, upto: 4, events })]
        );
        assert_eq!(ob.pieces(), 3, "log 0-1, the private one, log 2");
        assert_eq!(ob.oldest_log_pos(), Some(0));
        ob.on_ack(2);
        assert_eq!(ob.oldest_log_pos(), Some(2));
        assert_eq!(ob.first_unacked(), Some(3));
        ob.on_ack(4);
        assert!(ob.is_idle());
        assert_eq!(ob.flights(), 0);
        assert_eq!(ob.next_timeout(), None);
    }

    #[test]
    fn a_partly_acknowledged_log_piece_and_flight_are_trimmed() {
        let now = Instant::now();
        let mut log = Log::default();
        let mut ob = Outbox::default();
        let big = "x".repeat(500);
        for i in 0..10 {
            log.push(encode_event(&Event::Admin { ts: i, text: big.clone() }), now, None, true);
            ob.push_log(i);
        }
        let mut sent = Vec::new();
        ob.transmit(now, &log, 9, 0, &mut Vec::new(), &mut |d| sent.push(decode(d)));
        let shape: Vec<(u64, usize)> = sent.iter().map(|(s, _, e)| (*s, e.len())).collect();
        assert_eq!(shape, [(1, 2), (3, 2), (5, 2), (7, 2), (9, 2)], "two 500-byte events per datagram");
        ob.on_ack(4);
        assert_eq!(ob.oldest_log_pos(), Some(4));
        assert_eq!(ob.flights(), 3);
        // Nothing acknowledged further: the rest is sent again when due, with the same bounds.
        let mut again = Vec::new();
        ob.transmit(now + RTO_MIN, &log, 9, 0, &mut Vec::new(), &mut |d| again.push(decode(d)));
        let shape: Vec<(u64, usize)> = again.iter().map(|(s, _, e)| (*s, e.len())).collect();
        assert_eq!(shape, [(5, 2), (7, 2), (9, 2)]);
        // Backed off: not due again at once.
        let mut none = 0;
        ob.transmit(now + RTO_MIN * 2, &log, 9, 0, &mut Vec::new(), &mut |_| none += 1);
        assert_eq!(none, 0);
        assert!(ob.next_timeout().is_some_and(|t| t >= now + RTO_MIN * 3));
    }

    #[test]
    fn at_most_max_flights_datagrams_are_in_flight_then_events_wait_and_share() {
        let now = Instant::now();
        let mut log = Log::default();
        let mut ob = Outbox::default();
        let mut count = 0;
        for i in 0..(MAX_FLIGHTS as u64 + 40) {
            log.push(encode_event(&admin(i as usize)), now, None, true);
            ob.push_log(i);
            ob.transmit(now, &log, 9, 0, &mut Vec::new(), &mut |_| count += 1);
        }
        assert_eq!(count, MAX_FLIGHTS);
        assert_eq!(ob.flights(), MAX_FLIGHTS);
        assert_eq!(ob.pieces(), 1, "one range of the log, however many events");
        ob.on_ack(MAX_FLIGHTS as u64);
        let mut sent = Vec::new();
        ob.transmit(now, &log, 9, 0, &mut Vec::new(), &mut |d| sent.push(decode(d)));
        assert_eq!(sent.len(), 1, "the 40 waiting events share one datagram");
        assert_eq!(sent[0].2.len(), 40);
    }
}
