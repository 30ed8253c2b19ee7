//! Valid GGUF files round-trip through the reader, and cheap deterministic fuzzing: single-byte
//! mutations and random inputs never make it panic. Files are built with the writer in
//! `common/gguf_writer.rs`.

mod common;

use common::gguf_checks::{parse_ok, touch_everything, try_parse};
use common::gguf_samples::{every_type, small_valid};
use common::gguf_writer::{cat, le32, le64, ty, Gguf, V};
use llmplayer_core::gguf::{Value, ValueType};
use llmplayer_core::GgmlType;

// =============================================================================================
// Valid files round-trip
// =============================================================================================

fn check_every_type(version: u32) {
    let b = every_type(version).build();
    let f = parse_ok(&b.bytes);
    assert_eq!(f.version, version);

    // Metadata in file order.
    let keys: Vec<&str> = f.metadata.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys[..4], ["general.architecture", "testarch.context_length", "t.u8", "t.i8"]);
    assert_eq!(keys.len(), 32);
    assert_eq!(f.architecture(), Some("testarch"));
    assert_eq!(f.get_arch(".context_length").and_then(|v| v.as_u32()), Some(4096));
    assert_eq!(f.get("missing"), None);
    assert_eq!(f.get_u32("missing"), None);

    // Scalars, through typed getters (integers widen; out-of-range and wrong types give None).
    assert_eq!(f.get("t.u8"), Some(&Value::U8(200)));
    assert_eq!(f.get_u32("t.u8"), Some(200));
    assert_eq!(f.get("t.i8"), Some(&Value::I8(-100)));
    assert_eq!(f.get_u32("t.i8"), None);
    assert_eq!(f.get("t.i8").unwrap().as_i64(), Some(-100));
    assert_eq!(f.get_u32("t.u16"), Some(60000));
    assert_eq!(f.get("t.i16").unwrap().as_i64(), Some(-30000));
    assert_eq!(f.get_u32("t.u32"), Some(4_000_000_000));
    assert_eq!(f.get_u64("t.u32"), Some(4_000_000_000));
    assert_eq!(f.get("t.i32").unwrap().as_i64(), Some(-2_000_000_000));
    assert_eq!(f.get_u64("t.i32"), None);
    assert_eq!(f.get_f32("t.f32"), Some(1.5));
    assert_eq!(f.get_f32("t.u16"), Some(60000.0));
    assert_eq!(f.get_u32("t.f32"), None);
    assert_eq!(f.get_bool("t.bool"), Some(true));
    assert_eq!(f.get_bool("t.false"), Some(false));
    assert_eq!(f.get_bool("t.u8"), None);
    assert_eq!(f.get_str("t.str"), Some("héllo ✓"));
    assert_eq!(f.get_str("t.empty"), Some(""));
    assert_eq!(f.get_str("t.u8"), None);
    assert_eq!(f.get_u64("t.u64"), Some(u64::MAX));
    assert_eq!(f.get_u32("t.u64"), None);
    assert_eq!(f.get("t.i64").unwrap().as_i64(), Some(i64::MIN));
    assert_eq!(f.get("t.f64").unwrap().as_f64(), Some(-2.25e300));
    assert_eq!(f.get_f32("t.f64"), Some(f32::NEG_INFINITY)); // out of f32 range
    assert_eq!(f.get_array("t.str"), None);
    let types: Vec<ValueType> = keys[2..16].iter().map(|k| f.get(k).unwrap().value_type()).collect();
    use ValueType::*;
    assert_eq!(types, [U8, I8, U16, I16, U32, I32, F32, Bool, Bool, String, String, U64, I64, F64]);

    // Arrays of every element type.
    let a = |k: &str| *f.get_array(k).unwrap_or_else(|| panic!("{k} is an array"));
    let vals = |k: &str| a(k).iter().collect::<Vec<_>>();
    assert_eq!(vals("a.u8"), [Value::U8(1), Value::U8(2), Value::U8(255)]);
    assert_eq!(vals("a.i8"), [Value::I8(-1), Value::I8(0), Value::I8(127)]);
    assert_eq!(vals("a.u16"), [Value::U16(65535)]);
    assert_eq!(vals("a.i16"), [Value::I16(-32768), Value::I16(5)]);
    assert_eq!(vals("a.u32"), [Value::U32(7), Value::U32(u32::MAX)]);
    assert_eq!(vals("a.i32"), [Value::I32(-5), Value::I32(7)]);
    assert_eq!(vals("a.f32"), [Value::F32(0.5), Value::F32(-1.0), Value::F32(3.25)]);
    assert_eq!(vals("a.bool"), [Value::Bool(true), Value::Bool(false), Value::Bool(true)]);
    assert_eq!(vals("a.u64"), [Value::U64(0), Value::U64(u64::MAX)]);
    assert_eq!(vals("a.i64"), [Value::I64(i64::MIN), Value::I64(42)]);
    assert_eq!(vals("a.f64"), [Value::F64(1e-300), Value::F64(2.5)]);
    for (k, elem, len) in
        [("a.u8", U8, 3), ("a.f32", F32, 3), ("a.str", String, 4), ("a.empty", U32, 0), ("a.nested", Array, 3)]
    {
        assert_eq!((a(k).elem, a(k).len(), a(k).is_empty()), (elem, len, len == 0), "{k}");
    }
    assert_eq!(a("a.f32").to_f32_vec(), Some(vec![0.5, -1.0, 3.25]));
    assert_eq!(a("a.u8").to_f32_vec(), Some(vec![1.0, 2.0, 255.0]));
    assert_eq!(a("a.i16").to_f32_vec(), Some(vec![-32768.0, 5.0]));
    assert_eq!(a("a.f64").to_f32_vec(), Some(vec![0.0, 2.5]));
    assert_eq!(a("a.bool").to_f32_vec(), None);
    assert_eq!(a("a.str").to_f32_vec(), None);
    assert_eq!(a("a.empty").to_f32_vec(), Some(vec![]));
    assert_eq!(a("a.i32").to_i64_vec(), Some(vec![-5, 7]));
    assert_eq!(a("a.u32").to_i64_vec(), Some(vec![7, u32::MAX as i64]));
    assert_eq!(a("a.u64").to_i64_vec(), None); // u64::MAX is not an i64
    assert_eq!(a("a.f32").to_i64_vec(), None);
    let strings: Vec<&[u8]> = a("a.str").strings().collect();
    assert_eq!(strings, [&b"a"[..], b"", "ünï".as_bytes(), "▁x".as_bytes()]);
    assert_eq!(a("a.u8").strings().count(), 0);
    assert_eq!(a("a.empty").iter().next(), None);

    // Nested arrays.
    let inner: Vec<Vec<&[u8]>> = a("a.nested").iter().map(|v| v.as_array().unwrap().strings().collect()).collect();
    assert_eq!(inner, [vec![&b"x"[..], b"y"], vec![], vec![b"z"]]);
    assert_eq!(a("a.nested").strings().count(), 0);
    assert_eq!(a("a.nested").to_f32_vec(), None);
    let nums: Vec<Option<Vec<f32>>> = a("a.nested_nums").iter().map(|v| v.as_array().unwrap().to_f32_vec()).collect();
    assert_eq!(nums, [Some(vec![1.0, 2.0]), Some(vec![3.5])]);

    // Tensors: infos and the exact bytes.
    assert_eq!(f.tensors.len(), 5);
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name).collect();
    assert_eq!(names, ["tok", "q", "k", "h", "s"]);
    let t = f.tensor("q").unwrap();
    assert_eq!((t.dims.as_slice(), t.ty, t.size, t.n_elements()), (&[64u64, 2][..], GgmlType::Q8_0, 4 * 34, 128));
    assert_eq!((t.ne(0), t.ne(1), t.ne(2), t.ne(3)), (64, 2, 1, 1));
    assert_eq!(f.tensor("k").unwrap().size, 144);
    assert_eq!(f.tensor("h").unwrap().size, 10);
    assert_eq!(f.tensor("nope"), None);
    assert_eq!(f.data_offset, b.data_offset as u64);
    for (name, bytes) in &b.expected_data {
        let t = f.tensor(name).unwrap();
        assert_eq!(f.tensor_data(t), &bytes[..], "{name}");
        assert_eq!(t.offset % 32, 0);
    }
    assert_eq!(f.bytes().len(), b.bytes.len());
}

#[test]
fn v3_every_value_type_round_trips() {
    check_every_type(3);
}

#[test]
fn v2_every_value_type_round_trips() {
    check_every_type(2);
}

#[test]
fn nan_values_are_kept() {
    // Found by the fuzzer (in its own harness, which compared values with `==`).
    let bytes = Gguf::new().kv("x", V::F64(f64::NAN)).kv("y", V::Arr(ty::F32, vec![V::F32(f32::NAN)])).bytes();
    let f = parse_ok(&bytes);
    assert!(f.get("x").and_then(|v| v.as_f64()).is_some_and(f64::is_nan));
    assert!(f.get_array("y").and_then(|a| a.to_f32_vec()).is_some_and(|v| v[0].is_nan()));
}

#[test]
fn minimal_files() {
    let f_bytes = Gguf::new().bytes();
    assert_eq!(f_bytes.len(), 24);
    let f = parse_ok(&f_bytes);
    assert!(f.metadata.is_empty() && f.tensors.is_empty());
    // Trailing bytes after the last tensor are allowed.
    let bytes = Gguf::new().put("t", &[2], GgmlType::F32).data(&[9; 100]).bytes();
    parse_ok(&bytes);
}

// =============================================================================================
// Cheap deterministic fuzzing
// =============================================================================================

#[test]
fn single_byte_mutations_never_panic() {
    let bytes = small_valid(3, Some(64)).bytes();
    let mut errors = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..bytes.len() {
        let orig = bytes[i];
        for v in [0x00, 0xff, 0x80, 0x7f, orig ^ 1, orig.wrapping_add(1), orig.wrapping_sub(1), orig ^ 0x40] {
            let mut m = bytes.clone();
            m[i] = v;
            match try_parse(&m) {
                Ok(Ok(f)) => touch_everything(&f),
                Ok(Err(e)) => {
                    assert!(e.offset <= m.len() as u64);
                    *errors.entry(e.code()).or_default() += 1;
                }
                Err(p) => panic!("byte {i} set to {v:#x}: parser panicked: {p}"),
            }
        }
    }
    assert!(errors.len() >= 8, "mutations reached only {errors:?}");
}

#[test]
fn random_inputs_never_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seed = every_type(3).bytes();
    for _ in 0..20_000 {
        // Either a valid file with a few random bytes overwritten, or random bytes after a header.
        let mut m = if next() % 2 == 0 {
            seed.clone()
        } else {
            let len = (next() % 256) as usize;
            let mut v: Vec<u8> = cat(&[b"GGUF", &le32(2 + (next() % 2) as u32), &le64(next() % 4), &le64(next() % 8)]);
            v.extend((0..len).map(|_| next() as u8));
            v
        };
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        match try_parse(&m) {
            Ok(Ok(f)) => touch_everything(&f),
            Ok(Err(e)) => assert!(e.offset <= m.len() as u64),
            Err(p) => panic!("parser panicked on {m:02x?}: {p}"),
        }
    }
}
