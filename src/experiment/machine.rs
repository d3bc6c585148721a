//! What machine a number was measured on: every runs.csv row and every plot states it, because
//! the same run differs several-fold between an AVX-512 server and an AVX2 laptop, and between
//! two cores to itself and two cores shared with a compiler.

use crate::ring::matmul::best_kernel;

/// `"<CPU model>, <matmul kernel>, <n> threads"`, e.g. `AMD EPYC, avx512, 2 threads`. The thread
/// count is what this process may use (its CPU affinity), not what the machine has.
pub fn describe() -> String {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{}, {}, {threads} threads", cpu_model(), best_kernel().name())
}

/// The CPU model from /proc/cpuinfo (`unknown CPU` elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown CPU".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_cpu_kernel_and_threads() {
        let d = super::describe();
        assert!(d.ends_with("threads"), "{d}");
        assert_eq!(d.split(", ").count(), 3, "{d}");
    }
}
