//! Constrained decoding (`grammar/`): a random-weight model generates garbage, yet under a
//! grammar its output must follow it: JSON that parses and validates against the schema
//! (checked by the independent `jsonschema` crate), regex and Lark languages, at several seeds
//! and temperatures, through a session and through the batcher. A complete grammar ends the
//! generation with an end-of-generation token; bad grammars are request-time errors.

use llmplayer_core::batcher::{BatchOptions, Event};
use llmplayer_core::grammar::{GrammarSpec, MAX_GRAMMAR_BYTES};
use llmplayer_core::runtime::{sampling_params_from_json, RuntimeModel, RuntimeOptions};
use llmplayer_core::sampling::SamplingParams;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod engine;
use engine::fixtures_root;

/// Room enough for every bounded grammar below; reaching it is a failure.
const MAX_TOKENS: usize = 300;

const PERSON: &str = r#"{
  "type": "object",
  "properties": {
    "name": { "type": "string", "maxLength": 8 },
    "age": { "type": "integer", "minimum": 0, "maximum": 150 },
    "tags": { "type": "array", "items": { "enum": ["a", "b", "c"] }, "maxItems": 3 },
    "ok": { "type": "boolean" }
  },
  "required": ["name", "age", "ok"],
  "additionalProperties": false
}"#;

fn llama() -> Option<RuntimeModel> {
    let root = fixtures_root()?;
    let bytes = std::fs::read(root.join("models/llama.gguf")).unwrap();
    Some(RuntimeModel::load(Arc::new(bytes), &RuntimeOptions { n_threads: Some(2), ..Default::default() }).unwrap())
}

fn params(grammar: GrammarSpec, temperature: f32, seed: u64) -> SamplingParams {
    SamplingParams { temperature, top_k: 0, top_p: 1.0, min_p: 0.0, seed, grammar: Some(grammar), ..SamplingParams::default() }
}

fn schema(s: &str) -> GrammarSpec {
    GrammarSpec::JsonSchema { schema: s.into(), strict: true }
}

/// Generates until an end-of-generation token; returns the text before it. Panics when the
/// grammar does not end the generation within `MAX_TOKENS`.
fn generate(rt: &RuntimeModel, p: SamplingParams) -> String {
    let mut s = rt.new_session(512, None).unwrap();
    let prompt = rt.text.tokenize("Give me a JSON answer:", true, false);
    s.begin(&prompt, p).unwrap();
    let mut out = Vec::new();
    for _ in 0..MAX_TOKENS {
        let t = s.next().unwrap().token;
        if rt.text.tokenizer.is_eog(t) {
            return String::from_utf8(rt.text.detokenize(&out, false)).expect("grammar output is UTF-8");
        }
        out.push(t);
    }
    panic!("no end of generation after {MAX_TOKENS} tokens: {:?}", String::from_utf8_lossy(&rt.text.detokenize(&out, false)));
}

fn validate(schema_text: &str, out: &str) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{out:?} is not JSON: {e}"));
    let validator = jsonschema::validator_for(&serde_json::from_str(schema_text).unwrap()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{out} does not validate: {errors:?}");
}

#[test]
fn json_schema_output_parses_and_validates_at_any_temperature() {
    let Some(rt) = llama() else { return };
    let mut distinct = std::collections::HashSet::new();
    for (temperature, seed) in [(0.0, 0), (0.7, 1), (1.0, 2), (1.5, 3), (2.0, 4), (1.0, 5)] {
        let out = generate(&rt, params(schema(PERSON), temperature, seed));
        validate(PERSON, &out);
        distinct.insert(out);
    }
    // The model's choices still matter inside the grammar: not one forced string.
    assert!(distinct.len() > 1, "{distinct:?}");
}

#[test]
fn json_object_and_sdk_json_give_an_object() {
    let Some(rt) = llama() else { return };
    let json = r#"{"temperature": 1.0, "seed": 9, "topK": 0, "topP": 1, "minP": 0, "grammar": {"type": "json_object"}}"#;
    let p = sampling_params_from_json(json).unwrap();
    assert_eq!(p.grammar, Some(GrammarSpec::JsonObject));
    // An unconstrained object may nest without end at high temperature: greedy keeps it short
    // enough here, the sampled run only has to stay JSON so far.
    let out = generate(&rt, SamplingParams { temperature: 0.0, ..p });
    assert!(serde_json::from_str::<serde_json::Value>(&out).unwrap().is_object(), "{out}");
    // The SDK sends a schema as an object; strict defaults to true.
    let p = sampling_params_from_json(&format!(r#"{{"grammar": {{"type": "json_schema", "schema": {PERSON}}}}}"#)).unwrap();
    assert!(matches!(p.grammar, Some(GrammarSpec::JsonSchema { strict: true, .. })));
}

#[test]
fn regex_and_lark_languages_are_followed_and_end_the_generation() {
    let Some(rt) = llama() else { return };
    let rx = fancy_regex::Regex::new(r"^[0-9]{3}-[a-z]{2}$").unwrap();
    let lark_choice = ["yes", "no"];
    for (temperature, seed) in [(0.0, 0), (1.0, 1), (1.8, 2)] {
        let out = generate(&rt, params(GrammarSpec::Regex { pattern: "[0-9]{3}-[a-z]{2}".into() }, temperature, seed));
        assert!(rx.is_match(&out).unwrap(), "{out:?}");

        let lark = "start: answer | number\nanswer: \"yes\" | \"no\"\nnumber: /[0-9]{1,4}/";
        let out = generate(&rt, params(GrammarSpec::Lark { grammar: lark.into() }, temperature, seed));
        let is_number = !out.is_empty() && out.len() <= 4 && out.bytes().all(|b| b.is_ascii_digit());
        assert!(lark_choice.contains(&out.as_str()) || is_number, "{out:?}");

        // Lark with an embedded JSON Schema (what the server uses for tool calls).
        let call = r#"{"type":"object","properties":{"x":{"type":"integer","minimum":0,"maximum":9}},"required":["x"],"additionalProperties":false}"#;
        let lark = format!("start: \"CALL \" %json {call}");
        let out = generate(&rt, params(GrammarSpec::Lark { grammar: lark }, temperature, seed));
        let body = out.strip_prefix("CALL ").unwrap_or_else(|| panic!("{out:?}"));
        validate(call, body);
    }
}

#[test]
fn a_complete_grammar_forces_the_end_even_when_the_model_prefers_more() {
    let Some(rt) = llama() else { return };
    // One fixed string: after it only end-of-generation tokens are allowed, whatever the
    // logits; the model itself almost never picks one (4 of its 400 tokens).
    for seed in 0..4 {
        assert_eq!(generate(&rt, params(GrammarSpec::Regex { pattern: "ab".into() }, 1.5, seed)), "ab");
    }
}

#[test]
fn the_batcher_applies_each_requests_grammar() {
    let Some(rt) = llama() else { return };
    let mut b = rt.new_batcher(&BatchOptions { n_seq: 3, n_ctx: 512, ..Default::default() }).unwrap();
    let lim = b.limits();
    let prompt = rt.text.tokenize("Answer:", true, false);
    let grammars = [schema(PERSON), GrammarSpec::Regex { pattern: "[0-9]{3}-[a-z]{2}".into() }, GrammarSpec::JsonObject];
    for (id, g) in grammars.iter().enumerate() {
        let temperature = if id == 2 { 0.0 } else { 1.0 };
        b.submit(lim.request(id as u64, prompt.clone(), params(g.clone(), temperature, id as u64), MAX_TOKENS).unwrap());
    }
    let mut out = vec![Vec::new(); 3];
    let mut done = [false; 3];
    for _ in 0..MAX_TOKENS + 10 {
        for e in b.step().unwrap().to_vec() {
            match e {
                Event::Token { id, token, .. } if rt.text.tokenizer.is_eog(token) => {
                    done[id as usize] = true;
                    b.finish(id);
                }
                Event::Token { id, token, .. } => out[id as usize].push(token),
                Event::Started { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        if !b.busy() {
            break;
        }
    }
    assert_eq!(done, [true; 3]);
    let text: Vec<String> = out.iter().map(|t| String::from_utf8(rt.text.detokenize(t, false)).unwrap()).collect();
    validate(PERSON, &text[0]);
    assert!(fancy_regex::Regex::new(r"^[0-9]{3}-[a-z]{2}$").unwrap().is_match(&text[1]).unwrap(), "{:?}", text[1]);
    assert!(serde_json::from_str::<serde_json::Value>(&text[2]).unwrap().is_object(), "{}", text[2]);
}

fn begin_error(rt: &RuntimeModel, g: GrammarSpec) -> (String, String) {
    let mut s = rt.new_session(64, None).unwrap();
    let e = s.begin(&[393, 5], params(g, 0.0, 0)).expect_err("the grammar must be refused");
    (e.code(), e.message())
}

#[test]
fn bad_grammars_are_request_time_errors_that_say_why() {
    let Some(rt) = llama() else { return };
    let (code, msg) = begin_error(&rt, GrammarSpec::Lark { grammar: "start: (".into() });
    assert_eq!(code, "GRAMMAR_INVALID", "{msg}");

    let (code, msg) = begin_error(&rt, schema(r#"{"type": "array", "uniqueItems": true}"#));
    assert_eq!(code, "GRAMMAR_INVALID");
    assert!(msg.contains("uniqueItems"), "the message names the unsupported keyword: {msg}");
    // Not strict: the keyword is ignored and the grammar compiles.
    let mut s = rt.new_session(64, None).unwrap();
    let lenient = GrammarSpec::JsonSchema { schema: r#"{"type": "array", "uniqueItems": true}"#.into(), strict: false };
    s.begin(&[393, 5], params(lenient, 0.0, 0)).unwrap();

    let (code, _) = begin_error(&rt, schema("{not json"));
    assert_eq!(code, "GRAMMAR_INVALID");
    let (code, _) = begin_error(&rt, GrammarSpec::Regex { pattern: "(unclosed".into() });
    assert_eq!(code, "GRAMMAR_INVALID");

    // Malformed specs from the SDK's JSON.
    for json in [r#"{"grammar": {"type": "xml"}}"#, r#"{"grammar": {"type": "lark"}}"#, r#"{"grammar": 3}"#] {
        let e = sampling_params_from_json(json).err().unwrap();
        assert_eq!(e.code(), "GRAMMAR_INVALID", "{json}: {e}");
    }
}

#[test]
fn hostile_grammars_fail_fast_or_run_bounded() {
    let Some(rt) = llama() else { return };
    // A megabyte schema is refused before it is parsed.
    let props: String = (0..40_000).map(|i| format!(r#""p{i}":{{"type":"integer"}},"#)).collect();
    let huge = format!(r#"{{"type":"object","properties":{{{}}}}}"#, props.trim_end_matches(','));
    assert!(huge.len() > MAX_GRAMMAR_BYTES);
    let t = Instant::now();
    let (code, msg) = begin_error(&rt, schema(&huge));
    assert_eq!(code, "GRAMMAR_INVALID");
    assert!(msg.contains("bytes"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());

    // Recursive schemas are grammars like any other: compiled, and generation stays bounded.
    let recursive = r##"{"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "additionalProperties": false}}}"##;
    let t = Instant::now();
    let mut s = rt.new_session(512, None).unwrap();
    s.begin(&[393, 5], params(schema(recursive), 1.0, 7)).unwrap();
    for _ in 0..64 {
        if rt.text.tokenizer.is_eog(s.next().unwrap().token) {
            break;
        }
    }
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());

    // A regex whose lexer blows up exceeds llguidance's fuel instead of running away.
    let t = Instant::now();
    let r = rt.new_session(64, None).unwrap().begin(&[393, 5], params(GrammarSpec::Regex { pattern: "(a|b)*a(a|b){40}".into() }, 0.0, 0));
    if let Err(e) = r {
        assert!(e.code().starts_with("GRAMMAR_"), "{e}");
    }
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[test]
fn logprobs_stay_those_of_the_raw_logits() {
    let Some(rt) = llama() else { return };
    let p = SamplingParams { logprobs: true, ..params(GrammarSpec::Regex { pattern: "[0-9]{4}".into() }, 1.0, 3) };
    let mut s = rt.new_session(64, None).unwrap();
    let prompt = [393u32, 5, 6];
    s.begin(&prompt, p).unwrap();
    let step = s.next().unwrap();
    let (token, logprob) = (step.token, step.logprob.unwrap());
    // The raw logits of the same position, from a plain evaluation.
    let mut plain = rt.new_session(64, None).unwrap();
    let logits = plain.evaluate(&prompt, false).unwrap().to_vec();
    let want = llmplayer_core::sampling::log_softmax_at(&logits, token);
    assert_eq!(logprob, want);
}
