//! `cargo +nightly fuzz run fitsread`: any bytes into the FITS header scan and
//! the gzip inflation.  Every call must return `Ok` or a `CoreError` (a panic
//! is a bug), and every HDU the scan accepts must lie within the bytes.
#![no_main]

use _core::fitsread::{inflate_gzip, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((hdus, trailing)) = scan(data) {
        for h in &hdus {
            assert!(h.data_start + h.data_size <= data.len() && h.end <= data.len());
        }
        assert!(trailing <= data.len());
    }
    if let Ok(out) = inflate_gzip(data) {
        assert!(out.len() <= data.len().saturating_mul(1032).max(1 << 16));
    }
});
