//! Fixed-point encoding of reals into Z_2^64.
//!
//! A real x is stored as the two's-complement integer round(x · 2^f), where f is the tensor's number
//! of fractional bits (16 by default, chosen per protocol variant and per tensor). Encoding rounds to
//! nearest (CrypTen truncates toward zero, which biases every input by up to one ulp); decoding is an
//! exact signed division, so negative values decode correctly (CrypTen's decode is off by one near
//! integer boundaries for negatives). Representable magnitude: |x| < 2^(63−f).

use super::RingTensor;
use crate::error::{Error, Result};

/// Encodes one real at `frac_bits` fractional bits, rounding to nearest (ties away from zero).
/// Values beyond the representable range saturate; NaN encodes as 0.
pub fn encode_value(x: f64, frac_bits: u32) -> u64 {
    let scaled = (x * (1u64 << frac_bits) as f64).round();
    // `as i64` saturates at the i64 range and maps NaN to 0, which is the documented behaviour.
    (scaled as i64) as u64
}

/// Decodes one ring element holding a value at `frac_bits` fractional bits.
pub fn decode_value(v: u64, frac_bits: u32) -> f64 {
    (v as i64) as f64 / (1u64 << frac_bits) as f64
}

/// Encodes a slice of reals into a ring tensor of the given shape.
pub fn encode(values: &[f64], shape: &[usize], frac_bits: u32) -> Result<RingTensor> {
    if frac_bits > 62 {
        return Err(Error::invalid(
            "precision_bits",
            format!("{frac_bits} fractional bits do not fit a 64-bit ring"),
        ));
    }
    RingTensor::from_vec(shape, values.iter().map(|&x| encode_value(x, frac_bits)).collect())
}

/// Decodes a ring tensor into reals.
pub fn decode(t: &RingTensor, frac_bits: u32) -> Vec<f64> {
    t.data().iter().map(|&v| decode_value(v, frac_bits)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_within_half_an_ulp() {
        let ulp = 1.0 / 65536.0;
        for &x in &[
            0.0,
            1.0,
            -1.0,
            0.3,
            -0.3,
            -1000.99,
            1000.99,
            12345.678,
            -0.5 * ulp,
            1e-9,
        ] {
            let y = decode_value(encode_value(x, 16), 16);
            assert!((x - y).abs() <= 0.5 * ulp + 1e-12, "{x} -> {y}");
        }
    }

    #[test]
    fn negative_values_decode_exactly() {
        // CrypTen decodes -1000.99 as -1001.99; exact signed division must not.
        let v = encode_value(-1000.99, 16);
        assert!((decode_value(v, 16) + 1000.99).abs() < 1e-4);
        assert_eq!(decode_value((-65536i64) as u64, 16), -1.0);
        assert_eq!(decode_value(u64::MAX, 16), -1.0 / 65536.0);
    }

    #[test]
    fn rounds_to_nearest() {
        assert_eq!(encode_value(0.75 / 65536.0, 16), 1);
        assert_eq!(encode_value(-0.75 / 65536.0, 16), u64::MAX);
        assert_eq!(encode_value(0.25 / 65536.0, 16), 0);
    }

    #[test]
    fn per_tensor_precision_and_errors() {
        let t = encode(&[1.5, -2.25], &[2], 8).unwrap();
        assert_eq!(t.data(), &[384, (-576i64) as u64]);
        assert_eq!(decode(&t, 8), vec![1.5, -2.25]);
        assert!(encode(&[1.0], &[2], 16).is_err());
        assert!(encode(&[1.0], &[1], 63).is_err());
    }
}
