//! AMF0 values (the encoding of RTMP commands and metadata).

use bytes::{BufMut, Bytes, BytesMut};

use crate::RtmpError;

/// Maximum nesting of objects / arrays accepted by the decoder.
pub const MAX_DEPTH: usize = 32;
/// Maximum number of values (at any depth) one decode call produces. Each decoded value
/// costs far more memory than its encoding (a 1-byte null is a 32-byte [`Amf0Value`]), so the
/// count is bounded whatever the message size; RTMP commands carry a few dozen values.
pub const MAX_VALUES: usize = 65_536;

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;
const DATE: u8 = 0x0b;
const LONG_STRING: u8 = 0x0c;
const UNSUPPORTED: u8 = 0x0d;
const XML_DOCUMENT: u8 = 0x0f;
const TYPED_OBJECT: u8 = 0x10;

/// One AMF0 value. Objects and ECMA arrays keep their key order.
///
/// Decoding also accepts Unsupported (→ `Undefined`), XML document (→ `LongString`)
/// and typed objects (→ `Object`, class name dropped). Strings that are not valid
/// UTF-8 are decoded lossily.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch and the (unused, usually 0) time zone.
    Date {
        millis: f64,
        tz: i16,
    },
    LongString(String),
}

impl Amf0Value {
    pub fn str(s: impl Into<String>) -> Self {
        Amf0Value::String(s.into())
    }

    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Amf0Value)>) -> Self {
        Amf0Value::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Properties of an object or ECMA array.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// Looks up a property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Amf0Value::Number(n) => {
                out.put_u8(NUMBER);
                out.put_f64(*n);
            }
            Amf0Value::Boolean(b) => {
                out.put_u8(BOOLEAN);
                out.put_u8(*b as u8);
            }
            Amf0Value::String(s) if s.len() <= 0xffff => {
                out.put_u8(STRING);
                put_short_str(s, out);
            }
            Amf0Value::String(s) | Amf0Value::LongString(s) => {
                out.put_u8(LONG_STRING);
                out.put_u32(s.len() as u32);
                out.put_slice(s.as_bytes());
            }
            Amf0Value::Object(p) => {
                out.put_u8(OBJECT);
                put_props(p, out);
            }
            Amf0Value::Null => out.put_u8(NULL),
            Amf0Value::Undefined => out.put_u8(UNDEFINED),
            Amf0Value::EcmaArray(p) => {
                out.put_u8(ECMA_ARRAY);
                out.put_u32(p.len() as u32);
                put_props(p, out);
            }
            Amf0Value::StrictArray(v) => {
                out.put_u8(STRICT_ARRAY);
                out.put_u32(v.len() as u32);
                for x in v {
                    x.encode(out);
                }
            }
            Amf0Value::Date { millis, tz } => {
                out.put_u8(DATE);
                out.put_f64(*millis);
                out.put_i16(*tz);
            }
        }
    }

    /// Decodes one value starting at `*pos`, advancing it.
    pub fn decode(data: &[u8], pos: &mut usize) -> Result<Amf0Value, RtmpError> {
        Reader {
            d: data,
            p: *pos,
            values: 0,
        }
        .value(0)
        .map(|(v, p)| {
            *pos = p;
            v
        })
    }
}

/// Encodes a sequence of values (e.g. a command: name, transaction id, args...).
pub fn encode_all(values: &[Amf0Value]) -> Bytes {
    let mut out = BytesMut::new();
    for v in values {
        v.encode(&mut out);
    }
    out.freeze()
}

/// Decodes values until the end of `data`.
/// At most [`MAX_VALUES`] values in all (nested ones included).
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, RtmpError> {
    let mut r = Reader {
        d: data,
        p: 0,
        values: 0,
    };
    let mut v = Vec::new();
    while r.p < data.len() {
        v.push(r.value_inner(0)?);
    }
    Ok(v)
}

fn put_short_str(s: &str, out: &mut BytesMut) {
    let b = &s.as_bytes()[..s.len().min(0xffff)];
    out.put_u16(b.len() as u16);
    out.put_slice(b);
}

fn put_props(p: &[(String, Amf0Value)], out: &mut BytesMut) {
    for (k, v) in p {
        put_short_str(k, out);
        v.encode(out);
    }
    out.put_slice(&[0, 0, OBJECT_END]);
}

struct Reader<'a> {
    d: &'a [u8],
    p: usize,
    /// Values decoded so far (bounded by [`MAX_VALUES`]).
    values: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RtmpError> {
        let s = self
            .d
            .get(self.p..self.p.saturating_add(n))
            .ok_or(RtmpError::Amf0Truncated(self.p))?;
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RtmpError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, RtmpError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, RtmpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f64(&mut self) -> Result<f64, RtmpError> {
        let b = self.take(8)?;
        Ok(f64::from_be_bytes(b.try_into().unwrap()))
    }
    fn string(&mut self, n: usize) -> Result<String, RtmpError> {
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn props(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, RtmpError> {
        let mut v = Vec::new();
        loop {
            let n = self.u16()? as usize;
            if n == 0 && self.d.get(self.p) == Some(&OBJECT_END) {
                self.p += 1;
                return Ok(v);
            }
            let k = self.string(n)?;
            let x = self.value_inner(depth + 1)?;
            v.push((k, x));
        }
    }
    fn value(mut self, depth: usize) -> Result<(Amf0Value, usize), RtmpError> {
        let v = self.value_inner(depth)?;
        Ok((v, self.p))
    }
    fn value_inner(&mut self, depth: usize) -> Result<Amf0Value, RtmpError> {
        if depth > MAX_DEPTH {
            return Err(RtmpError::Amf0TooDeep(MAX_DEPTH));
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(RtmpError::Amf0TooManyValues(MAX_VALUES));
        }
        let at = self.p;
        let marker = self.u8()?;
        Ok(match marker {
            NUMBER => Amf0Value::Number(self.f64()?),
            BOOLEAN => Amf0Value::Boolean(self.u8()? != 0),
            STRING => {
                let n = self.u16()? as usize;
                Amf0Value::String(self.string(n)?)
            }
            OBJECT => Amf0Value::Object(self.props(depth)?),
            TYPED_OBJECT => {
                let n = self.u16()? as usize;
                self.take(n)?;
                Amf0Value::Object(self.props(depth)?)
            }
            NULL => Amf0Value::Null,
            UNDEFINED | UNSUPPORTED => Amf0Value::Undefined,
            ECMA_ARRAY => {
                self.u32()?; // count: a hint only, the end marker terminates
                Amf0Value::EcmaArray(self.props(depth)?)
            }
            STRICT_ARRAY => {
                let n = self.u32()? as usize;
                // every element takes at least one byte
                if n > self.d.len() - self.p {
                    return Err(RtmpError::Amf0Truncated(self.p));
                }
                // the declared count is only a claim: the vector grows with the values
                // actually decoded
                let mut v = Vec::with_capacity(n.min(16));
                for _ in 0..n {
                    v.push(self.value_inner(depth + 1)?);
                }
                Amf0Value::StrictArray(v)
            }
            DATE => {
                let millis = self.f64()?;
                let tz = self.u16()? as i16;
                Amf0Value::Date { millis, tz }
            }
            LONG_STRING | XML_DOCUMENT => {
                let n = self.u32()? as usize;
                Amf0Value::LongString(self.string(n)?)
            }
            m => {
                return Err(RtmpError::Amf0UnknownMarker {
                    marker: m,
                    offset: at,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<Amf0Value> {
        use Amf0Value::*;
        let str = Amf0Value::str;
        vec![
            str("connect"),
            Number(1.0),
            Amf0Value::object([
                ("app", str("live")),
                ("tcUrl", str("rtmp://x/live")),
                ("fpad", Boolean(false)),
                ("n", Number(-3.5)),
                ("nested", Amf0Value::object([("deep", Null)])),
            ]),
            Null,
            Undefined,
            EcmaArray(vec![
                ("width".into(), Number(320.0)),
                ("".into(), Boolean(true)),
            ]),
            StrictArray(vec![Number(1.0), str("two"), Null]),
            Date {
                millis: 1.7e12,
                tz: 0,
            },
            LongString("x".repeat(70_000)),
            str("ünïcødé"),
        ]
    }

    #[test]
    fn round_trip() {
        let v = sample();
        let enc = encode_all(&v);
        assert_eq!(decode_all(&enc).unwrap(), v);
        for n in 0..enc.len().min(400) {
            let _ = decode_all(&enc[..n]);
        }
    }

    #[test]
    fn errors() {
        let mut d = encode_all(&vec![Amf0Value::Null; 17]).to_vec();
        d.push(0x42);
        assert_eq!(
            decode_all(&d).unwrap_err().to_string(),
            "AMF0: unknown marker 0x42 at offset 17"
        );
        let deep = [STRICT_ARRAY, 0, 0, 0, 1].repeat(100);
        assert!(matches!(decode_all(&deep), Err(RtmpError::Amf0TooDeep(_))));
        assert!(matches!(
            decode_all(&[STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff]),
            Err(RtmpError::Amf0Truncated(_))
        ));
        assert!(matches!(
            decode_all(&[STRING, 0, 5, b'a']),
            Err(RtmpError::Amf0Truncated(3))
        ));
    }

    #[test]
    fn values_are_bounded_by_count_not_by_the_declared_size() {
        // a declared 16 M-element array with one element present: truncated, nothing sized
        // from the count
        let mut d = vec![STRICT_ARRAY, 0x00, 0xff, 0xff, 0xff];
        d.push(NULL);
        assert!(matches!(decode_all(&d), Err(RtmpError::Amf0Truncated(_))));
        // the elements really present, but more than MAX_VALUES of them
        let n = MAX_VALUES + 10;
        let mut d = vec![STRICT_ARRAY];
        d.extend_from_slice(&(n as u32).to_be_bytes());
        d.resize(5 + n, NULL);
        assert_eq!(
            decode_all(&d),
            Err(RtmpError::Amf0TooManyValues(MAX_VALUES))
        );
        // the same through top-level values and nested objects
        assert_eq!(
            decode_all(&vec![NULL; n]),
            Err(RtmpError::Amf0TooManyValues(MAX_VALUES))
        );
        // a large but allowed array still decodes
        let ok = Amf0Value::StrictArray(vec![Amf0Value::Null; 1000]);
        assert_eq!(
            decode_all(&encode_all(std::slice::from_ref(&ok))).unwrap(),
            vec![ok]
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_all(&d);
        }

        #[test]
        fn mutated_valid_never_panics(idx in 0usize..200, val in any::<u8>(), cut in 0usize..300) {
            let mut d = encode_all(&sample()[..7]).to_vec();
            let i = idx % d.len();
            d[i] = val;
            d.truncate(cut.min(d.len()));
            let _ = decode_all(&d);
        }
    }
}
