//! The benchmark floor: open every workbook under DIR with calamine and read every cell of
//! every sheet — nothing else. `jixiao`'s ingest is measured against this.
//!
//!     cargo run --release --bin floor -- DIR [--jobs N]

use std::time::Instant;

use calamine::{open_workbook_auto, Reader, Sheets};
use rayon::prelude::*;

// mimalloc: glibc malloc fragmented under two threads of many small, short-lived cells (RSS far
// above what was live) and was a tenth of the CPU time. Set in the binaries (the `bench` binary
// gets it through its `floor` module, so floor and ingest are measured with the same allocator),
// not in the library: tests and fuzz targets keep the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Open every file and count its non-empty cells (0 for files calamine cannot open).
pub fn read_all(files: &[std::path::PathBuf]) -> usize {
    files
        .par_iter()
        .map(|f| {
            let Ok(mut wb) = open_workbook_auto(f) else {
                return 0;
            };
            count_cells(&mut wb)
        })
        .sum()
}

/// Read every cell of every sheet of an opened workbook; the count of non-empty ones.
pub fn count_cells<RS: std::io::Read + std::io::Seek>(wb: &mut Sheets<RS>) -> usize {
    let mut cells = 0;
    for name in wb.sheet_names() {
        if let Ok(r) = wb.worksheet_range(&name) {
            cells += r.used_cells().count();
        }
    }
    cells
}

fn main() {
    // As in `jixiao` itself: the floor and the ingest run under the same memory settings.
    jixiao::run::disable_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: floor DIR [--jobs N]");
        std::process::exit(1);
    };
    if let Some(n) = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
    {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let files = jixiao::synth::files_under(std::path::Path::new(dir));
    let t = Instant::now();
    let cells = read_all(&files);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "floor: {} files, {} cells in {:.2} s ({:.0} files/s){}",
        files.len(),
        cells,
        secs,
        files.len() as f64 / secs,
        jixiao::run::peak_note()
    );
}
