//! SHA-256 as lowercase hex: the form of every hash riskloop stores (API keys, request bodies,
//! policy files). `api_key`'s tests check it against a published digest.

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    // Byte by byte into a string of the right size: `hex::encode` goes through a char iterator,
    // which took half as long as the hash itself (with the CPU's SHA instructions) in a
    // profile of the scoring route, where this runs twice per request.
    for &byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}
