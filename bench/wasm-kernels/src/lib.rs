//! The WASM side of `bench_kernels`: the same weight matrices (fixture rows tiled to `cols`
//! columns), activations and calls (`quant::matvec_par` / `matmul_par` on a 1-thread pool), so
//! its numbers sit next to the native example's single-thread column. Plain `extern "C"`
//! exports; bench/kernels.mjs passes the fixture's bytes and the example's sizes (from its
//! JSON) in, and times each call.

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::quant::{self, QuantizedActs};
use llmplayer_core::GgmlType;
use std::cell::RefCell;

struct Bench {
    ty: GgmlType,
    cols: usize,
    rows: usize,
    matmul_rows: usize,
    w: Vec<u8>,
    x: Vec<f32>,
    xb: Vec<f32>,
    y: Vec<f32>,
    yb: Vec<f32>,
    acts: QuantizedActs,
    pool: ThreadPool,
}

thread_local! {
    static BENCH: RefCell<Option<Bench>> = const { RefCell::new(None) };
    static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

fn xorshift_floats(n: usize, mut s: u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Scratch for the host to write into (a type name, a fixture file).
#[no_mangle]
pub extern "C" fn alloc(n: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(n);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[no_mangle]
pub unsafe extern "C" fn dealloc(p: *mut u8, n: usize) {
    drop(Vec::from_raw_parts(p, 0, n));
}

/// Sets up type `name` from the fixture `quant-<type>.gguf` (tensor `w`, 16 rows of 1024):
/// a ~`matvec_bytes` matrix of `cols` columns (cols a multiple of 1024), and a `batch`-column
/// activation for mat-mat on its first `matmul_rows` rows. Returns the mat-vec weight bytes, or
/// 0 on a bad type, fixture or size.
#[no_mangle]
pub unsafe extern "C" fn setup(
    name: *const u8,
    name_len: usize,
    gguf: *const u8,
    gguf_len: usize,
    cols: usize,
    matvec_bytes: usize,
    matmul_rows: usize,
    batch: usize,
) -> usize {
    let name = std::str::from_utf8(std::slice::from_raw_parts(name, name_len)).unwrap_or("");
    let Some(ty) = GgmlType::from_name(name) else { return 0 };
    let bytes = std::slice::from_raw_parts(gguf, gguf_len);
    let Ok(f) = GgufFile::parse(bytes) else { return 0 };
    let Some(info) = f.tensor("w") else { return 0 };
    let src = f.tensor_data(info);
    if cols == 0 || cols % 1024 != 0 {
        return 0;
    }
    let src_rb = quant::row_bytes(ty, 1024);
    let rb = quant::row_bytes(ty, cols);
    let rows = (matvec_bytes / rb).max(64).max(matmul_rows);
    let mut w = Vec::with_capacity(rows * rb);
    for i in 0..rows * cols / 1024 {
        let r = (i * 7) % 16;
        w.extend_from_slice(&src[r * src_rb..(r + 1) * src_rb]);
    }
    let n = w.len();
    BENCH.with(|b| {
        *b.borrow_mut() = None; // free the previous type's matrix first
        *b.borrow_mut() = Some(Bench {
            ty,
            cols,
            rows,
            matmul_rows,
            w,
            x: xorshift_floats(cols, 1),
            xb: xorshift_floats(batch * cols, 2),
            y: vec![0.0; rows],
            yb: vec![0.0; batch * matmul_rows],
            acts: QuantizedActs::new(),
            pool: ThreadPool::new(1),
        })
    });
    n
}

/// The kernel `vec_dot` runs for the current type (`simd128`, `scalar`), as UTF-8 at
/// `text_ptr()`; returns its length.
#[no_mangle]
pub extern "C" fn kernel_name() -> usize {
    let name = BENCH.with(|b| b.borrow().as_ref().and_then(|b| quant::traits(b.ty)).map_or("?", |t| t.vec_dot_backend.name()));
    TEXT.with(|t| {
        *t.borrow_mut() = name.to_string();
        name.len()
    })
}

#[no_mangle]
pub extern "C" fn text_ptr() -> *const u8 {
    TEXT.with(|t| t.borrow().as_ptr())
}

/// One mat-vec over the whole matrix; returns y[0] so nothing is elided.
#[no_mangle]
pub extern "C" fn matvec() -> f32 {
    BENCH.with(|b| {
        let mut b = b.borrow_mut();
        let b = b.as_mut().expect("setup first");
        quant::matvec_par(&b.pool, &b.w, b.ty, b.rows, b.cols, &b.x, &mut b.y, &mut b.acts);
        b.y[0]
    })
}

/// One `matmul_rows` x `cols` by `cols` x `batch` mat-mat; returns one output.
#[no_mangle]
pub extern "C" fn matmul() -> f32 {
    BENCH.with(|b| {
        let mut b = b.borrow_mut();
        let b = b.as_mut().expect("setup first");
        let wm = &b.w[..b.matmul_rows * quant::row_bytes(b.ty, b.cols)];
        quant::matmul_par(&b.pool, wm, b.ty, b.matmul_rows, b.cols, &b.xb, &mut b.yb, &mut b.acts);
        b.yb[0]
    })
}
