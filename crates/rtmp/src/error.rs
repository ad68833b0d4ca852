/// Everything that can go wrong while decoding RTMP. Any error returned by a
/// session's `push` is a protocol violation: the caller should drop the connection.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtmpError {
    #[error("handshake: unsupported RTMP version {0} (expected 3)")]
    BadVersion(u8),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("chunk message of {size} bytes exceeds limit {limit}")]
    MessageTooLarge { size: usize, limit: usize },
    #[error(
        "chunk decoder holds {size} bytes (read buffer and unfinished messages), limit {limit}"
    )]
    BufferLimit { size: usize, limit: usize },
    #[error("more than {limit} chunk streams on one connection")]
    TooManyChunkStreams { limit: usize },
    #[error("invalid chunk size {0}")]
    BadChunkSize(u32),
    #[error("chunk stream {csid}: fmt {fmt} chunk without a preceding fmt 0 header")]
    MissingHeader { csid: u32, fmt: u8 },
    #[error("AMF0: unknown marker 0x{marker:02x} at offset {offset}")]
    Amf0UnknownMarker { marker: u8, offset: usize },
    #[error("AMF0: truncated value at offset {0}")]
    Amf0Truncated(usize),
    #[error("AMF0: nesting deeper than {0} levels")]
    Amf0TooDeep(usize),
    #[error("AMF0: more than {0} values in one message")]
    Amf0TooManyValues(usize),
    #[error("malformed {what} message: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("FLV: {0}")]
    Flv(String),
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("invalid RTMP URL {0:?}")]
    BadUrl(String),
    #[error("session already failed: {0}")]
    Failed(String),
}
