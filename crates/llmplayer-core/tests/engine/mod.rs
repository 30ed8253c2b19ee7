//! Shared by the engine tests (`models`, `kv_cache`): the fixture root and a per-thread
//! allocation counter (installed as the binary's global allocator) for the "decoding
//! allocates nothing" checks. Each binary uses part of it.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// Counts allocations per thread.
pub struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

pub fn allocs_on_this_thread() -> usize {
    ALLOCS.with(|c| c.get())
}

/// `$LLMPLAYER_FIXTURES`, else `<repo>/../shared/fixtures`; `None` (skip) when missing,
/// a panic under `CI=true`.
pub fn fixtures_root() -> Option<PathBuf> {
    let root = match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(r) => PathBuf::from(r),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if root.join("models").is_dir() {
        return Some(root);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("model fixtures not found at {}", root.display());
    }
    eprintln!("skipping: model fixtures not found at {} (set LLMPLAYER_FIXTURES)", root.display());
    None
}

/// Every `.gguf` in every `models*/` folder under the fixture root (`models`,
/// `models-seed4321`, …), sorted; found by listing, so new seeds and head shapes join without
/// a code change.
pub fn model_files(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("models")))
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "gguf")).collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// Lowest index of the maximum (llama.cpp's greedy tie rule).
pub fn argmax(l: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in l.iter().enumerate() {
        if v > l[best] {
            best = i;
        }
    }
    best as u32
}
