//! The IDX format of MNIST and Fashion-MNIST (LeCun's `ubyte` files), optionally gzipped.
//!
//! Layout: a big-endian magic word `0x0000TTRR` (TT the element type, RR the rank), RR big-endian
//! u32 dimensions, then the elements in C order. Only unsigned bytes (TT = 0x08) are read: that is
//! what the image and label files hold.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads the IDX file at `path` (gzipped when the name ends in `.gz`) and checks that it has
/// `rank` dimensions.
pub fn read_idx(path: &Path, rank: usize) -> Result<IdxArray> {
    let file = path.display().to_string();
    let io = |source| Error::Io {
        path: file.clone(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::invalid(&file, format!("not a valid gzip file: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, rank).map_err(|detail| Error::invalid(file, detail))
}

/// Parses IDX bytes; the error is the detail of a one-line message.
pub fn parse_idx(bytes: &[u8], rank: usize) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err("too short for an IDX header".into());
    }
    let (zero, ty, r) = (u16::from_be_bytes([bytes[0], bytes[1]]), bytes[2], bytes[3] as usize);
    if zero != 0 {
        return Err(format!(
            "bad IDX magic {:02x}{:02x}{:02x}{:02x} (want 0000 08 {rank:02x})",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if ty != 0x08 {
        return Err(format!("IDX element type 0x{ty:02x} is not unsigned bytes (0x08)"));
    }
    if r != rank {
        return Err(format!("IDX array has rank {r}, expected {rank}"));
    }
    let header = 4 + 4 * r;
    if bytes.len() < header {
        return Err("truncated IDX header".into());
    }
    let shape: Vec<usize> = (0..r)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("IDX shape {shape:?} is too large"))?;
    let body = &bytes[header..];
    if body.len() != n {
        return Err(format!(
            "IDX shape {shape:?} needs {n} bytes of data, the file has {}",
            body.len()
        ));
    }
    Ok(IdxArray {
        shape,
        data: body.to_vec(),
    })
}

/// IDX bytes for `shape` and `data` (for tests and fixtures).
pub fn encode_idx(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, shape.len() as u8];
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let bytes = encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&bytes, 2).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        assert!(parse_idx(&bytes, 1).unwrap_err().contains("rank 2"));
        assert!(
            parse_idx(&bytes[..bytes.len() - 1], 2)
                .unwrap_err()
                .contains("needs 6 bytes")
        );
        let mut bad = bytes.clone();
        bad[2] = 0x0d;
        assert!(parse_idx(&bad, 2).unwrap_err().contains("element type"));
        bad[0] = 1;
        assert!(parse_idx(&bad, 2).unwrap_err().contains("magic"));
        assert!(parse_idx(&[0, 0], 1).is_err());
    }
}
