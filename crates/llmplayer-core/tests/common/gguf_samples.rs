//! Sample valid files built with the test writer.

#![allow(dead_code)]

use super::gguf_writer::{s, strs, ty, Gguf, V};
use llmplayer_core::GgmlType;

/// A small valid file touching every section: all header fields, scalar, string, fixed and
/// variable arrays, a nested array, three tensors of different types, and data ending at EOF.
pub fn small_valid(version: u32, align: Option<u32>) -> Gguf {
    let mut g = Gguf::new().version(version).kv("general.architecture", s("llama"));
    if let Some(a) = align {
        g = g.alignment(a);
    }
    g.kv("llama.block_count", V::U32(2))
        .kv("llama.rope.freq_base", V::F32(10000.0))
        .kv("tokenizer.ggml.tokens", strs(&["<s>", "", "a", "bc"]))
        .kv("tokenizer.ggml.scores", V::Arr(ty::F32, vec![V::F32(0.0), V::F32(-1.0), V::F32(-2.0), V::F32(-3.5)]))
        .kv("nested", V::Arr(ty::ARR, vec![strs(&["x"]), V::Arr(ty::U16, vec![V::U16(7)])]))
        .kv("flag", V::Bool(true))
        .put("token_embd.weight", &[4, 3], GgmlType::F32)
        .put("blk.0.attn_q.weight", &[32, 1], GgmlType::Q8_0)
        .put("blk.0.ffn_norm.weight", &[3], GgmlType::F16)
}

/// `depth` arrays nested inside each other around one u8.
pub fn nested(depth: usize) -> V {
    let mut v = V::Arr(ty::U8, vec![V::U8(42)]);
    for _ in 1..depth {
        v = V::Arr(ty::ARR, vec![v]);
    }
    v
}

pub fn every_type(version: u32) -> Gguf {
    let arr = |t, xs: Vec<V>| V::Arr(t, xs);
    Gguf::new()
        .version(version)
        .kv("general.architecture", s("testarch"))
        .kv("testarch.context_length", V::U32(4096))
        .kv("t.u8", V::U8(200))
        .kv("t.i8", V::I8(-100))
        .kv("t.u16", V::U16(60000))
        .kv("t.i16", V::I16(-30000))
        .kv("t.u32", V::U32(4_000_000_000))
        .kv("t.i32", V::I32(-2_000_000_000))
        .kv("t.f32", V::F32(1.5))
        .kv("t.bool", V::Bool(true))
        .kv("t.false", V::Bool(false))
        .kv("t.str", s("héllo ✓"))
        .kv("t.empty", s(""))
        .kv("t.u64", V::U64(u64::MAX))
        .kv("t.i64", V::I64(i64::MIN))
        .kv("t.f64", V::F64(-2.25e300))
        .kv("a.u8", arr(ty::U8, vec![V::U8(1), V::U8(2), V::U8(255)]))
        .kv("a.i8", arr(ty::I8, vec![V::I8(-1), V::I8(0), V::I8(127)]))
        .kv("a.u16", arr(ty::U16, vec![V::U16(65535)]))
        .kv("a.i16", arr(ty::I16, vec![V::I16(-32768), V::I16(5)]))
        .kv("a.u32", arr(ty::U32, vec![V::U32(7), V::U32(u32::MAX)]))
        .kv("a.i32", arr(ty::I32, vec![V::I32(-5), V::I32(7)]))
        .kv("a.f32", arr(ty::F32, vec![V::F32(0.5), V::F32(-1.0), V::F32(3.25)]))
        .kv("a.bool", arr(ty::BOOL, vec![V::Bool(true), V::Bool(false), V::Bool(true)]))
        .kv("a.str", strs(&["a", "", "ünï", "▁x"]))
        .kv("a.u64", arr(ty::U64, vec![V::U64(0), V::U64(u64::MAX)]))
        .kv("a.i64", arr(ty::I64, vec![V::I64(i64::MIN), V::I64(42)]))
        .kv("a.f64", arr(ty::F64, vec![V::F64(1e-300), V::F64(2.5)]))
        .kv("a.empty", arr(ty::U32, vec![]))
        .kv("a.nested", arr(ty::ARR, vec![strs(&["x", "y"]), strs(&[]), strs(&["z"])]))
        .kv(
            "a.nested_nums",
            arr(ty::ARR, vec![arr(ty::I32, vec![V::I32(1), V::I32(2)]), arr(ty::F64, vec![V::F64(3.5)])]),
        )
        .kv("a.deep", nested(4))
        .put("tok", &[4, 3], GgmlType::F32)
        .put("q", &[64, 2], GgmlType::Q8_0)
        .put("k", &[256], GgmlType::Q4_K)
        .put("h", &[5], GgmlType::F16)
        .put("s", &[], GgmlType::I32)
}
