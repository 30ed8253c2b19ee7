//! OpenAI harmony (gpt-oss, o200k_harmony) tokens, on small synthetic vocabularies written with
//! the test GGUF writer: which tokens end generation and which render in output text, as
//! llama.cpp's `llama_vocab::impl::load` decides them by token text (never by id).
//!
//! llama.cpp's rules checked here:
//! * `<|return|>` and `<|call|>` end generation; with both present `<|end|>` does not (in harmony
//!   it closes one message, e.g. the analysis channel, before `<|start|>assistant<|channel|>final`),
//!   and `<|end|>` becomes USER_DEFINED, so it renders;
//! * `<|channel|>`, `<|message|>`, `<|start|>`, `<|constrain|>` are forced to USER_DEFINED: they
//!   render even when special tokens are not shown, so a server can find the channels;
//! * the other end tokens stay CONTROL: hidden unless special tokens are shown.

mod common;

use common::gguf_writer::{s, strs, ty, Gguf, V};
use llmplayer_core::gguf::GgufFile;
use llmplayer_core::tokenizer::{DecodeOptions, Tokenizer};

const NORMAL: i32 = 1;
const CONTROL: i32 = 3;

/// A byte-level BPE vocabulary: the lowercase letters and `Ġ` (space) as normal tokens, then
/// `specials` as CONTROL tokens (how the gpt-oss GGUFs store them), with these special ids. EOS
/// defaults to the first special (a "gpt2" vocabulary's default EOS is id 11, here a letter).
fn vocab(specials: &[&str], ids: &[(&str, &str)]) -> Tokenizer {
    let default_eos = [("eos_token_id", specials[0])];
    let ids = if ids.is_empty() { &default_eos[..] } else { ids };
    let letters: Vec<String> = ('a'..='z').map(String::from).chain(["Ġ".to_string()]).collect();
    let mut tokens: Vec<&str> = letters.iter().map(String::as_str).collect();
    let mut types = vec![NORMAL; tokens.len()];
    tokens.extend_from_slice(specials);
    types.resize(tokens.len(), CONTROL);
    let mut g = Gguf::new()
        .kv("general.architecture", s("gpt-oss"))
        .kv("tokenizer.ggml.model", s("gpt2"))
        .kv("tokenizer.ggml.pre", s("gpt-4o"))
        .kv("tokenizer.ggml.tokens", strs(&tokens))
        .kv("tokenizer.ggml.token_type", V::Arr(ty::I32, types.iter().map(|&t| V::I32(t)).collect()))
        .kv("tokenizer.ggml.merges", strs(&[]));
    for (key, text) in ids {
        let id = tokens.iter().position(|t| t == text).unwrap_or_else(|| panic!("{text} is not in the vocabulary"));
        g = g.kv(&format!("tokenizer.ggml.{key}"), V::U32(id as u32));
    }
    let bytes = g.build().bytes;
    Tokenizer::from_gguf(&GgufFile::parse(&bytes).unwrap()).unwrap()
}

/// The specials of o200k_harmony in their relative order, with gpt-oss's metadata (BOS
/// `<|startoftext|>`, EOS `<|return|>`, padding `<|endoftext|>`, no EOT key).
fn harmony() -> Tokenizer {
    vocab(
        &[
            "<|startoftext|>",
            "<|endoftext|>",
            "<|reserved_200000|>",
            "<|return|>",
            "<|constrain|>",
            "<|channel|>",
            "<|start|>",
            "<|end|>",
            "<|message|>",
            "<|call|>",
        ],
        &[("bos_token_id", "<|startoftext|>"), ("eos_token_id", "<|return|>"), ("padding_token_id", "<|endoftext|>")],
    )
}

fn id(tok: &Tokenizer, text: &str) -> u32 {
    tok.token_id(text.as_bytes()).unwrap_or_else(|| panic!("{text} is not in the vocabulary"))
}

fn eog_texts(tok: &Tokenizer) -> Vec<String> {
    tok.eog_ids().iter().map(|&i| String::from_utf8_lossy(tok.token_text(i).unwrap()).into_owned()).collect()
}

#[test]
fn harmony_ends_generation_at_return_and_call_but_not_end() {
    let tok = harmony();
    // llama.cpp's log for gpt-oss-20b: EOG 199999 <|endoftext|>, 200002 <|return|>, 200012 <|call|>.
    assert_eq!(eog_texts(&tok), ["<|endoftext|>", "<|return|>", "<|call|>"]);
    assert!(!tok.is_eog(id(&tok, "<|end|>")));
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|startoftext|>"] {
        assert!(!tok.is_eog(id(&tok, text)), "{text}");
    }
    assert_eq!(tok.eos(), Some(id(&tok, "<|return|>")));
}

#[test]
fn harmony_structure_tokens_render_without_special_and_end_tokens_do_not() {
    let tok = harmony();
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"] {
        let t = id(&tok, text);
        assert_eq!(tok.token_to_piece(t, false), text.as_bytes(), "{text} renders as itself");
        assert!(!tok.is_control(t), "{text} is USER_DEFINED, not CONTROL");
    }
    for text in ["<|return|>", "<|call|>", "<|endoftext|>", "<|startoftext|>", "<|reserved_200000|>"] {
        let t = id(&tok, text);
        assert_eq!(tok.token_to_piece(t, false), b"", "{text} hidden");
        assert_eq!(tok.token_to_piece(t, true), text.as_bytes(), "{text} shown with special");
        assert!(tok.is_control(t), "{text}");
    }

    // A generated turn: analysis, then the final channel, then <|return|>. Without special tokens
    // shown (how generated text is streamed), the channel markers stay and <|return|> does not.
    let turn = "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>hi";
    let mut ids = tok.encode(turn, false, true);
    ids.push(id(&tok, "<|return|>"));
    let plain = DecodeOptions { remove_special: false, unparse_special: false };
    assert_eq!(String::from_utf8(tok.decode(&ids, plain)).unwrap(), turn);
    let shown = DecodeOptions { remove_special: false, unparse_special: true };
    assert_eq!(String::from_utf8(tok.decode(&ids, shown)).unwrap(), format!("{turn}<|return|>"));
}

#[test]
fn harmony_user_defined_markers_match_in_text_without_parse_special() {
    let tok = harmony();
    // USER_DEFINED tokens are recognised even with parse_special off (llama.cpp does the same
    // once it has forced the attribute); CONTROL ones need it.
    let ids = tok.encode("<|channel|>final<|message|>hi<|end|>", false, false);
    let letters = |w: &str| w.bytes().map(|b| (b - b'a') as u32).collect::<Vec<_>>();
    let mut want = vec![id(&tok, "<|channel|>")];
    want.extend(letters("final"));
    want.push(id(&tok, "<|message|>"));
    want.extend(letters("hi"));
    want.push(id(&tok, "<|end|>"));
    assert_eq!(ids, want);
    assert_eq!(tok.encode("<|return|>", false, true), [id(&tok, "<|return|>")]);
}

#[test]
fn end_stays_end_of_generation_without_both_return_and_call() {
    // <|end|> alone (phi-3 style) or with only one of the two harmony terminators: still EOG and
    // still CONTROL (llama.cpp forces CONTROL onto every EOG-looking token).
    for specials in [&["<|end|>"][..], &["<|return|>", "<|end|>"], &["<|call|>", "<|end|>"]] {
        let tok = vocab(specials, &[]);
        let end = id(&tok, "<|end|>");
        assert!(tok.is_eog(end), "{specials:?}");
        assert!(tok.is_control(end), "{specials:?}");
        assert_eq!(tok.token_to_piece(end, false), b"", "{specials:?}");
        assert_eq!(eog_texts(&tok), specials.iter().map(|t| t.to_string()).collect::<Vec<_>>());
    }
}

#[test]
fn end_leaves_end_of_generation_with_return_and_calls_or_with_calls_and_flush() {
    // llama.cpp counts `<|calls|>` as a call token for the harmony rule, and solar-open's
    // `<|calls|>`/`<|call|>` with `<|flush|>` trigger it too.
    for specials in [&["<|return|>", "<|end|>", "<|calls|>"][..], &["<|calls|>", "<|end|>", "<|flush|>"], &["<|call|>", "<|end|>", "<|flush|>"]] {
        let tok = vocab(specials, &[]);
        let end = id(&tok, "<|end|>");
        assert!(!tok.is_eog(end), "{specials:?}");
        assert_eq!(tok.token_to_piece(end, false), b"<|end|>", "{specials:?}");
        let want: Vec<String> = specials.iter().filter(|t| **t != "<|end|>").map(|t| t.to_string()).collect();
        assert_eq!(eog_texts(&tok), want);
    }
}

#[test]
fn structure_tokens_render_in_any_vocabulary_that_has_them() {
    // The "always render" rule keys on the text alone, with or without harmony's end tokens.
    let tok = vocab(&["<|im_end|>", "<|channel|>", "<|message|>"], &[]);
    assert_eq!(tok.token_to_piece(id(&tok, "<|channel|>"), false), b"<|channel|>");
    assert_eq!(tok.token_to_piece(id(&tok, "<|message|>"), false), b"<|message|>");
    assert_eq!(eog_texts(&tok), ["<|im_end|>"]);
}
