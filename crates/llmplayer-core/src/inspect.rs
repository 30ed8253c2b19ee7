//! `inspect`: a JSON-ready summary of a GGUF file (architecture, sizes, quant mix,
//! tokenizer, metadata). Both bindings return exactly this JSON, so native and WASM agree.

use crate::gguf::{keys, GgufFile, Value};
use crate::model::offload::offload_plan;
use crate::model::{names, window_cells, Arch, HParams, KvType};
use crate::GgmlType;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// Arrays longer than this are summarized unless `full_arrays` is set.
const ARRAY_SUMMARY_LIMIT: usize = 64;
/// Elements shown in a summarized array.
const ARRAY_PREVIEW: usize = 8;
/// Special tokens listed in the summary, at most.
const SPECIAL_TOKENS_LIMIT: usize = 1024;
/// GGUF token types that mark special tokens: CONTROL and USER_DEFINED.
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;
/// Integers beyond this are not exact in a JS number: they become strings.
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

#[derive(Clone, Copy, Debug, Default)]
pub struct InspectOptions {
    /// Include every element of large metadata arrays (e.g. the vocabulary).
    pub full_arrays: bool,
    /// Include the tensor list.
    pub tensors: bool,
}

/// llama.cpp's `llama_ftype` names for `general.file_type` (llama.h).
fn file_type_name(id: u64) -> Option<&'static str> {
    Some(match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

/// The KV cache's size, `(kvBytesPerToken, kvLayers)`: bytes one position takes over all
/// layers per cache type the model accepts (`{ "f32": .., "f16": .., "q8_0": .. }`), and the
/// same per layer kind: `full` (every position), `window` (sliding-window layers, which hold
/// at most `maxPositions` of them whatever the context) and `latent` (multi-head latent
/// attention: latents only). Both null when the engine does not run the architecture, its
/// hyperparameters do not load, or no layer keeps KV (attention-free models).
fn kv_cache_size(hp: Option<&HParams>) -> (Json, Json) {
    let Some(hp) = hp.filter(|hp| hp.recurrent.iter().any(|&r| !r)) else { return (Json::Null, Json::Null) };
    let types: Vec<KvType> = KvType::ALL.into_iter().filter(|t| t.check(hp).is_ok()).collect();
    let bytes = |layers: &[usize]| -> Json {
        types.iter().map(|t| (t.name().to_string(), json!(layers.iter().map(|&il| t.layer_bytes_per_token(hp, il)).sum::<usize>()))).collect::<Map<_, _>>().into()
    };
    // (kind, window) -> its layers, kinds in order of first appearance
    type Kind<'a> = (&'a str, Option<usize>);
    let mut groups: Vec<(Kind, Vec<usize>)> = vec![];
    for il in (0..hp.n_layer).filter(|&il| hp.has_kv(il)) {
        let key = match hp.window(il) {
            _ if hp.kv_latent() => ("latent", None),
            Some(w) => ("window", Some(w)),
            None => ("full", None),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, layers)) => layers.push(il),
            None => groups.push((key, vec![il])),
        }
    }
    let kinds = groups
        .iter()
        .map(|((kind, window), layers)| {
            let mut e = json!({ "kind": kind, "layers": layers.len(), "bytesPerToken": bytes(layers) });
            if let Some(w) = *window {
                e["window"] = json!(w);
                e["maxPositions"] = json!(window_cells(w, usize::MAX));
            }
            e
        })
        .collect();
    (bytes(&(0..hp.n_layer).collect::<Vec<_>>()), Json::Array(kinds))
}

/// The hyperparameters of an architecture this engine runs (None: another, or they do not
/// load).
fn hparams(f: &GgufFile<'_>, arch: Option<&str>) -> Option<HParams> {
    let arch = arch.and_then(|a| Arch::from_str(a).ok())?;
    let n_vocab = f.tensor(names::Global::TokenEmbd.name(names::Suffix::Weight).as_str()).and_then(|t| t.dims.get(1).copied()).unwrap_or(0);
    HParams::from_gguf(f, arch, n_vocab as usize).ok()
}

/// Summarizes a parsed file as JSON (camelCase keys, JS-number-safe values).
pub fn inspect(f: &GgufFile<'_>, opts: InspectOptions) -> Json {
    let arch = f.architecture();
    let arch_u64 = |suffix: &str| f.get_arch(suffix).and_then(|v| v.as_u64());
    let arch_json = |suffix: &str| f.get_arch(suffix).map(|v| value_json(v, false)).unwrap_or(Json::Null);

    let mut mix: BTreeMap<GgmlType, (u64, u64, u64)> = BTreeMap::new();
    let mut params: u64 = 0;
    for t in &f.tensors {
        let e = mix.entry(t.ty).or_default();
        e.0 += 1;
        e.1 += t.size;
        e.2 += t.n_elements();
        params += t.n_elements();
    }
    let quant_mix: Vec<Json> = mix
        .iter()
        .map(|(ty, (n, bytes, elems))| json!({ "type": ty.name(), "tensors": n, "bytes": bytes, "elements": elems }))
        .collect();
    let tensor_bytes: u64 = mix.values().map(|m| m.1).sum();

    let vocab_size = arch_u64(keys::VOCAB_SIZE)
        .or_else(|| f.get_array(keys::TOKENIZER_TOKENS).map(|a| a.len() as u64));
    let file_type = f.get_u64(keys::GENERAL_FILE_TYPE).map(|id| {
        json!({ "id": id, "name": file_type_name(id).map(Json::from).unwrap_or(Json::Null) })
    });

    let mut metadata = Map::new();
    for (k, v) in &f.metadata {
        metadata.insert(k.to_string(), value_json(v, opts.full_arrays));
    }

    let hp = hparams(f, arch);
    let (kv_bytes, kv_layers) = kv_cache_size(hp.as_ref());
    // Recurrent layers' state (f32) per sequence, whatever the context length.
    let state_bytes = hp.as_ref().map(|hp| hp.state_len.iter().sum::<usize>() * 4).filter(|&b| b > 0);
    let mut out = json!({
        "ggufVersion": f.version,
        "alignment": f.alignment,
        "fileBytes": f.bytes().len(),
        "dataOffset": f.data_offset,
        "architecture": arch,
        "name": f.get_str(keys::GENERAL_NAME),
        "parameterCount": params,
        "fileType": file_type,
        "quantMix": quant_mix,
        "tensorCount": f.tensors.len(),
        "tensorBytes": tensor_bytes,
        "contextLength": arch_u64(keys::CONTEXT_LENGTH),
        "embeddingLength": arch_u64(keys::EMBEDDING_LENGTH),
        "layers": arch_u64(keys::BLOCK_COUNT),
        "feedForwardLength": arch_json(keys::FEED_FORWARD_LENGTH),
        "heads": arch_json(keys::HEAD_COUNT),
        "headsKv": arch_json(keys::HEAD_COUNT_KV),
        "expertCount": arch_u64(keys::EXPERT_COUNT),
        "expertUsedCount": arch_u64(keys::EXPERT_USED_COUNT),
        "vocabSize": vocab_size,
        "tokenizerModel": f.get_str(keys::TOKENIZER_MODEL),
        "tokenizerPre": f.get_str(keys::TOKENIZER_PRE),
        "hasChatTemplate": f.get(keys::TOKENIZER_CHAT_TEMPLATE).is_some(),
        "specialTokens": special_tokens(f),
        "kvBytesPerToken": kv_bytes,
        "kvLayers": kv_layers,
        "stateBytesPerSequence": state_bytes,
        "offload": offload_summary(f, hp.as_ref()),
        "metadata": metadata,
    });
    if opts.tensors {
        let tensors: Vec<Json> = f
            .tensors
            .iter()
            .map(|t| json!({ "name": t.name, "shape": t.dims, "type": t.ty.name(), "offset": t.offset, "bytes": t.size }))
            .collect();
        out["tensors"] = Json::Array(tensors);
    }
    out
}

/// What `gpuLayers: 'all'` would put on a device ([`offload_plan`]): every block and the
/// output projection, the matrices and their bytes (None for an architecture this engine does
/// not run).
fn offload_summary(f: &GgufFile<'_>, hp: Option<&HParams>) -> Json {
    let Some(hp) = hp else { return Json::Null };
    let plan = offload_plan(f, hp.n_layer + 1);
    let bytes: usize = plan.iter().map(|t| t.len).sum();
    json!({ "layers": hp.n_layer, "output": plan.iter().any(|t| t.layer.is_none()), "matrices": plan.len(), "bytes": bytes })
}

/// Texts of the CONTROL and USER_DEFINED tokens (chat markers such as `<|im_start|>`), which
/// is what a fallback chat template is chosen by.
fn special_tokens(f: &GgufFile<'_>) -> Vec<String> {
    let (Some(tokens), Some(types)) = (f.get_array(keys::TOKENIZER_TOKENS), f.get_array(keys::TOKENIZER_TOKEN_TYPE)) else {
        return Vec::new();
    };
    tokens
        .strings()
        .zip(types.iter())
        .filter(|(_, t)| matches!(t.as_i64(), Some(TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED)))
        .take(SPECIAL_TOKENS_LIMIT)
        .map(|(text, _)| String::from_utf8_lossy(text).into_owned())
        .collect()
}

fn int_json(v: i128) -> Json {
    if v.abs() <= MAX_SAFE_INTEGER {
        Json::from(v as i64)
    } else {
        Json::String(v.to_string())
    }
}

fn float_json(v: f64, shortest: String) -> Json {
    if v.is_finite() {
        // Print through the value's own shortest form so an f32 1e-5 stays 1e-5.
        shortest.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null)
    } else {
        Json::String(shortest)
    }
}

fn value_json(v: &Value<'_>, full_arrays: bool) -> Json {
    match *v {
        Value::U8(x) => int_json(x as i128),
        Value::I8(x) => int_json(x as i128),
        Value::U16(x) => int_json(x as i128),
        Value::I16(x) => int_json(x as i128),
        Value::U32(x) => int_json(x as i128),
        Value::I32(x) => int_json(x as i128),
        Value::U64(x) => int_json(x as i128),
        Value::I64(x) => int_json(x as i128),
        Value::F32(x) => float_json(x as f64, x.to_string()),
        Value::F64(x) => float_json(x, x.to_string()),
        Value::Bool(b) => Json::Bool(b),
        Value::Str(s) => Json::String(String::from_utf8_lossy(s).into_owned()),
        Value::Array(a) => {
            if full_arrays || a.len() <= ARRAY_SUMMARY_LIMIT {
                Json::Array(a.iter().map(|x| value_json(&x, full_arrays)).collect())
            } else {
                json!({
                    "type": "array",
                    "itemType": a.elem.name(),
                    "length": a.len(),
                    "head": a.iter().take(ARRAY_PREVIEW).map(|x| value_json(&x, false)).collect::<Vec<_>>(),
                })
            }
        }
    }
}
