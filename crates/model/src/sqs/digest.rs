//! The MD5 digests SQS returns and the SDKs check: of a message body, and of its message
//! attributes in AWS's encoding (by name, each as length-prefixed name, data type, a
//! transport byte, 1 for strings and numbers, 2 for binary, and the length-prefixed value).

use md5::{Digest, Md5};

use super::AttributeValue;

/// The hex MD5 of `body`.
pub fn body_md5(body: &str) -> String {
    hex(&Md5::digest(body.as_bytes()))
}

/// The hex MD5 of `attributes` (`MD5OfMessageAttributes`), or `None` when there are none.
pub fn attributes_md5<'a>(
    attributes: impl IntoIterator<Item = (&'a String, &'a AttributeValue)>,
) -> Option<String> {
    let mut sorted: Vec<(&String, &AttributeValue)> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut md5 = Md5::new();
    for (name, value) in sorted {
        field(&mut md5, name.as_bytes());
        field(&mut md5, value.data_type.as_bytes());
        match (&value.string_value, &value.binary_value) {
            (_, Some(binary)) => {
                md5.update([2u8]);
                field(&mut md5, binary);
            }
            (Some(s), None) => {
                md5.update([1u8]);
                field(&mut md5, s.as_bytes());
            }
            (None, None) => {
                md5.update([1u8]);
                field(&mut md5, b"");
            }
        }
    }
    Some(hex(&md5.finalize()))
}

/// A length-prefixed field (4 bytes, big-endian).
fn field(md5: &mut Md5, bytes: &[u8]) {
    md5.update((bytes.len() as u32).to_be_bytes());
    md5.update(bytes);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn string(data_type: &str, v: &str) -> AttributeValue {
        AttributeValue {
            data_type: data_type.into(),
            string_value: Some(v.into()),
            binary_value: None,
        }
    }

    #[test]
    fn bodies_and_attributes_digest_as_aws_does() {
        assert_eq!(body_md5("hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(body_md5(""), "d41d8cd98f00b204e9800998ecf8427e");
        let none: BTreeMap<String, AttributeValue> = BTreeMap::new();
        assert_eq!(attributes_md5(&none), None);
        // The encoding, byte by byte, for one string attribute.
        let mut one = BTreeMap::new();
        one.insert("a".to_string(), string("String", "b"));
        let mut expected = Vec::new();
        for part in [&b"a"[..], b"String"] {
            expected.extend((part.len() as u32).to_be_bytes());
            expected.extend(part);
        }
        expected.push(1);
        expected.extend(1u32.to_be_bytes());
        expected.extend(b"b");
        assert_eq!(attributes_md5(&one), Some(hex(&Md5::digest(&expected))));
        // Order of insertion does not matter; names are sorted.
        let mut two = BTreeMap::new();
        two.insert("z".to_string(), string("Number", "1"));
        two.insert("a".to_string(), string("String", "b"));
        let reversed: Vec<(&String, &AttributeValue)> = two.iter().rev().collect();
        assert_eq!(attributes_md5(&two), attributes_md5(reversed));
    }
}
