//! How the store keeps a JSON document (a summary, a verdict, a remote run record): gzip, as
//! one member, decoded by its magic bytes.
//!
//! A coarsened summary of a 5-minute run is about 57 KB of JSON and 9.5 KB compressed; a year
//! of runs is the difference between several GB and under one (`bench/one-year.sh`). Stores
//! written before compression hold plain JSON; both read alike, because JSON never starts
//! with gzip's magic bytes (`1f 8b`).

use std::borrow::Cow;
use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::value::RawValue;

/// gzip's first two bytes (RFC 1952, 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `json` gzip-compressed at the default level (6: within a few per cent of the best ratio on
/// summaries, at several times the speed of level 9).
/// (Into memory: it does not fail in practice, and an error is passed on rather than assumed
/// away.)
pub(super) fn compress(json: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    enc.write_all(json)?;
    enc.finish()
}

/// The bytes the store takes for `json` (what [`Prune::replace_summary`] will report for it,
/// and what a dry run counts).
///
/// [`Prune::replace_summary`]: super::Prune::replace_summary
pub fn stored_bytes(json: &RawValue) -> io::Result<u64> {
    Ok(compress(json.get().as_bytes())?.len() as u64)
}

/// The document in `bytes`: decompressed when it is gzip, as it is otherwise.
pub(super) fn decompress(bytes: &[u8]) -> io::Result<Cow<'_, [u8]>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len() * 6);
    GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(Cow::Owned(out))
}

/// The JSON document in `bytes` (either form), checked to be JSON.
pub(super) fn read_json(bytes: &[u8]) -> Result<Box<RawValue>, DocumentError> {
    let plain = decompress(bytes).map_err(DocumentError::Gzip)?;
    let text = String::from_utf8(plain.into_owned()).map_err(|e| DocumentError::Utf8(e.utf8_error()))?;
    RawValue::from_string(text).map_err(DocumentError::Json)
}

/// Why a stored document cannot be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum DocumentError {
    #[error("a damaged gzip document: {0}")]
    Gzip(#[source] io::Error),
    #[error("a document that is not UTF-8: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    #[error("a document that is not JSON: {0}")]
    Json(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_read_alike() {
        let json = br#"{"phases":[{"name":"steady","p95_ms":212.5}],"note":"\u00e9"}"#;
        let packed = compress(json).unwrap();
        assert!(packed.starts_with(&GZIP_MAGIC));
        assert_eq!(read_json(&packed).unwrap().get().as_bytes(), json);
        assert_eq!(read_json(json).unwrap().get().as_bytes(), json);
    }

    #[test]
    fn compresses_a_repetitive_document() {
        let json = serde_json::to_vec(&vec![serde_json::json!({ "p95_ms": 212.5, "count": 1200 }); 500]).unwrap();
        assert!(compress(&json).unwrap().len() * 10 < json.len());
    }

    #[test]
    fn damage_is_an_error_not_a_document() {
        let mut packed = compress(br#"{"a":1}"#).unwrap();
        let n = packed.len();
        packed.truncate(n - 6);
        assert!(matches!(read_json(&packed), Err(DocumentError::Gzip(_))));
        assert!(matches!(read_json(b"{not json"), Err(DocumentError::Json(_))));
    }
}
