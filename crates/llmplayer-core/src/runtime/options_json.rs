//! The SDK's generation options as both bindings pass them: one JSON string, parsed here once.

use super::RuntimeError;
use crate::grammar::GrammarSpec;
use crate::sampling::{SamplingError, SamplingParams};

/// Sampling parameters from the SDK's JSON (camelCase, every field optional; `logitBias` as
/// `[[id, bias], …]` with `null` for -Infinity; `logprobs` a boolean, `topLogprobs` a count).
/// One parser for both bindings.
pub fn sampling_params_from_json(json: &str) -> Result<SamplingParams, RuntimeError> {
    let bad = |param: &'static str, message: String| RuntimeError::Sampling(SamplingError { param, message });
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad("options", e.to_string()))?;
    let mut p = SamplingParams::default();
    let num = |key: &'static str| -> Result<Option<f64>, RuntimeError> {
        match v.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(x) => x.as_f64().map(Some).ok_or_else(|| bad(key, format!("expected a number, got {x}"))),
        }
    };
    let count = |key: &'static str, x: f64| -> Result<u64, RuntimeError> {
        if x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x) {
            Ok(x as u64)
        } else {
            Err(bad(key, format!("expected a non-negative integer, got {x}")))
        }
    };
    if let Some(x) = num("temperature")? {
        p.temperature = x as f32;
    }
    if let Some(x) = num("topK")? {
        p.top_k = count("topK", x)? as u32;
    }
    if let Some(x) = num("topP")? {
        p.top_p = x as f32;
    }
    if let Some(x) = num("minP")? {
        p.min_p = x as f32;
    }
    if let Some(x) = num("repeatPenalty")? {
        p.repeat_penalty = x as f32;
    }
    if let Some(x) = num("presencePenalty")? {
        p.presence_penalty = x as f32;
    }
    if let Some(x) = num("frequencyPenalty")? {
        p.frequency_penalty = x as f32;
    }
    if let Some(x) = num("penaltyLastN")? {
        p.penalty_last_n = count("penaltyLastN", x)? as usize;
    }
    if let Some(x) = num("seed")? {
        p.seed = count("seed", x)?;
    }
    match v.get("logprobs") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Bool(b)) => p.logprobs = *b,
        Some(x) => return Err(bad("logprobs", format!("expected a boolean, got {x}"))),
    }
    if let Some(x) = num("topLogprobs")? {
        // Any count parses; the range (0..=20) is checked once, by SamplingParams::validate.
        p.top_logprobs = count("topLogprobs", x)? as u32;
    }
    match v.get("grammar") {
        None | Some(serde_json::Value::Null) => {}
        Some(g) => p.grammar = Some(GrammarSpec::from_json(g)?),
    }
    if let Some(list) = v.get("logitBias").and_then(|b| b.as_array()) {
        for pair in list {
            let (Some(id), Some(bias)) = (pair.get(0).and_then(|x| x.as_u64()), pair.get(1)) else {
                return Err(bad("logitBias", format!("expected [id, bias], got {pair}")));
            };
            let bias = if bias.is_null() { f32::NEG_INFINITY } else { bias.as_f64().unwrap_or(f64::NAN) as f32 };
            p.logit_bias.push((u32::try_from(id).map_err(|_| bad("logitBias", format!("token id {id}")))?, bias));
        }
    }
    Ok(p)
}
