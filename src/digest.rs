//! SHA-256 digests written as lowercase hex: the hashes of inputs, models,
//! mappings and output files in the manifest, and derived event ids.

use std::io::Read;

use sha2::{Digest, Sha256};

/// `bytes` as lowercase hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of everything `reader` yields, in hex, read in 1 MiB pieces so
/// that hashing a file of any size holds 1 MiB.
pub fn sha256_hex_of(reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(
        &mut std::io::BufReader::with_capacity(1 << 20, reader),
        &mut hasher,
    )?;
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let long = vec![7u8; (1 << 20) * 2 + 3];
        assert_eq!(
            super::sha256_hex_of(long.as_slice()).ok(),
            Some(super::sha256_hex(&long))
        );
    }
}
