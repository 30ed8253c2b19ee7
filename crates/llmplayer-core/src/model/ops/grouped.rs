//! Two-pass attention of a batch over an f32 cache, several query rows at a time: the rows
//! of one KV head (its query heads, then the next tokens) walk the keys and the value rows
//! in short chunks together, so a chunk is read from memory once per group rather than once
//! per query (at a 4096-token prompt a head's keys are megabytes: per-query streaming made
//! attention three quarters of prefill). Every product is `head_f32`'s, in its order, so the
//! results are the same bits.

use super::attention::{AttnDims, Shared};
use super::f32dot::{self, Order};
use crate::parallel::ThreadPool;

/// Bytes of keys per chunk of the score pass (a chunk stays in L1 while the group's rows
/// score it: 64 keys of 64 dimensions, 16 of 256), and value rows per chunk of the output
/// pass.
const KEY_CHUNK_BYTES: usize = 16 << 10;
const VALUE_CHUNK: usize = 8;

/// The batched f32 two-pass attention of `attention::attention` (same arguments; `k`, `v_t`
/// the f32 cache as `KvView::F32`), with `rows` query rows per task's group and `scores`
/// (n_tasks * rows, slot) score rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn attention_f32(
    pool: &ThreadPool,
    d: &AttnDims,
    q: &[f32],
    n_tok: usize,
    pos0: usize,
    k: &[f32],
    v_t: &[f32],
    n_ctx: usize,
    rows: usize,
    scores: &mut [f32],
    slot: usize,
    out: &mut [f32],
) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let (q_row, k_row, o_row) = (d.n_head * hk, d.n_head_kv * hk, d.n_head * hv);
    let group = d.n_head / d.n_head_kv;
    // Per KV head, its query rows in order (token, head within the group), `rows` per item.
    let per_kvh = (n_tok * group).div_ceil(rows);
    let n_items = d.n_head_kv * per_kvh;
    let n_tasks = pool.n_threads().min(n_items).min(scores.len() / (rows * slot)).max(1);
    let outp = Shared::new(out);
    let scp = Shared::new(scores);
    pool.run(n_tasks, |task| {
        // SAFETY: task `task` owns score rows task * rows .. (task + 1) * rows.
        let s_all = unsafe { scp.slice(task * rows * slot, rows * slot) };
        for item in (task..n_items).step_by(n_tasks) {
            let (kvh, first) = (item / per_kvh, (item % per_kvh) * rows);
            let members = first..(first + rows).min(n_tok * group);
            // (token, query head, keys seen) of each member row
            let row = |i: usize| {
                let (t, h) = (i / group, (kvh * group) + i % group);
                (t, h, pos0 + t + 1)
            };
            let n_kv_max = row(members.end - 1).2;
            let kh = &k[kvh * hk..];
            // Keys outside a row's window are not scored (its mask makes them -inf).
            let first_key = d.visible_from(row(members.start).2).0;
            // (a multiple of 4 keys: the four-row dot kernel's step)
            let key_chunk = (KEY_CHUNK_BYTES / (4 * hk)).clamp(4, 64) / 4 * 4;
            for j0 in (first_key / key_chunk * key_chunk..n_kv_max).step_by(key_chunk) {
                for (r, i) in members.clone().enumerate() {
                    let (t, h, n_kv) = row(i);
                    let j0 = j0.max(d.visible_from(n_kv).0);
                    let jn = (j0 + key_chunk).min(n_kv);
                    if j0 >= jn {
                        continue;
                    }
                    let qv = &q[t * q_row + h * hk..][..hk];
                    f32dot::dot_rows(qv, &kh[j0 * k_row..], k_row, &mut s_all[r * slot + j0..r * slot + jn], Order::VecDot);
                }
            }
            for (r, i) in members.clone().enumerate() {
                let n_kv = row(i).2;
                let h = row(i).1;
                d.probabilities(&mut s_all[r * slot..r * slot + n_kv], d.visible_from(n_kv).0, h);
            }
            let vh = &v_t[kvh * hv * n_ctx..];
            // SAFETY (outputs): row (t, h) belongs to this item alone; its output range is
            // disjoint from every other row's.
            let out_row = |i: usize, d0: usize, len: usize| {
                let (t, h, _) = row(i);
                unsafe { outp.slice(t * o_row + h * hv + d0, len) }
            };
            if !values_tiled(d, &members, &row, s_all, slot, vh, n_ctx, hv, &out_row) {
                for d0 in (0..hv).step_by(VALUE_CHUNK) {
                    let dn = (d0 + VALUE_CHUNK).min(hv);
                    for (r, i) in members.clone().enumerate() {
                        let n_kv = row(i).2;
                        let from = d.visible_from(n_kv).1;
                        let o = out_row(i, d0, dn - d0);
                        f32dot::dot_rows(&s_all[r * slot + from..r * slot + n_kv], &vh[d0 * n_ctx + from..], n_ctx, o, Order::TinyBlas);
                    }
                }
            }
        }
    });
}

/// Keys per piece of the tiled output pass: four probability rows and eight value rows of
/// 256 keys are 12 KiB, which stay in L1 while every pair of value rows walks them.
const VALUE_KEYS: usize = 256;

/// The output pass of one item's rows, four rows by two value dimensions at a time over
/// pieces of [`VALUE_KEYS`] keys, continuing tinyBLAS's chains across the pieces
/// (`f32dot::tinyblas_4x2`): the same bits as one `dot_rows` per row. Rows of different
/// lengths share the keys from the first row's start to the last row's end: a row's terms
/// outside its own range have probability 0 (masked: its softmax gave 0; past its end: set to
/// 0 here), and `fma(0, v, a)` is `a`, so its chain is unchanged. `false` (nothing done)
/// where the target has no tiled kernel.
#[allow(clippy::too_many_arguments)]
fn values_tiled<'o>(
    d: &AttnDims,
    members: &std::ops::Range<usize>,
    row: &impl Fn(usize) -> (usize, usize, usize),
    s_all: &mut [f32],
    slot: usize,
    vh: &[f32],
    n_ctx: usize,
    hv: usize,
    out_row: &impl Fn(usize, usize, usize) -> &'o mut [f32],
) -> bool {
    let lo = d.visible_from(row(members.start).2).1;
    let hi = row(members.end - 1).2;
    for (r, i) in members.clone().enumerate() {
        s_all[r * slot + row(i).2..r * slot + hi].fill(0.0);
    }
    for g0 in members.clone().step_by(4) {
        let quad = g0..(g0 + 4).min(members.end);
        // Each row's probabilities from `lo` in `s_all`; a short last group repeats its first
        // row, whose extra sums are dropped.
        let mut p_at = [0; 4];
        for (l, at) in p_at.iter_mut().enumerate() {
            *at = (g0 - members.start + l.min(quad.len() - 1)) * slot + lo;
        }
        for d0 in (0..hv).step_by(VALUE_CHUNK) {
            let dn = (d0 + VALUE_CHUNK).min(hv);
            let mut acc = [[[[0f32; 8]; 2]; 4]; VALUE_CHUNK / 2];
            for k0 in (0..hi - lo).step_by(VALUE_KEYS) {
                let k1 = (k0 + VALUE_KEYS).min(hi - lo);
                for (pair, a) in acc.iter_mut().enumerate() {
                    // An odd last dimension repeats itself; that sum is dropped.
                    let dim = |c: usize| (d0 + 2 * pair + c).min(dn - 1) * n_ctx + lo + k0;
                    let pk = [p_at[0] + k0, p_at[1] + k0, p_at[2] + k0, p_at[3] + k0];
                    if f32dot::tinyblas_4x2(s_all, pk, vh, [dim(0), dim(1)], k1 - k0, a).is_none() {
                        return false;
                    }
                }
            }
            for (l, i) in quad.clone().enumerate() {
                let o = out_row(i, d0, dn - d0);
                for (j, od) in o.iter_mut().enumerate() {
                    *od = f32dot::tinyblas_hsum(&acc[j / 2][l][j % 2]);
                }
            }
        }
    }
    true
}
