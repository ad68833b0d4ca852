//! Explicit time units. See docs/time.md for how media and wall time are reconciled.

use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicI64, Ordering};

/// A media timestamp in 90 kHz ticks, already unwrapped (monotone 64-bit, never wraps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ts90k(pub i64);

impl Ts90k {
    pub const HZ: i64 = 90_000;
    pub fn from_ms(ms: i64) -> Self {
        Ts90k(ms * 90)
    }
    pub fn as_ms(self) -> i64 {
        self.0.div_euclid(90)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 90_000.0
    }
    /// The low 33 bits, as carried in MPEG-TS PES headers.
    pub fn to_33bit(self) -> u64 {
        (self.0 as u64) & ((1u64 << 33) - 1)
    }
}

impl Add for Ts90k {
    type Output = Ts90k;
    fn add(self, o: Ts90k) -> Ts90k {
        Ts90k(self.0 + o.0)
    }
}
impl Sub for Ts90k {
    type Output = Ts90k;
    fn sub(self, o: Ts90k) -> Ts90k {
        Ts90k(self.0 - o.0)
    }
}

/// Wall-clock time: milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UtcMs(pub i64);

impl UtcMs {
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    /// RFC 3339 with milliseconds and `Z`, as used by `#EXT-X-PROGRAM-DATE-TIME`.
    pub fn to_rfc3339(self) -> String {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Source of time. The binary uses a system clock; tests use [`SimulatedClock`].
pub trait Clock: Send + Sync + 'static {
    /// Wall clock (NTP-disciplined system time), UTC.
    fn now_utc(&self) -> UtcMs;
    /// Monotonic milliseconds since an arbitrary origin; never goes backwards.
    fn now_mono_ms(&self) -> i64;
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct SimulatedClock {
    utc_ms: AtomicI64,
    mono_ms: AtomicI64,
}

impl SimulatedClock {
    pub fn new(start: UtcMs) -> Self {
        SimulatedClock {
            utc_ms: AtomicI64::new(start.0),
            mono_ms: AtomicI64::new(0),
        }
    }
    pub fn advance_ms(&self, ms: i64) {
        self.utc_ms.fetch_add(ms, Ordering::SeqCst);
        self.mono_ms.fetch_add(ms, Ordering::SeqCst);
    }
    /// Step the wall clock alone (an NTP correction); monotonic time is unaffected.
    pub fn step_utc_ms(&self, ms: i64) {
        self.utc_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now_utc(&self) -> UtcMs {
        UtcMs(self.utc_ms.load(Ordering::SeqCst))
    }
    fn now_mono_ms(&self) -> i64 {
        self.mono_ms.load(Ordering::SeqCst)
    }
}

/// Extends a wrapping N-bit counter (33-bit MPEG-TS 90 kHz, 32-bit RTMP ms) into a
/// monotone-ish i64 by tracking wrap-arounds. Small backward steps (B-frame PTS
/// reordering, jitter) are kept as backward steps, not taken as wraps.
#[derive(Debug, Clone)]
pub struct Unwrapper {
    bits: u32,
    last: Option<i64>,
    /// RTMP only: many writers (ffmpeg's FLV muxer among them) send 31-bit timestamps and wrap at
    /// 2^31 ms. A step of about +2^31 modulo 2^32 is taken as such a wrap and folded in here.
    half_wrap_offset: Option<i64>,
}

impl Unwrapper {
    pub fn new(bits: u32) -> Self {
        Unwrapper {
            bits,
            last: None,
            half_wrap_offset: None,
        }
    }

    /// For RTMP millisecond timestamps: 32-bit, also tolerating writers that wrap at 2^31.
    pub fn rtmp_ms() -> Self {
        Unwrapper {
            bits: 32,
            last: None,
            half_wrap_offset: Some(0),
        }
    }

    pub fn unwrap(&mut self, raw: u64) -> i64 {
        let modulus = 1i64 << self.bits;
        let mut raw = (raw as i64) & (modulus - 1);
        if let (Some(off), Some(last)) = (self.half_wrap_offset.as_mut(), self.last) {
            let half = modulus / 2;
            let window = 10_000; // 10 s of milliseconds
            let shifted = (raw + *off).rem_euclid(modulus);
            let step = (shifted - last.rem_euclid(modulus)).rem_euclid(modulus);
            if (half - window..=half + window).contains(&step) {
                *off = (*off + half).rem_euclid(modulus);
            }
            raw = (raw + *off).rem_euclid(modulus);
        }
        let v = match self.last {
            None => raw,
            Some(last) => {
                let base = last - last.rem_euclid(modulus);
                // candidates around the last value; pick the closest
                [base - modulus + raw, base + raw, base + modulus + raw]
                    .into_iter()
                    .min_by_key(|c| (c - last).abs())
                    .unwrap()
            }
        };
        self.last = Some(v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(UtcMs(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            UtcMs(1_795_000_000_123).to_rfc3339(),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(
            UtcMs(951_782_400_000).to_rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn civil_round_trip() {
        for d in -800_000..800_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn unwrap_33bit() {
        let mut u = Unwrapper::new(33);
        let m = 1u64 << 33;
        assert_eq!(u.unwrap(m - 90_000), (m - 90_000) as i64);
        assert_eq!(u.unwrap(10), m as i64 + 10);
        // a small step back (B-frames) stays a step back
        assert_eq!(u.unwrap(m - 3000), m as i64 - 3000);
        assert_eq!(u.unwrap(20_000), m as i64 + 20_000);
    }

    #[test]
    fn unwrap_rtmp_31bit_writers() {
        // ffmpeg writes FLV timestamps as signed 32-bit: they wrap at 2^31 ms
        let mut u = Unwrapper::rtmp_ms();
        let half = 1u64 << 31;
        let mut out = Vec::new();
        for t in (half - 200..half + 200).step_by(40) {
            out.push(u.unwrap(t % half));
        }
        assert!(out.windows(2).all(|w| w[1] - w[0] == 40), "{out:?}");
        // a second wrap (true time crosses 2^32) keeps going
        let mut u = Unwrapper::rtmp_ms();
        let mut prev = u.unwrap(half - 40);
        for k in 0..(3 * 1_000) {
            let t = (half + k * 40) % half; // the writer wraps every 2^31
            let v = u.unwrap(t);
            assert_eq!(v - prev, 40);
            prev = v;
        }
        // and real 32-bit writers still unwrap
        let mut u = Unwrapper::rtmp_ms();
        let m = 1u64 << 32;
        assert_eq!(u.unwrap(m - 40), (m - 40) as i64);
        assert_eq!(u.unwrap(0), m as i64);
        // small B-frame-like steps back are kept
        assert_eq!(u.unwrap(m - 80), m as i64 - 80);
    }

    #[test]
    fn unwrap_32bit_ms() {
        let mut u = Unwrapper::new(32);
        let m = 1u64 << 32;
        let mut expect = (m - 100) as i64;
        assert_eq!(u.unwrap(m - 100), expect);
        for _ in 0..10 {
            expect += 40;
            assert_eq!(u.unwrap((expect as u64) % m), expect);
        }
    }
}
