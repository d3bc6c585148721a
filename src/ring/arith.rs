//! Elementwise arithmetic and bit operations on ring tensors (all wrapping modulo 2^64).

use super::RingTensor;
use crate::error::Result;

impl RingTensor {
    /// Elementwise sum.
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.zip(other, "add", u64::wrapping_add)
    }

    /// Elementwise difference.
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.zip(other, "sub", u64::wrapping_sub)
    }

    /// Elementwise product.
    pub fn mul(&self, other: &Self) -> Result<Self> {
        self.zip(other, "mul", u64::wrapping_mul)
    }

    /// `self += other`.
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_inplace(other, "add", u64::wrapping_add)
    }

    /// `self -= other`.
    pub fn sub_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_inplace(other, "sub", u64::wrapping_sub)
    }

    /// Additive inverse.
    pub fn neg(&self) -> Self {
        self.map(u64::wrapping_neg)
    }

    /// Adds a constant to every element.
    pub fn add_scalar(&self, c: u64) -> Self {
        self.map(move |x| x.wrapping_add(c))
    }

    /// Multiplies every element by a constant.
    pub fn mul_scalar(&self, c: u64) -> Self {
        self.map(move |x| x.wrapping_mul(c))
    }

    /// Arithmetic (sign-extending) right shift of the two's-complement value.
    pub fn shr_arith(&self, bits: u32) -> Self {
        self.map(move |x| ((x as i64) >> bits) as u64)
    }

    /// Logical right shift.
    pub fn shr_logical(&self, bits: u32) -> Self {
        self.map(move |x| x >> bits)
    }

    /// Left shift (multiplication by 2^bits).
    pub fn shl(&self, bits: u32) -> Self {
        self.map(move |x| x << bits)
    }

    /// Bitwise XOR.
    pub fn xor(&self, other: &Self) -> Result<Self> {
        self.zip(other, "xor", |a, b| a ^ b)
    }

    /// Bitwise AND.
    pub fn and(&self, other: &Self) -> Result<Self> {
        self.zip(other, "and", |a, b| a & b)
    }

    /// Bitwise OR.
    pub fn or(&self, other: &Self) -> Result<Self> {
        self.zip(other, "or", |a, b| a | b)
    }

    /// Bitwise NOT.
    pub fn not(&self) -> Self {
        self.map(|x| !x)
    }

    /// `self ^= other`.
    pub fn xor_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_inplace(other, "xor", |a, b| a ^ b)
    }

    /// Bitwise AND with a constant mask.
    pub fn and_scalar(&self, mask: u64) -> Self {
        self.map(move |x| x & mask)
    }

    /// Bitwise XOR with a constant.
    pub fn xor_scalar(&self, c: u64) -> Self {
        self.map(move |x| x ^ c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_and_shifts() {
        let a = RingTensor::from_vec(&[3], vec![u64::MAX, 5, 1 << 63]).unwrap();
        let b = RingTensor::from_vec(&[3], vec![1, 7, 1 << 63]).unwrap();
        assert_eq!(a.add(&b).unwrap().data(), &[0, 12, 0]);
        assert_eq!(a.sub(&b).unwrap().data(), &[u64::MAX - 1, u64::MAX - 1, 0]);
        assert_eq!(a.mul(&b).unwrap().data(), &[u64::MAX, 35, 0]);
        assert_eq!(a.neg().data(), &[1, 5u64.wrapping_neg(), 1 << 63]);
        // -1 >> 1 stays -1 arithmetically; logically it becomes 2^63 - 1.
        assert_eq!(a.shr_arith(1).data()[0], u64::MAX);
        assert_eq!(a.shr_logical(1).data()[0], u64::MAX >> 1);
        assert_eq!(a.shr_arith(62).data()[2], (-2i64) as u64);
        assert_eq!(a.shl(1).data(), &[u64::MAX - 1, 10, 0]);
        assert_eq!(a.xor(&b).unwrap().data(), &[u64::MAX - 1, 2, 0]);
        assert_eq!(a.and(&b).unwrap().data(), &[1, 5, 1 << 63]);
        assert_eq!(a.or(&b).unwrap().data(), &[u64::MAX, 7, 1 << 63]);
        assert_eq!(a.not().data()[1], !5u64);
        assert!(a.add(&RingTensor::zeros(&[2])).is_err());
    }

    #[test]
    fn large_tensors_take_the_parallel_path() {
        let n = super::super::PAR_THRESHOLD * 2 + 3;
        let a = RingTensor::from_vec(&[n], (0..n as u64).collect()).unwrap();
        let s = a.add(&a).unwrap();
        assert!(s.data().iter().enumerate().all(|(i, &v)| v == 2 * i as u64));
        let mut t = a.clone();
        t.sub_assign(&a).unwrap();
        assert!(t.data().iter().all(|&v| v == 0));
    }
}
