//! SHA-256 digests written as lowercase hex: the hashes of inputs, models,
//! mappings and output files in the manifest, and derived event ids.

use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, SyncSender};

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

/// The SHA-256 (hex) of a file, being computed on a thread of its own.
pub type PendingHash = std::thread::JoinHandle<crate::Result<String>>;

/// Bytes handed to the hashing thread at a time.
const TEE_BYTES: usize = 1 << 20;

/// A writer whose bytes are also hashed, on a thread of their own, as they are
/// written: a file's hash is ready when the file is, without reading it back.
/// The hash covers what was written in order, so the writer must not seek.
pub struct HashedWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    /// `None` once the bytes are all handed over (or for an unhashed writer).
    tee: Option<SyncSender<Vec<u8>>>,
}

impl<W: Write> HashedWriter<W> {
    /// `inner`, not hashed.
    pub fn plain(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            tee: None,
        }
    }

    /// `inner`, hashed: the hash is the pending thread's result once this
    /// writer is dropped (after its last write).
    pub fn hashed(inner: W) -> std::io::Result<(Self, PendingHash)> {
        // A few pieces in flight: the writer does not wait for the hash
        // unless the hash falls that far behind.
        let (sender, receiver) = sync_channel::<Vec<u8>>(4);
        let hashing = std::thread::Builder::new()
            .name("eventfold-hash".into())
            .spawn(move || {
                let mut hasher = Sha256::new();
                for piece in receiver {
                    hasher.update(&piece);
                }
                Ok(hex(&hasher.finalize()))
            })?;
        let writer = Self {
            inner,
            pending: Vec::with_capacity(TEE_BYTES),
            tee: Some(sender),
        };
        Ok((writer, hashing))
    }

    /// Hands the bytes written so far to the hashing thread.
    fn hand_over(&mut self) {
        if let Some(tee) = &self.tee {
            let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(TEE_BYTES));
            // The thread only stops when this side does.
            let _ = tee.send(piece);
        }
    }
}

impl<W: Write> Write for HashedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        if self.tee.is_some() {
            self.pending.extend_from_slice(&buf[..written]);
            if self.pending.len() >= TEE_BYTES {
                self.hand_over();
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for HashedWriter<W> {
    fn drop(&mut self) {
        self.hand_over();
        self.tee = None;
    }
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

    #[test]
    fn a_hashed_writer_hashes_what_it_wrote() {
        use std::io::Write;
        let bytes: Vec<u8> = (0..(1u32 << 20) * 3 + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        let (mut writer, pending) = super::HashedWriter::hashed(Vec::new()).unwrap();
        // Pieces of every size, some across the hand-over size.
        for piece in bytes.chunks(300_007) {
            writer.write_all(piece).unwrap();
        }
        let written = std::mem::take(&mut writer.inner);
        drop(writer);
        assert_eq!(written, bytes);
        assert_eq!(pending.join().unwrap().unwrap(), super::sha256_hex(&bytes));
    }
}
