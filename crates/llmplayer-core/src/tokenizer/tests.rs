//! Edge cases the fixture goldens do not reach, on tiny vocabularies written as GGUF
//! in memory: special-token priority, RSTRIP, merges through non-token strings, SPM
//! segment cuts, and the stream decoder's end-of-sequence handling.

use super::*;

/// GGUF metadata values used by these vocabularies.
enum Meta<'a> {
    Str(&'a str),
    U32(u32),
    Bool(bool),
    Strs(&'a [&'a str]),
    I32s(&'a [i32]),
    F32s(&'a [f32]),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A GGUF v3 file with these key/values and no tensors.
fn gguf(kvs: &[(&str, Meta<'_>)]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (key, value) in kvs {
        put_str(&mut out, key);
        let (ty, body): (u32, Vec<u8>) = match value {
            Meta::Str(s) => {
                let mut b = Vec::new();
                put_str(&mut b, s);
                (8, b)
            }
            Meta::U32(v) => (4, v.to_le_bytes().to_vec()),
            Meta::Bool(v) => (7, vec![*v as u8]),
            Meta::Strs(items) => {
                let mut b = 8u32.to_le_bytes().to_vec();
                b.extend_from_slice(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|s| put_str(&mut b, s));
                (9, b)
            }
            Meta::I32s(items) => {
                let mut b = 5u32.to_le_bytes().to_vec();
                b.extend_from_slice(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
                (9, b)
            }
            Meta::F32s(items) => {
                let mut b = 6u32.to_le_bytes().to_vec();
                b.extend_from_slice(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
                (9, b)
            }
        };
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&body);
    }
    out.resize(out.len().next_multiple_of(32), 0);
    out
}

fn tokenizer(kvs: &[(&str, Meta<'_>)]) -> Tokenizer {
    let bytes = gguf(kvs);
    Tokenizer::from_gguf(&GgufFile::parse(&bytes).unwrap()).unwrap()
}

/// Byte-level BPE: single letters, `Ġ` (space), merges `a b` and `ab c` where `ab` is
/// not a token, and specials `<s>` (control), `xyz` / `wx` (user-defined).
fn small_bpe(name: &str) -> Tokenizer {
    let tokens = ["a", "b", "c", "w", "x", "y", "z", "Ġ", "abc", "<s>", "xyz", "wx", "</s>"];
    let types = [1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 4, 4, 3];
    tokenizer(&[
        ("general.name", Meta::Str(name)),
        ("tokenizer.ggml.model", Meta::Str("gpt2")),
        ("tokenizer.ggml.pre", Meta::Str("gpt-2")),
        ("tokenizer.ggml.tokens", Meta::Strs(&tokens)),
        ("tokenizer.ggml.token_type", Meta::I32s(&types)),
        ("tokenizer.ggml.merges", Meta::Strs(&["a b", "ab c"])),
        ("tokenizer.ggml.bos_token_id", Meta::U32(9)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(12)),
        ("tokenizer.ggml.add_bos_token", Meta::Bool(true)),
        ("tokenizer.ggml.add_eos_token", Meta::Bool(true)),
    ])
}

#[test]
fn longer_special_token_wins_even_when_a_shorter_one_starts_earlier() {
    let tok = small_bpe("test");
    // llama.cpp matches `xyz` (longer) first, leaving `w` as text: not `wx` + `yz`.
    assert_eq!(tok.encode("wxyz", false, false), [3, 10]);
    assert_eq!(tok.encode("wxwx", false, false), [11, 11]);
}

#[test]
fn control_tokens_need_parse_special_and_add_special_wraps() {
    let tok = small_bpe("test");
    assert_eq!(tok.encode("<s>a", false, true), [9, 0]);
    assert_eq!(tok.encode("a", true, false), [9, 0, 12]);
    assert!(tok.is_eog(12) && !tok.is_eog(9));
    assert_eq!(tok.decode(&[9, 0, 12], DecodeOptions { remove_special: true, unparse_special: true }), b"a");
    assert_eq!(tok.decode(&[9, 0, 12], DecodeOptions { remove_special: false, unparse_special: true }), b"<s>a</s>");
    assert_eq!(tok.decode(&[9, 0, 12], DecodeOptions::default()), b"a");
}

#[test]
fn merges_pass_through_strings_that_are_not_tokens() {
    let tok = small_bpe("test");
    assert_eq!(tok.encode("abc", false, false), [8]);
    // `ab` never becomes a token: its bytes are emitted one by one.
    assert_eq!(tok.encode("ab", false, false), [0, 1]);
}

#[test]
fn phi3_named_models_strip_whitespace_after_special_tokens() {
    let plain = small_bpe("test");
    let phi3 = small_bpe("Phi3 mini");
    assert_eq!(plain.encode("xyz a", false, false), [10, 7, 0]);
    assert_eq!(phi3.encode("xyz a", false, false), [10, 0]);
    // `<s>` is exempt from RSTRIP in llama.cpp's phi-3 rule.
    assert_eq!(phi3.encode("<s> a", false, true), [9, 7, 0]);
}

/// SPM vocabulary where tokens span a space (`x▁`, `x▁y`): cutting the text into
/// segments before `▁` would lose them, so the cut must not happen after `x`.
fn small_spm() -> Tokenizer {
    let tokens = ["<unk>", "<s>", "</s>", "▁", "x", "y", "▁x", "x▁y", "x▁", "<0x41>"];
    let scores = [0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -3.0, -0.5, -1.0, 0.0];
    let types = [2, 3, 3, 1, 1, 1, 1, 1, 1, 6];
    tokenizer(&[
        ("tokenizer.ggml.model", Meta::Str("llama")),
        ("tokenizer.ggml.tokens", Meta::Strs(&tokens)),
        ("tokenizer.ggml.scores", Meta::F32s(&scores)),
        ("tokenizer.ggml.token_type", Meta::I32s(&types)),
    ])
}

#[test]
fn spm_keeps_tokens_that_span_a_space_and_falls_back_to_bytes() {
    let tok = small_spm();
    // ▁ x ▁ y: `x▁` (-1) beats `▁x` (-3), then `x▁y` forms. Cut before the second ▁,
    // it would have been `▁x` + `▁` `y`.
    assert_eq!(tok.encode("x y", false, false), [3, 7]);
    assert_eq!(tok.encode("y y", false, false), [3, 5, 3, 5]);
    assert_eq!(tok.encode("A", false, false), [3, 9]);
    // A character with neither a token nor a byte token becomes <unk> (llama.cpp aborts).
    assert_eq!(tok.encode("z", false, false), [3, 0]);
    assert_eq!(tok.decode(&[6, 3, 5], DecodeOptions::default()), b"x y");
    assert_eq!(tok.decode(&[1, 6], DecodeOptions { remove_special: true, unparse_special: false }), b" x");
}

#[test]
fn stream_decoder_holds_back_a_trailing_eos_only_when_removing_specials() {
    let tok = small_bpe("test");
    let opts = DecodeOptions { remove_special: true, unparse_special: true };
    let mut stream = StreamDecoder::with_options(&tok, opts);
    assert_eq!(stream.push(9), ""); // leading BOS removed
    assert_eq!(stream.push(0), "a");
    assert_eq!(stream.push(12), ""); // maybe the last token: held
    assert_eq!(stream.push(1), "</s>b"); // it was not
    assert_eq!(stream.push(12), "");
    assert_eq!(stream.flush(), ""); // trailing EOS dropped

    let mut continuing = StreamDecoder::continuing(&tok, opts);
    assert_eq!(continuing.push(9), "<s>");
}

#[test]
fn stream_decoder_replaces_invalid_utf8_instead_of_waiting_forever() {
    let tokens: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).chain(["<unk>".into()]).collect();
    let token_refs: Vec<&str> = tokens.iter().map(|s| s.as_str()).collect();
    let mut types = vec![6; 256];
    types.push(2);
    let tok = tokenizer(&[
        ("tokenizer.ggml.model", Meta::Str("llama")),
        ("tokenizer.ggml.tokens", Meta::Strs(&token_refs)),
        ("tokenizer.ggml.token_type", Meta::I32s(&types)),
        ("tokenizer.ggml.unknown_token_id", Meta::U32(256)),
    ]);
    let mut stream = StreamDecoder::new(&tok);
    assert_eq!(stream.push(0xF0), ""); // lead byte of a 4-byte sequence
    assert_eq!(stream.push(0x9F), "");
    assert_eq!(stream.push(0x98), "");
    assert_eq!(stream.push(0x81), "😁");
    assert_eq!(stream.push(0xE4), "");
    assert_eq!(stream.push(b'a' as u32), "\u{FFFD}a"); // the sequence was broken
    assert_eq!(stream.push(0xE4), "");
    assert_eq!(stream.flush(), "\u{FFFD}");
}

#[test]
fn tokenizer_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
}

#[test]
fn unknown_models_and_pre_tokenizers_are_errors() {
    let err = |kvs: &[(&str, Meta<'_>)]| Tokenizer::from_gguf(&GgufFile::parse(&gguf(kvs)).unwrap()).unwrap_err();
    let tokens = Meta::Strs(&["a"]);
    assert_eq!(
        err(&[("tokenizer.ggml.model", Meta::Str("t5")), ("tokenizer.ggml.tokens", Meta::Strs(&["a"]))]).code(),
        "TOKENIZER_UNSUPPORTED_MODEL"
    );
    let e = err(&[
        ("tokenizer.ggml.model", Meta::Str("gpt2")),
        ("tokenizer.ggml.pre", Meta::Str("kimi-k2")),
        ("tokenizer.ggml.tokens", tokens),
    ]);
    assert_eq!(e, TokenizerError::UnsupportedPreTokenizer("kimi-k2".into()));
    assert_eq!(err(&[]), TokenizerError::MissingKey(crate::gguf::keys::TOKENIZER_MODEL));
}
