//! Approximation tests (being written).
