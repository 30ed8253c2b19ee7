//! Hostile-input tests for the GGUF reader.
//!
//! Every malformed file here is built byte by byte with the small GGUF writer in
//! `common/gguf_writer.rs`, so each case says exactly which field is wrong, and the tests assert
//! the specific [`GgufErrorKind`] and the byte offset the reader reports. A truncation sweep cuts
//! a valid file at every byte boundary and predicts, for each cut, the error and offset from the
//! writer's own record of what the parser needs at that point. Valid files round-trip in
//! `gguf_roundtrip.rs`; the shared fixtures are checked in `gguf_fixtures.rs`.

mod common;

use common::gguf_checks::{assert_err, parse_err, parse_ok};
use common::gguf_samples::{every_type, nested, small_valid};
use common::gguf_writer::{align_up, cat, ex_of, le32, le64, s, strs, sweep_truncations, ty, Gguf, V};
use llmplayer_core::gguf::{GgufErrorKind, Value, ValueType};
use llmplayer_core::GgmlType;

/// Asserts the error matches `pat` (for kinds whose payload is free text) and the offset.
macro_rules! assert_err_matches {
    ($bytes:expr, $pat:pat $(if $guard:expr)?, $offset:expr) => {{
        let e = parse_err(&$bytes);
        assert!(matches!(e.kind, $pat $(if $guard)?), "expected {}, got {:?} ({e})", stringify!($pat), e.kind);
        assert_eq!(e.offset, $offset as u64, "error offset ({e})");
        e
    }};
}

/// Sweeps `small_valid` files, which run out of bytes in every possible way.
fn sweep_small_valid(version: u32, align: Option<u32>) {
    let seen = sweep_truncations(&small_valid(version, align).build());
    for ex in ["Truncated", "StringTooLong", "ArrayTooLong", "TooManyKeys", "TensorOutOfBounds"] {
        assert!(seen.contains(ex), "sweep never produced {ex}: {seen:?}");
    }
}

// =============================================================================================
// Truncation
// =============================================================================================

#[test]
fn truncation_at_every_byte_boundary_v3() {
    sweep_small_valid(3, None);
}

#[test]
fn truncation_at_every_byte_boundary_v2_custom_alignment() {
    sweep_small_valid(2, Some(64));
    sweep_small_valid(3, Some(1));
}

#[test]
fn truncation_of_a_metadata_only_file() {
    // No tensors: the file ends with the last value; every shorter prefix fails.
    let b = Gguf::new()
        .kv("general.name", s("n"))
        .kv("a", V::Arr(ty::ARR, vec![strs(&["p", "q"]), strs(&[])]))
        .kv("z", V::U64(9))
        .build();
    parse_ok(&b.bytes);
    for p in 0..b.bytes.len() {
        let e = parse_err(&b.bytes[..p]);
        let want = b.reqs.iter().find(|r| r.need > p).unwrap();
        assert_eq!((ex_of(&e.kind), e.offset), (Some(want.ex), want.at as u64), "prefix {p}: {e}");
    }
}

#[test]
fn empty_and_tiny_inputs() {
    let t = |needed, available| GgufErrorKind::Truncated { what: "magic", needed, available };
    assert_err(b"", t(4, 0), 0);
    assert_err(b"GGU", t(4, 3), 0);
    assert_err(b"GGUF\x03\x00", GgufErrorKind::Truncated { what: "version", needed: 4, available: 2 }, 4);
}

// =============================================================================================
// Header
// =============================================================================================

#[test]
fn bad_magic() {
    for magic in [*b"GGUG", *b"GGML", *b"FUGG", [0; 4], *b"gguf"] {
        let mut g = Gguf::new();
        g.magic = magic;
        assert_err(&g.bytes(), GgufErrorKind::BadMagic { found: magic }, 0);
    }
}

#[test]
fn unsupported_versions() {
    for v in [0, 1, 4, 5, u32::MAX] {
        assert_err(&Gguf::new().version(v).bytes(), GgufErrorKind::UnsupportedVersion(v), 4);
    }
    // A v1 file is rejected before its (u32) counts are misread as u64.
    let v1 = cat(&[b"GGUF", &le32(1), &le32(0), &le32(0)]);
    assert_err(&v1, GgufErrorKind::UnsupportedVersion(1), 4);
}

#[test]
fn huge_key_and_tensor_counts() {
    for n in [u64::MAX, 1 << 40, 1 << 63, u64::MAX / 13 + 1] {
        assert_err(&Gguf::new().n_kv(n).bytes(), GgufErrorKind::TooManyKeys(n), 16);
        assert_err(&Gguf::new().n_tensors(n).bytes(), GgufErrorKind::TooManyTensors(n), 8);
        // The key count is checked first.
        assert_err(&Gguf::new().n_kv(n).n_tensors(n).bytes(), GgufErrorKind::TooManyKeys(n), 16);
    }
    // One more key than the bytes could hold, and one more tensor.
    let g = Gguf::new().kv("k", V::U8(1)); // 13 bytes + 1 = 14 bytes of metadata
    assert_err(&g.clone().n_kv(2).bytes(), GgufErrorKind::TooManyKeys(2), 16);
    let g = Gguf::new().tensor("", &[], GgmlType::I8.id(), 0).data(&[0]); // 24-byte info
    parse_ok(&g.bytes());
    assert_err(&g.clone().n_tensors(2).bytes(), GgufErrorKind::TooManyTensors(2), 8);
}

#[test]
fn declared_counts_larger_than_entries_present() {
    // Plausible counts (they fit the file) that run past the real entries.
    let g = Gguf::new().kv("a", V::U64(1)).kv("b", V::U64(2)).kv("c", V::U64(3));
    let b = g.clone().n_kv(4).bytes();
    // The fourth "key" starts at the end of the file: its length field is missing.
    assert_err_matches!(b, GgufErrorKind::Truncated { what: "metadata key", .. }, b.len());
}

// =============================================================================================
// Metadata
// =============================================================================================

#[test]
fn string_length_2_pow_63() {
    let huge = 1u64 << 63;
    // As a key.
    let b = Gguf::new().kv_raw(cat(&[&le64(huge), &[0; 16]])).bytes();
    assert_err(&b, GgufErrorKind::StringTooLong { len: huge }, 24);
    // As a string value.
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(huge), b"abcdefgh"])));
    let b = g.build();
    assert_err(&b.bytes, GgufErrorKind::StringTooLong { len: huge }, b.kv_at[0] + 8 + 1 + 4);
    // u64::MAX, and a length exactly one past the end.
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(u64::MAX), b"x"])));
    assert_err(&g.bytes(), GgufErrorKind::StringTooLong { len: u64::MAX }, 24 + 8 + 1 + 4);
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(4), b"xyz"])));
    assert_err(&g.bytes(), GgufErrorKind::StringTooLong { len: 4 }, 24 + 8 + 1 + 4);
    // A string that takes exactly the rest of the file is fine.
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(3), b"xyz"])));
    assert_eq!(parse_ok(&g.bytes()).get_str("k"), Some("xyz"));
    // As a tensor name.
    let b = Gguf::new().raw_info(cat(&[&le64(huge), &[0; 32]])).build();
    assert_err(&b.bytes, GgufErrorKind::StringTooLong { len: huge }, b.info_at[0]);
}

#[test]
fn array_count_2_pow_40() {
    let n = 1u64 << 40;
    let arr = |elem: u32, count: u64| V::Raw(ty::ARR, cat(&[&le32(elem), &le64(count), &[0; 64]]));
    let count_at = 24 + 8 + 1 + 4 + 4; // header, key "k", value type, element type
    for (elem, min) in [(ty::U8, 1), (ty::U16, 2), (ty::F32, 4), (ty::F64, 8), (ty::STR, 8), (ty::ARR, 12)] {
        let b = Gguf::new().kv("k", arr(elem, n)).bytes();
        assert_err(&b, GgufErrorKind::ArrayTooLong { count: n, elem_bytes: min }, count_at);
        // count * size overflows u64.
        let b = Gguf::new().kv("k", arr(elem, u64::MAX)).bytes();
        assert_err(&b, GgufErrorKind::ArrayTooLong { count: u64::MAX, elem_bytes: min }, count_at);
    }
    // One element more than the bytes left (64 of them).
    let b = Gguf::new().kv("k", arr(ty::U64, 9)).bytes();
    assert_err(&b, GgufErrorKind::ArrayTooLong { count: 9, elem_bytes: 8 }, count_at);
    let b = Gguf::new().kv("k", arr(ty::U64, 8)).bytes();
    assert_eq!(parse_ok(&b).get_array("k").unwrap().len(), 8);
    // A nested array whose inner count is huge reports the inner count's offset.
    let inner = cat(&[&le32(ty::U8), &le64(n)]);
    let v = V::Raw(ty::ARR, cat(&[&le32(ty::ARR), &le64(1), &inner, &[0; 8]]));
    let b = Gguf::new().kv("k", v).bytes();
    assert_err(&b, GgufErrorKind::ArrayTooLong { count: n, elem_bytes: 1 }, count_at + 8 + 4);
}

#[test]
fn duplicate_keys() {
    let b = Gguf::new().kv("a", V::U32(1)).kv("b", V::U32(2)).kv("a", V::U32(3)).build();
    assert_err(&b.bytes, GgufErrorKind::DuplicateKey("a".into()), b.kv_at[2]);
    // Also when the types differ.
    let b = Gguf::new().kv("general.name", s("x")).kv("general.name", V::Bool(false)).build();
    assert_err(&b.bytes, GgufErrorKind::DuplicateKey("general.name".into()), b.kv_at[1]);
}

#[test]
fn unknown_metadata_value_types() {
    for id in [13, 99, u32::MAX] {
        let b = Gguf::new().kv("ok", V::U8(0)).kv("k", V::Raw(id, vec![0; 16])).build();
        assert_err(&b.bytes, GgufErrorKind::UnknownValueType(id), b.kv_at[1] + 8 + 1);
        // As an array's element type.
        let v = V::Raw(ty::ARR, cat(&[&le32(id), &le64(1), &[0; 16]]));
        let b = Gguf::new().kv("k", v).build();
        assert_err(&b.bytes, GgufErrorKind::UnknownValueType(id), b.kv_at[0] + 8 + 1 + 4);
    }
}

#[test]
fn deep_nested_arrays() {
    // Four levels of arrays are accepted and decode.
    let f_bytes = Gguf::new().kv("k", nested(4)).bytes();
    let f = parse_ok(&f_bytes);
    let mut v = *f.get("k").unwrap();
    for _ in 0..3 {
        let a = *v.as_array().unwrap();
        assert_eq!((a.elem, a.len()), (ValueType::Array, 1));
        v = a.iter().next().unwrap();
    }
    assert_eq!(v.as_array().unwrap().iter().collect::<Vec<_>>(), [Value::U8(42)]);

    // The fifth level is rejected where it starts (its element-type field).
    for depth in [5, 6, 64] {
        let b = Gguf::new().kv("k", nested(depth)).build();
        let value_at = b.kv_at[0] + 8 + 1 + 4;
        let fifth = value_at + 4 * (4 + 8); // four array headers in
        assert_err(&b.bytes, GgufErrorKind::ArrayNestingTooDeep, fifth);
    }
    // A very deep declared nesting (each level an array with count 1) does not recurse unboundedly.
    let level = cat(&[&le32(ty::ARR), &le64(1)]);
    let b = Gguf::new().kv("k", V::Raw(ty::ARR, level.repeat(100_000))).build();
    assert_err(&b.bytes, GgufErrorKind::ArrayNestingTooDeep, b.kv_at[0] + 8 + 1 + 4 + 4 * 12);
}

#[test]
fn invalid_utf8_key_and_tensor_name() {
    let b = Gguf::new().kv("fine", V::U8(1)).kv_bytes(b"bad\xff\xfekey", V::U8(1)).build();
    assert_err(&b.bytes, GgufErrorKind::InvalidUtf8 { what: "metadata key" }, b.kv_at[1]);
    // An overlong encoding and a lone surrogate are invalid too.
    for key in [&b"\xc0\xaf"[..], b"\xed\xa0\x80"] {
        let b = Gguf::new().kv_bytes(key, V::U8(1)).build();
        assert_err(&b.bytes, GgufErrorKind::InvalidUtf8 { what: "metadata key" }, b.kv_at[0]);
    }
    let mut g = Gguf::new().put("ok", &[4], GgmlType::F32);
    g.tensors[0].name = b"t\x80".to_vec();
    let b = g.build();
    assert_err(&b.bytes, GgufErrorKind::InvalidUtf8 { what: "tensor name" }, b.info_at[0]);
    // String *values* are kept as bytes: the file parses and only `get_str` declines.
    let bytes = Gguf::new().kv("v", V::Str(b"\xff\xfe".to_vec())).bytes();
    let f = parse_ok(&bytes);
    assert_eq!(f.get("v"), Some(&Value::Str(b"\xff\xfe")));
    assert_eq!(f.get_str("v"), None);
}

// =============================================================================================
// Alignment
// =============================================================================================

#[test]
fn bad_alignment_values() {
    for a in [0u32, 3, 48, 100, u32::MAX] {
        let b = Gguf::new().kv("general.name", s("x")).kv("general.alignment", V::U32(a)).build();
        assert_err_matches!(b.bytes, GgufErrorKind::BadAlignment(_), b.kv_at[1]);
    }
    for v in [V::U64(32), V::I32(32), V::U16(32), s("32"), V::F32(32.0), V::Arr(ty::U32, vec![V::U32(32)])] {
        let b = Gguf::new().kv("general.alignment", v.clone()).kv("general.name", s("x")).build();
        let e = assert_err_matches!(b.bytes, GgufErrorKind::BadAlignment(_), b.kv_at[0]);
        assert!(e.to_string().contains("u32"), "{e}");
    }
}

#[test]
fn custom_alignment_is_honoured() {
    for a in [1u32, 2, 8, 32, 64, 128, 4096] {
        let g = Gguf::new()
            .kv("general.name", s("aligned"))
            .alignment(a)
            .put("a", &[3], GgmlType::F32)
            .put("b", &[5], GgmlType::I8)
            .put("c", &[32, 2], GgmlType::Q4_0);
        let b = g.build();
        let f = parse_ok(&b.bytes);
        assert_eq!(f.alignment, a as u64);
        assert_eq!(f.data_offset, b.data_offset as u64, "alignment {a}");
        assert_eq!(f.data_offset % a as u64, 0);
        for (name, bytes) in &b.expected_data {
            let t = f.tensor(name).unwrap();
            assert_eq!(t.offset % a as u64, 0);
            assert_eq!(f.tensor_data(t), &bytes[..], "alignment {a}, tensor {name}");
        }
    }
    // Offset 32 is aligned by default but not under general.alignment = 64.
    let base = Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[1; 48]);
    parse_ok(&base.bytes());
    let mut g = Gguf::new().alignment(64).data(&[1; 48]);
    g.tensors = base.tensors.clone();
    let b = g.build();
    assert_err(
        &b.bytes,
        GgufErrorKind::MisalignedTensor { tensor: "t".into(), offset: 32, alignment: 64 },
        b.info_at[0],
    );
    // The largest u32 power of two is accepted (a file without tensors never pads to it).
    parse_ok(&Gguf::new().kv("general.alignment", V::U32(1 << 31)).bytes());
}

#[test]
fn default_alignment_is_32() {
    let b = Gguf::new().kv("general.name", s("x")).put("t", &[1], GgmlType::F32).build();
    let f = parse_ok(&b.bytes);
    assert_eq!(f.alignment, 32);
    assert_eq!(f.data_offset, align_up(b.bytes.len() - 4, 32) as u64);
    assert_eq!(f.data_offset, b.data_offset as u64);
}

// =============================================================================================
// Tensor infos
// =============================================================================================

#[test]
fn tensor_offset_past_the_end() {
    // 16 bytes of data, a 16-byte tensor at offset 32.
    let b = Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[0; 16]).build();
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: 48, data_len: 16 };
    assert_err(&b.bytes, kind, b.info_at[0]);
    // One byte short, then exactly enough.
    let b = Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[0; 47]).build();
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: 48, data_len: 47 };
    assert_err(&b.bytes, kind, b.info_at[0]);
    parse_ok(&Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[0; 48]).bytes());
    // offset + size overflows u64.
    let off = u64::MAX - 31;
    let b = Gguf::new().put("ok", &[1], GgmlType::F32).tensor("t", &[64], GgmlType::F32.id(), off).build();
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: u64::MAX, data_len: 4 };
    assert_err(&b.bytes, kind, b.info_at[1]);
    // A file that ends inside the padding after the header, before the data section starts.
    let b = Gguf::new().tensor("t", &[1], GgmlType::F32.id(), 0).data(&[0; 4]).build();
    let header_end = b.info_at[0] + 8 + 1 + 4 + 8 + 4 + 8;
    assert!(b.data_offset > header_end + 1);
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: 4, data_len: 0 };
    assert_err(&b.bytes[..header_end + 1], kind, b.info_at[0]);
}

#[test]
fn misaligned_tensor_offset() {
    for off in [1u64, 4, 16, 31, 33] {
        let b =
            Gguf::new().put("a", &[8], GgmlType::F32).tensor("b", &[1], GgmlType::F32.id(), off).data(&[0; 64]).build();
        let kind = GgufErrorKind::MisalignedTensor { tensor: "b".into(), offset: off, alignment: 32 };
        assert_err(&b.bytes, kind, b.info_at[1]);
    }
}

#[test]
fn too_many_dims() {
    let b = Gguf::new().tensor("t", &[1, 1, 1, 1, 1], GgmlType::F32.id(), 0).data(&[0; 4]).build();
    assert_err(&b.bytes, GgufErrorKind::TooManyDims { tensor: "t".into(), n_dims: 5 }, b.info_at[0]);
    // A huge dimension count is rejected before any dimension is read.
    let info = cat(&[&le64(1), b"t", &le32(u32::MAX), &[0; 32]]);
    let b = Gguf::new().raw_info(info).build();
    assert_err(&b.bytes, GgufErrorKind::TooManyDims { tensor: "t".into(), n_dims: u32::MAX }, b.info_at[0]);
    // Four is the maximum, and zero dimensions is a scalar.
    let f_bytes = Gguf::new().put("four", &[2, 1, 3, 1], GgmlType::F32).put("scalar", &[], GgmlType::F32).bytes();
    let f = parse_ok(&f_bytes);
    assert_eq!(f.tensor("four").unwrap().n_elements(), 6);
    let sc = f.tensor("scalar").unwrap();
    assert_eq!((sc.dims.len(), sc.n_elements(), sc.size, sc.ne(0)), (0, 1, 4, 1));
}

#[test]
fn unknown_tensor_types() {
    // 4 and 5 are ggml's retired Q4_2/Q4_3; 31 and 36 are retired too.
    for id in [4u32, 5, 31, 36, 99, u32::MAX] {
        let b = Gguf::new().put("ok", &[1], GgmlType::F32).tensor("t", &[32], id, 32).data(&[0; 64]).build();
        let type_at = b.info_at[1] + 8 + 1 + 4 + 8;
        assert_err(&b.bytes, GgufErrorKind::UnknownTensorType { tensor: "t".into(), type_id: id }, type_at);
    }
}

#[test]
fn duplicate_tensor_names() {
    let b =
        Gguf::new().put("w", &[4], GgmlType::F32).put("v", &[4], GgmlType::F32).put("w", &[4], GgmlType::F32).build();
    assert_err(&b.bytes, GgufErrorKind::DuplicateTensor("w".into()), b.info_at[2]);
}

#[test]
fn overlapping_tensors() {
    let f32 = GgmlType::F32.id();
    // b starts inside a (a: 0..64, b: 32..96).
    let b = Gguf::new().tensor("a", &[16], f32, 0).tensor("b", &[16], f32, 32).data(&[0; 96]).build();
    let kind = GgufErrorKind::OverlappingTensors { first: "a".into(), second: "b".into() };
    assert_err(&b.bytes, kind.clone(), b.info_at[1]);
    // Same pair, listed in the other order: still named by offset, reported at the later info.
    let b = Gguf::new().tensor("b", &[16], f32, 32).tensor("a", &[16], f32, 0).data(&[0; 96]).build();
    assert_err(&b.bytes, kind, b.info_at[1]);
    // Identical offsets; one tensor inside another.
    let b = Gguf::new().tensor("a", &[8], f32, 0).tensor("b", &[8], f32, 0).data(&[0; 32]).build();
    assert_err_matches!(b.bytes, GgufErrorKind::OverlappingTensors { .. }, b.info_at[1]);
    let b = Gguf::new()
        .tensor("big", &[64], f32, 0)
        .tensor("x", &[1], f32, 64)
        .tensor("in", &[1], f32, 32)
        .data(&[0; 256])
        .build();
    let kind = GgufErrorKind::OverlappingTensors { first: "big".into(), second: "in".into() };
    assert_err(&b.bytes, kind, b.info_at[2]);
    // Adjacent tensors and empty tensors sharing an offset do not overlap.
    let bytes = Gguf::new()
        .tensor("a", &[8], f32, 0)
        .tensor("b", &[8], f32, 32)
        .tensor("e1", &[0, 4], f32, 32)
        .tensor("e2", &[4, 0], f32, 32)
        .data(&[0; 64])
        .bytes();
    let f = parse_ok(&bytes);
    assert_eq!(f.tensor("e1").unwrap().size, 0);
    assert!(f.tensor_data(f.tensor("e2").unwrap()).is_empty());
}

#[test]
fn shape_overflow_and_block_size() {
    let f32 = GgmlType::F32.id();
    let big = |dims: &[u64], t: u32| Gguf::new().tensor("t", dims, t, 0).data(&[0; 64]).build();
    let cases: &[(&[u64], u32)] = &[
        (&[1 << 32, 1 << 32], f32),       // product 2^64 overflows u64
        (&[1 << 62, 2], f32),             // 2^63 does not fit ggml's int64 ne
        (&[1 << 63], f32),                // one dimension past i64::MAX
        (&[u64::MAX, 0], f32),            // a dimension past i64::MAX even when the product is 0
        (&[1 << 62], f32),                // elements fit, bytes (2^64) do not
        (&[3, 5, 1 << 40, 1 << 30], f32), // overflow on the last multiply
        (&[16, 2], GgmlType::Q4_0.id()),  // 16 is not a multiple of 32
        (&[128], GgmlType::Q4_K.id()),    // nor 128 of 256
        (&[33], GgmlType::Q8_0.id()),
        (&[], GgmlType::Q8_0.id()),      // a scalar cannot be block-quantized
        (&[1, 32], GgmlType::Q8_0.id()), // the *first* dimension must be the multiple
    ];
    for &(dims, t) in cases {
        let b = big(dims, t);
        let e = assert_err_matches!(b.bytes, GgufErrorKind::BadShape { ref tensor, .. } if tensor == "t", b.info_at[0]);
        assert_eq!(e.code(), "bad_shape");
    }
    // The largest shapes that do fit are only limited by the data.
    let b = big(&[1 << 61], GgmlType::I8.id());
    assert_err_matches!(b.bytes, GgufErrorKind::TensorOutOfBounds { .. }, b.info_at[0]);
}

#[test]
fn many_scalar_tensors_are_not_too_many() {
    // 200 zero-dimension I8 tensors with alignment 1: each info is 24 bytes + a 3-byte name and
    // each datum 1 byte, less than 32 bytes per tensor. A valid file the count check must accept.
    let mut g = Gguf::new().alignment(1);
    for i in 0..200 {
        g = g.put(&format!("{i:03}"), &[], GgmlType::I8);
    }
    let b = g.build();
    assert!(b.bytes.len() < 24 + 200 * 32);
    let f = parse_ok(&b.bytes);
    assert_eq!(f.tensors.len(), 200);
    for (name, bytes) in &b.expected_data {
        assert_eq!(f.tensor_data(f.tensor(name).unwrap()), &bytes[..]);
    }
    sweep_truncations(&Gguf::new().alignment(1).put("a", &[], GgmlType::I8).put("b", &[], GgmlType::I8).build());
}

// =============================================================================================
// Fuzzing seeds
// =============================================================================================

/// Writes the valid files built here as fuzzing seeds when LLMPLAYER_FUZZ_SEEDS names a folder
/// (`scripts/fuzz-gguf.sh` does this); otherwise does nothing. It stays in this test binary
/// because the script runs it as `--test gguf_hostile write_fuzz_seeds`.
#[test]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("LLMPLAYER_FUZZ_SEEDS") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = [
        ("every-type-v3", every_type(3).bytes()),
        ("every-type-v2", every_type(2).bytes()),
        ("small-v3", small_valid(3, None).bytes()),
        ("small-align64", small_valid(2, Some(64)).bytes()),
        ("small-align1", small_valid(3, Some(1)).bytes()),
        ("nested4", Gguf::new().kv("k", nested(4)).bytes()),
        ("minimal", Gguf::new().bytes()),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("synthetic-{name}.gguf")), bytes).unwrap();
    }
}
