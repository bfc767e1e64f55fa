//! What the run-time dispatch sees on this processor: the x86-64 features the
//! kernels are compiled for (detected the way the dispatchers detect them)
//! and the target that `multiversion` selects for them.
//!
//! The kernels (`view`, `fit`, `histogram`, `clip`, `mask`, `combine`,
//! `compact`) are compiled for AVX-512, AVX2 + FMA, AVX and the x86-64
//! baseline, and every build gives the same bits: lanes are explicit arrays
//! of one width, products use `f64::mul_add` (one rounding, computed in
//! software where the processor has no FMA) and compaction keeps values in
//! order. This module lets a test prove which of those builds ran.

use multiversion::multiversion;
use multiversion::target::match_target;

/// The features the kernels' targets are made of, in the order reported.
pub const FEATURES: [&str; 6] = ["avx512f", "avx512vl", "avx512dq", "avx2", "fma", "avx"];

/// Whether the processor has `feature` (one of [`FEATURES`]), detected at run
/// time as the dispatchers detect it; `false` off x86-64 and for any other name.
#[must_use]
pub fn has_feature(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            "avx512dq" => std::arch::is_x86_feature_detected!("avx512dq"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

/// Every feature of [`FEATURES`] with whether the processor has it.
#[must_use]
pub fn features() -> Vec<(&'static str, bool)> {
    FEATURES.iter().map(|&f| (f, has_feature(f))).collect()
}

/// A build of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 F, VL and DQ
    Avx512,
    /// AVX2 and FMA
    Avx2Fma,
    /// AVX
    Avx,
    /// the x86-64 baseline (SSE2), or another architecture
    Baseline,
}

impl Kernel {
    /// `"avx512"`, `"avx2+fma"`, `"avx"` or `"baseline"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2Fma => "avx2+fma",
            Kernel::Avx => "avx",
            Kernel::Baseline => "baseline",
        }
    }
}

/// The build of the kernels that runs here, selected by the same
/// `multiversion` dispatch (and list of targets) as the kernels of `fit`,
/// `histogram`, `clip` and `view`.
#[must_use]
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
pub fn kernel_target() -> Kernel {
    match_target! {
        "x86_64+avx512f+avx512vl+avx512dq" => Kernel::Avx512,
        "x86_64+avx2+fma" => Kernel::Avx2Fma,
        "x86_64+avx" => Kernel::Avx,
        _ => Kernel::Baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selected_target_is_the_best_one_the_features_allow() {
        let has = |f: &str| features().iter().any(|&(g, yes)| g == f && yes);
        let expected = if has("avx512f") && has("avx512vl") && has("avx512dq") {
            Kernel::Avx512
        } else if has("avx2") && has("fma") {
            Kernel::Avx2Fma
        } else if has("avx") {
            Kernel::Avx
        } else {
            Kernel::Baseline
        };
        assert_eq!(kernel_target(), expected);
        // under an emulated processor (`qemu-x86_64 -cpu Nehalem`), the
        // build the run must take: a proof that the portable kernels ran
        if let Ok(name) = std::env::var("IUVS_EXPECT_KERNEL") {
            assert_eq!(kernel_target().name(), name, "features: {:?}", features());
        }
    }

    #[test]
    fn features_are_reported_in_order_and_unknown_names_are_absent() {
        let names: Vec<&str> = features().iter().map(|&(f, _)| f).collect();
        assert_eq!(names, FEATURES);
        assert!(!has_feature("sse9"));
        // a processor with AVX2 has AVX (the implication the targets rely on)
        assert!(!has_feature("avx2") || has_feature("avx"));
    }

    #[test]
    fn a_fused_multiply_add_rounds_once_on_every_build() {
        // (1 + 2^-52)^2 - 1 - 2^-51 = 2^-104 exactly, lost by a separate
        // multiply and add: the software fallback must round once too
        let a = 1.0 + f64::EPSILON;
        let c = -(1.0 + 2.0 * f64::EPSILON);
        assert_eq!(a.mul_add(a, c), 2f64.powi(-104));
        assert_eq!(a * a + c, 0.0);
    }
}
