//! Key bytes, built in one place: big-endian integers (so byte order is numeric order),
//! signed integers with the sign bit flipped, and strings ended by a 0x00 separator
//! (identifiers never contain NUL).

#[derive(Debug, Default, Clone)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new() -> Key {
        Key(Vec::with_capacity(32))
    }

    pub fn u8(mut self, v: u8) -> Key {
        self.0.push(v);
        self
    }

    pub fn u32(mut self, v: u32) -> Key {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(mut self, v: u64) -> Key {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(mut self, v: i64) -> Key {
        self.0.extend_from_slice(&flip(v).to_be_bytes());
        self
    }

    pub fn str(mut self, s: &str) -> Key {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn flip(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// Reads a big-endian u64 at `offset`.
pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(offset..offset + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(raw))
}

/// Reads a sign-flipped i64 at `offset`.
pub fn read_i64(bytes: &[u8], offset: usize) -> Option<i64> {
    read_u64(bytes, offset).map(|v| (v ^ (1 << 63)) as i64)
}

/// The u64 that ends a key (index keys end with the record id).
pub fn trailing_u64(bytes: &[u8]) -> Option<u64> {
    bytes.len().checked_sub(8).and_then(|offset| read_u64(bytes, offset))
}

/// The smallest key greater than every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_value_order() {
        let values = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<Vec<u8>> = values.iter().map(|v| Key::new().i64(*v).into_bytes()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (v, k) in values.iter().zip(&keys) {
            assert_eq!(read_i64(k, 0), Some(*v));
        }
        let a = Key::new().str("ab").u64(9).into_bytes();
        let b = Key::new().str("abc").u64(1).into_bytes();
        assert!(a < b, "the separator keeps a prefix before its extensions");
        assert_eq!(trailing_u64(&a), Some(9));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
    }
}
