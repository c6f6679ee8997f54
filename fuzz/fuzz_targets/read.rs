//! The guarded reader on arbitrary bytes: whatever a file holds, `read_bytes` returns (a
//! workbook or an error): never an abort, a hang or unbounded memory. Seed the corpus with real workbooks
//! (`samples/`) so the fuzzer reaches the guard's re-packing and calamine's parsers:
//!
//!     mkdir -p corpus/read && cp --backup=numbered ../samples/*/*.xls* ../samples/variants/*/* corpus/read/
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run -O read -- -max_total_time=600 -rss_limit_mb=3000
#![no_main]

use jixiao::read::{read_bytes, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `read_bytes` catches calamine's panics by design (a corrupt .xls makes calamine 0.38
    // assert in its CFB reader): libFuzzer's hook would abort on them even so. What must not
    // happen is an abort, a hang or unbounded memory, which still end the run.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = read_bytes(data.to_vec(), &Limits::default());
});
