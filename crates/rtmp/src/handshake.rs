//! RTMP simple (plain, non-digest) handshake, version 3.
//!
//! Server: reads C0+C1, answers S0+S1+S2 (S2 echoes C1), then waits for C2.
//! Client: sends C0+C1 at creation, reads S0+S1+S2, answers C2 (echo of S1).
//! C2 / S2 contents are not verified: digest-handshake peers put other bytes there.

use bytes::{BufMut, Bytes, BytesMut};

use crate::RtmpError;

/// Size of C1/S1/C2/S2.
pub const HANDSHAKE_SIZE: usize = 1536;
/// Random bytes in C1/S1 (after the 4-byte time and 4 zero bytes).
pub const HANDSHAKE_RANDOM_LEN: usize = 1528;
pub const RTMP_VERSION: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Server: waiting for C0+C1. Client: waiting for S0+S1+S2.
    WaitFirst,
    /// Server: waiting for C2.
    WaitC2,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

/// One side of the handshake. Feed it with [`Handshake::push`]; it reports how
/// many bytes it consumed, the rest belongs to the chunk stream.
#[derive(Debug)]
pub struct Handshake {
    role: Role,
    state: State,
    buf: BytesMut,
    out: BytesMut,
    random: Box<[u8; HANDSHAKE_RANDOM_LEN]>,
}

fn c1s1(random: &[u8; HANDSHAKE_RANDOM_LEN], out: &mut BytesMut) {
    out.put_u32(0); // time
    out.put_u32(0); // zero
    out.put_slice(random);
}

impl Handshake {
    pub fn server(random: [u8; HANDSHAKE_RANDOM_LEN]) -> Self {
        Handshake {
            role: Role::Server,
            state: State::WaitFirst,
            buf: BytesMut::new(),
            out: BytesMut::new(),
            random: Box::new(random),
        }
    }

    /// A client handshake; C0+C1 are queued for transmission immediately.
    pub fn client(random: [u8; HANDSHAKE_RANDOM_LEN]) -> Self {
        let mut h = Handshake {
            role: Role::Client,
            state: State::WaitFirst,
            buf: BytesMut::new(),
            out: BytesMut::with_capacity(1 + HANDSHAKE_SIZE),
            random: Box::new(random),
        };
        h.out.put_u8(RTMP_VERSION);
        c1s1(&h.random, &mut h.out);
        h
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes to send to the peer, if any.
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    /// Consumes handshake bytes from `data`; returns how many were used.
    /// Once [`Handshake::is_done`], the remaining bytes are chunk-stream data.
    pub fn push(&mut self, data: &[u8]) -> Result<usize, RtmpError> {
        let mut used = 0;
        while used < data.len() && self.state != State::Done {
            let need = match (self.role, self.state) {
                (Role::Server, State::WaitFirst) => 1 + HANDSHAKE_SIZE,
                (Role::Server, State::WaitC2) => HANDSHAKE_SIZE,
                (Role::Client, State::WaitFirst) => 1 + 2 * HANDSHAKE_SIZE,
                _ => unreachable!(),
            };
            let take = (need - self.buf.len()).min(data.len() - used);
            self.buf.put_slice(&data[used..used + take]);
            used += take;
            if self.state == State::WaitFirst
                && self.buf.first().is_some_and(|v| *v != RTMP_VERSION)
            {
                return Err(RtmpError::BadVersion(self.buf[0]));
            }
            if self.buf.len() < need {
                break;
            }
            let msg = self.buf.split();
            match (self.role, self.state) {
                (Role::Server, State::WaitFirst) => {
                    let c1 = &msg[1..];
                    self.out.put_u8(RTMP_VERSION);
                    c1s1(&self.random, &mut self.out);
                    // S2: echo of C1 (time, time2, random)
                    self.out.put_slice(&c1[..4]);
                    self.out.put_u32(0);
                    self.out.put_slice(&c1[8..]);
                    self.state = State::WaitC2;
                }
                (Role::Server, State::WaitC2) => self.state = State::Done,
                (Role::Client, State::WaitFirst) => {
                    let s1 = &msg[1..1 + HANDSHAKE_SIZE];
                    self.out.put_slice(&s1[..4]);
                    self.out.put_u32(0);
                    self.out.put_slice(&s1[8..]);
                    self.state = State::Done;
                }
                _ => unreachable!(),
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_server_handshake() {
        let mut c = Handshake::client([1; HANDSHAKE_RANDOM_LEN]);
        let mut s = Handshake::server([2; HANDSHAKE_RANDOM_LEN]);
        let c01 = c.take_transmit().unwrap();
        assert_eq!(c01.len(), 1537);
        // byte-by-byte
        for b in c01.iter() {
            assert_eq!(s.push(&[*b]).unwrap(), 1);
        }
        let s012 = s.take_transmit().unwrap();
        assert_eq!(s012.len(), 1 + 2 * 1536);
        assert_eq!(&s012[1 + 1536 + 8..], &c01[9..]);
        let mut extra = s012.to_vec();
        extra.extend_from_slice(b"xyz");
        assert_eq!(c.push(&extra).unwrap(), s012.len());
        assert!(c.is_done());
        let c2 = c.take_transmit().unwrap();
        assert_eq!(&c2[8..], &[2; HANDSHAKE_RANDOM_LEN][..]);
        let mut c2x = c2.to_vec();
        c2x.push(9);
        assert_eq!(s.push(&c2x).unwrap(), 1536);
        assert!(s.is_done());
    }

    #[test]
    fn bad_version() {
        let mut s = Handshake::server([0; HANDSHAKE_RANDOM_LEN]);
        assert_eq!(s.push(&[6, 0, 0]), Err(RtmpError::BadVersion(6)));
    }
}
