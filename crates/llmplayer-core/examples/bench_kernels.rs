//! Kernel benchmark: mat-vec throughput (GB/s of weight bytes, the decode bound) and mat-mat
//! GFLOP/s at batch 64 (prefill), for every quant type, with 1 and 2 threads, next to this
//! machine's measured memory read bandwidth.
//!
//! ```sh
//! cargo run --release -p llmplayer-core --example bench_kernels [-- --quick] [-- TYPE ...]
//! ```
//!
//! Weights are the real ggml-quantized rows of `shared/fixtures/quants/quant-*.gguf`, tiled
//! into a ~256 MiB matrix with 4096 columns (64 MiB still partly fits this VM's caches). Writes
//! `bench/results/kernels-native.json`, or `kernels-native-avx2.json` with `LLMPLAYER_X86=avx2`
//! (the AVX2 kernels on a CPU that also has AVX-512 VNNI).

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::quant::{self, QuantizedActs};
use llmplayer_core::GgmlType;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const COLS: usize = 4096;
const MATVEC_BYTES: usize = 256 << 20;
const MATMUL_ROWS: usize = 1024;
const BATCH: usize = 64;

/// Best time of `f` over repetitions lasting at least `budget` (at least 3, at most 50).
fn best_time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm up (page faults, caches)
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut reps = 0;
    while reps < 3 || (start.elapsed() < budget && reps < 50) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    best
}

/// Read bandwidth in GB/s: sum of a buffer as large as the mat-vec weights, split over the
/// pool's threads exactly as the kernels are (best of the budget).
fn read_bandwidth(pool: &ThreadPool, budget: Duration) -> f64 {
    let buf: Vec<u64> = (0..MATVEC_BYTES / 8).map(|i| i as u64).collect();
    let chunks = 4 * pool.n_threads();
    let chunk = buf.len().div_ceil(chunks);
    let secs = best_time(budget, || {
        pool.run(chunks, |c| {
            let part = &buf[(c * chunk).min(buf.len())..((c + 1) * chunk).min(buf.len())];
            // 8 independent lanes so the adds are not the bottleneck.
            let mut acc = [0u64; 8];
            for v in part.chunks_exact(8) {
                for l in 0..8 {
                    acc[l] = acc[l].wrapping_add(v[l]);
                }
            }
            black_box(acc);
        });
    });
    (buf.len() * 8) as f64 / secs / 1e9
}

fn fixtures_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(p) => manifest.join(p).join("quants"),
        None => manifest.join("../../../shared/fixtures/quants"),
    }
}

/// `rows` rows of COLS elements, tiled from the fixture's 16 quantized rows of 1024.
fn weight_matrix(ty: GgmlType, rows: usize) -> Vec<u8> {
    let path = fixtures_dir().join(format!("quant-{}.gguf", ty.name().to_lowercase()));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f = GgufFile::parse(&bytes).unwrap();
    let w = f.tensor_data(f.tensor("w").unwrap());
    let src_rb = quant::row_bytes(ty, 1024);
    let mut out = Vec::with_capacity(rows * quant::row_bytes(ty, COLS));
    for i in 0..rows * COLS / 1024 {
        let r = (i * 7) % 16;
        out.extend_from_slice(&w[r * src_rb..(r + 1) * src_rb]);
    }
    out
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

struct Row {
    ty: GgmlType,
    backend: &'static str,
    mm_kernel: &'static str,
    bytes_per_weight: f64,
    matvec_gbs: [f64; 2],
    matmul_gflops: [f64; 2],
}

fn bench_type(ty: GgmlType, pools: &[ThreadPool; 2], budget: Duration) -> Row {
    let t = quant::traits(ty).unwrap();
    let rb = quant::row_bytes(ty, COLS);
    let rows = (MATVEC_BYTES / rb).max(64);
    let w = weight_matrix(ty, rows);
    let x = xorshift_floats(COLS, 1);
    let mut acts = QuantizedActs::new();
    let mut y = vec![0.0f32; rows];

    let mut matvec_gbs = [0.0; 2];
    for (k, pool) in pools.iter().enumerate() {
        let secs = best_time(budget, || {
            quant::matvec_par(pool, &w, ty, rows, COLS, &x, &mut y, &mut acts);
            black_box(&y);
        });
        matvec_gbs[k] = w.len() as f64 / secs / 1e9;
    }

    let wm = &w[..MATMUL_ROWS * rb];
    let xb = xorshift_floats(BATCH * COLS, 2);
    let mut yb = vec![0.0f32; BATCH * MATMUL_ROWS];
    let mut matmul_gflops = [0.0; 2];
    for (k, pool) in pools.iter().enumerate() {
        let secs = best_time(budget, || {
            quant::matmul_par(pool, wm, ty, MATMUL_ROWS, COLS, &xb, &mut yb, &mut acts);
            black_box(&yb);
        });
        matmul_gflops[k] = 2.0 * (MATMUL_ROWS * COLS * BATCH) as f64 / secs / 1e9;
    }
    Row {
        ty,
        backend: t.vec_dot_isa.name(),
        mm_kernel: t.mat_mat_kernel(),
        bytes_per_weight: rb as f64 / COLS as f64,
        matvec_gbs,
        matmul_gflops,
    }
}

const TYPES: [GgmlType; 28] = {
    use GgmlType::*;
    [
        F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ3_XXS,
        IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M, TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0,
    ]
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let picked: Vec<GgmlType> = args.iter().filter_map(|a| GgmlType::from_name(a)).collect();
    let types: Vec<GgmlType> = if picked.is_empty() { TYPES.to_vec() } else { picked };
    let budget = Duration::from_millis(if quick { 150 } else { 700 });
    let t0 = Instant::now();

    let pools = [ThreadPool::new(1), ThreadPool::new(2)];
    // Other processes share this machine: take the best bandwidth seen before and after.
    let mut bw = [read_bandwidth(&pools[0], budget), read_bandwidth(&pools[1], budget)];
    println!("backend: {}   memory read bandwidth: 1 thread {:.1} GB/s, 2 threads {:.1} GB/s", quant::isa().name(), bw[0], bw[1]);
    println!("mat-vec: {COLS} cols, ~{} MiB of weights; mat-mat: {MATMUL_ROWS}x{COLS} weights x batch {BATCH}", MATVEC_BYTES >> 20);
    println!();
    println!("{:<8} {:>7} {:>6} | {:>9} {:>9} {:>7} | {:>6} {:>10} {:>10}", "type", "kernel", "B/w", "mv 1T", "mv 2T", "%bw 2T", "mm by", "mm 1T", "mm 2T");
    println!("{:<8} {:>7} {:>6} | {:>9} {:>9} {:>7} | {:>6} {:>10} {:>10}", "", "", "", "GB/s", "GB/s", "", "", "GFLOP/s", "GFLOP/s");
    let mut rows = Vec::new();
    for ty in types {
        let r = bench_type(ty, &pools, budget);
        println!(
            "{:<8} {:>7} {:>6.3} | {:>9.2} {:>9.2} {:>6.0}% | {:>6} {:>10.2} {:>10.2}",
            r.ty.name(),
            r.backend,
            r.bytes_per_weight,
            r.matvec_gbs[0],
            r.matvec_gbs[1],
            100.0 * r.matvec_gbs[1] / bw[1],
            r.mm_kernel,
            r.matmul_gflops[0],
            r.matmul_gflops[1]
        );
        rows.push(r);
    }
    let after = [read_bandwidth(&pools[0], budget), read_bandwidth(&pools[1], budget)];
    bw = [bw[0].max(after[0]), bw[1].max(after[1])];
    println!("\nbandwidth re-measured after the run: 1 thread {:.1} GB/s, 2 threads {:.1} GB/s (JSON uses the best)", after[0], after[1]);
    for r in rows.iter().filter(|r| matches!(r.ty, GgmlType::Q4_K | GgmlType::Q6_K | GgmlType::Q8_0 | GgmlType::IQ4_XS)) {
        println!(
            "goal check {:<7} mat-vec 2T {:>5.1} GB/s = {:>3.0}% of {:.1} GB/s (1T {:>3.0}% of {:.1})",
            r.ty.name(),
            r.matvec_gbs[1],
            100.0 * r.matvec_gbs[1] / bw[1],
            bw[1],
            100.0 * r.matvec_gbs[0] / bw[0],
            bw[0]
        );
    }
    println!("total {:.1} s", t0.elapsed().as_secs_f64());

    let mut json = String::from("{\n");
    json += &format!("  \"backend\": \"{}\",\n", quant::isa().name());
    json += &format!("  \"threads_available\": {},\n", std::thread::available_parallelism().map_or(1, |n| n.get()));
    json += &format!("  \"read_bandwidth_gbs\": {{ \"1\": {:.2}, \"2\": {:.2} }},\n", bw[0], bw[1]);
    json += &format!("  \"matvec\": {{ \"cols\": {COLS}, \"weight_bytes_target\": {MATVEC_BYTES} }},\n");
    json += &format!("  \"matmul\": {{ \"rows\": {MATMUL_ROWS}, \"cols\": {COLS}, \"batch\": {BATCH} }},\n");
    json += "  \"types\": [\n";
    for (i, r) in rows.iter().enumerate() {
        json += &format!(
            "    {{ \"type\": \"{}\", \"kernel\": \"{}\", \"mat_mat_kernel\": \"{}\", \"bytes_per_weight\": {:.4}, \"matvec_gbs\": {{ \"1\": {:.2}, \"2\": {:.2} }}, \"matvec_frac_of_bw_2t\": {:.3}, \"matmul_gflops\": {{ \"1\": {:.2}, \"2\": {:.2} }} }}{}\n",
            r.ty.name(),
            r.backend,
            r.mm_kernel,
            r.bytes_per_weight,
            r.matvec_gbs[0],
            r.matvec_gbs[1],
            r.matvec_gbs[1] / bw[1],
            r.matmul_gflops[0],
            r.matmul_gflops[1],
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    json += "  ]\n}\n";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    let avx2_only = std::env::var_os("LLMPLAYER_X86").is_some_and(|v| v == "avx2");
    let path = dir.join(if avx2_only { "kernels-native-avx2.json" } else { "kernels-native.json" });
    std::fs::write(&path, json).unwrap();
    println!("wrote {}", path.display());
}
