//! AWS's event-stream framing (`application/vnd.amazon.eventstream`), the body of
//! InvokeWithResponseStream's answer that boto3's `EventStream` and the SDKs decode:
//! `[total length][headers length][prelude CRC][headers][payload][message CRC]`, lengths
//! big-endian, CRC-32 over the prelude and over the whole message before its CRC; each
//! header `[name length u8][name][type 7 = string][value length u16][value]`.

use bytes::{BufMut, Bytes, BytesMut};

/// One message with string headers.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut head = BytesMut::new();
    for (name, value) in headers {
        head.put_u8(name.len() as u8);
        head.put_slice(name.as_bytes());
        head.put_u8(7);
        head.put_u16(value.len() as u16);
        head.put_slice(value.as_bytes());
    }
    let total = 12 + head.len() + payload.len() + 4;
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(total as u32);
    out.put_u32(head.len() as u32);
    out.put_u32(crc32fast::hash(&out[..8]));
    out.put_slice(&head);
    out.put_slice(payload);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out.freeze()
}

/// An event of type `event_type` (`PayloadChunk`, `InvokeComplete`).
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_their_lengths_and_checksums() {
        let m = event("PayloadChunk", "application/octet-stream", b"hello");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        let headers = u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        assert_eq!(
            u32::from_be_bytes(m[8..12].try_into().unwrap()),
            crc32fast::hash(&m[..8])
        );
        assert_eq!(&m[12 + headers..total - 4], b"hello");
        assert_eq!(
            u32::from_be_bytes(m[total - 4..].try_into().unwrap()),
            crc32fast::hash(&m[..total - 4])
        );
        // The first header: `:event-type`, a string, `PayloadChunk`.
        assert_eq!(m[12] as usize, ":event-type".len());
        assert_eq!(&m[13..24], b":event-type");
        assert_eq!(m[24], 7);
        assert_eq!(&m[27..39], b"PayloadChunk");
    }
}
