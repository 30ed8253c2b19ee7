//! Two-pass attention of a batch over an f32 cache, several query rows at a time: the rows
//! of one KV head (its query heads, then the next tokens) walk the keys and the value rows
//! in short chunks together, so a chunk is read from memory once per group rather than once
//! per query (at a 4096-token prompt a head's keys are megabytes: per-query streaming made
//! attention three quarters of prefill). Every product is `head_f32`'s, in its order, so the
//! results are the same bits.

use super::attention::{AttnDims, Shared};
use super::f32dot::{self, Order};
use crate::parallel::ThreadPool;

/// Keys per chunk of the score pass (16 KiB of 256-wide f32 keys), value rows per chunk of
/// the output pass.
const KEY_CHUNK: usize = 16;
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
            for j0 in (first_key / KEY_CHUNK * KEY_CHUNK..n_kv_max).step_by(KEY_CHUNK) {
                for (r, i) in members.clone().enumerate() {
                    let (t, h, n_kv) = row(i);
                    let j0 = j0.max(d.visible_from(n_kv).0);
                    let jn = (j0 + KEY_CHUNK).min(n_kv);
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
            for d0 in (0..hv).step_by(VALUE_CHUNK) {
                let dn = (d0 + VALUE_CHUNK).min(hv);
                for (r, i) in members.clone().enumerate() {
                    let (t, h, n_kv) = row(i);
                    let from = d.visible_from(n_kv).1;
                    // SAFETY: row (t, h) belongs to this item alone; its output range is
                    // disjoint from every other row's.
                    let o = unsafe { outp.slice(t * o_row + h * hv + d0, dn - d0) };
                    f32dot::dot_rows(&s_all[r * slot + from..r * slot + n_kv], &vh[d0 * n_ctx + from..], n_ctx, o, Order::TinyBlas);
                }
            }
        }
    });
}
