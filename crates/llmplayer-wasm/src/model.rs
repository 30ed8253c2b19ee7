//! `WasmModel` / `WasmSession`: the same surface as the native `NativeModel` /
//! `NativeSession`, synchronous (one thread). The bytes are copied into linear memory once;
//! WebAssembly cannot borrow an ArrayBuffer.

use crate::batcher::WasmBatcher;
use crate::js_error;
use llmplayer_core::batcher::BatchOptions;
use llmplayer_core::runtime::{sampling_params_from_json, RuntimeModel, RuntimeOptions, RuntimeSession};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct WasmModel {
    rt: RuntimeModel,
}

#[wasm_bindgen]
impl WasmModel {
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>, vocab_only: bool, kv_type: Option<String>, flash_attn: Option<bool>, rounding: Option<String>) -> Result<WasmModel, JsValue> {
        let opts = RuntimeOptions { n_threads: Some(1), vocab_only, kv_type, flash_attn: flash_attn.unwrap_or(false), rounding, offload: None };
        Ok(WasmModel { rt: RuntimeModel::load(Arc::new(bytes), &opts).map_err(js_error)? })
    }
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, n_ctx: u32, kv_type: Option<String>) -> Result<WasmSession, JsValue> {
        Ok(WasmSession { s: self.rt.new_session(n_ctx as usize, kv_type.as_deref()).map_err(js_error)? })
    }
    /// A continuous-batching scheduler (see the native `createBatcher`).
    #[wasm_bindgen(js_name = createBatcher)]
    pub fn create_batcher(&self, n_seq: u32, n_ctx: u32, kv_size: Option<u32>, kv_type: Option<String>, n_batch: Option<u32>) -> Result<WasmBatcher, JsValue> {
        let opts = BatchOptions { n_seq: n_seq as usize, n_ctx: n_ctx as usize, kv_size: kv_size.map(|n| n as usize), kv_type, n_batch: n_batch.map(|n| n as usize) };
        Ok(WasmBatcher { b: self.rt.new_batcher(&opts).map_err(js_error)?, next_id: 1 })
    }
    /// `{ ppl, nll, nPredictions }` of a token list (see `RuntimeModel::perplexity`).
    pub fn perplexity(&self, tokens: &[u32], n_ctx: Option<u32>, kv_type: Option<String>) -> Result<js_sys::Object, JsValue> {
        let p = self.rt.perplexity(tokens, n_ctx.map(|n| n as usize), kv_type.as_deref()).map_err(js_error)?;
        let o = js_sys::Object::new();
        js_sys::Reflect::set(&o, &"ppl".into(), &p.ppl.into())?;
        js_sys::Reflect::set(&o, &"nll".into(), &p.nll.into())?;
        js_sys::Reflect::set(&o, &"nPredictions".into(), &(p.n_predictions as u32).into())?;
        Ok(o)
    }
    /// The pooled embedding of a token list (see `RuntimeModel::embed`; not normalized).
    pub fn embed(&self, tokens: &[u32], pooling: Option<String>, n_ctx: u32) -> Result<Vec<f32>, JsValue> {
        self.rt.embed(tokens, pooling.as_deref(), n_ctx as usize).map_err(js_error)
    }
    /// Compiles a grammar (JSON) and drops it (see `RuntimeModel::check_grammar`).
    #[wasm_bindgen(js_name = checkGrammar)]
    pub fn check_grammar(&self, grammar_json: &str) -> Result<(), JsValue> {
        self.rt.check_grammar(grammar_json).map_err(js_error)
    }
    /// The pooling `embed` uses when given none, or the error saying why there is none.
    #[wasm_bindgen(js_name = defaultPooling)]
    pub fn default_pooling(&self) -> Result<String, JsValue> {
        Ok(self.rt.default_pooling().map_err(js_error)?.to_string())
    }
    #[wasm_bindgen(js_name = nCtxTrain)]
    pub fn n_ctx_train(&self) -> Option<u32> {
        self.rt.n_ctx_train().map(|n| n as u32)
    }
    #[wasm_bindgen(js_name = infoJson)]
    pub fn info_json(&self) -> String {
        self.rt.text.info_json.clone()
    }
    #[wasm_bindgen(js_name = chatTemplate)]
    pub fn chat_template(&self) -> Option<String> {
        self.rt.text.chat_template.clone()
    }
    #[wasm_bindgen(js_name = hasWeights)]
    pub fn has_weights(&self) -> bool {
        self.rt.text.has_weights
    }
    #[wasm_bindgen(js_name = nVocab)]
    pub fn n_vocab(&self) -> u32 {
        self.rt.text.tokenizer.n_vocab() as u32
    }
    pub fn bos(&self) -> Option<u32> {
        self.rt.text.tokenizer.bos()
    }
    pub fn eos(&self) -> Option<u32> {
        self.rt.text.tokenizer.eos()
    }
    #[wasm_bindgen(js_name = eogIds)]
    pub fn eog_ids(&self) -> Vec<u32> {
        self.rt.text.tokenizer.eog_ids().to_vec()
    }
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.rt.text.tokenize(text, add_special, parse_special)
    }
    /// `plain`: flat UTF-8 byte ranges where control tokens are not parsed.
    #[wasm_bindgen(js_name = tokenizeWithPlain)]
    pub fn tokenize_with_plain(&self, text: &str, add_special: bool, plain: &[u32]) -> Vec<u32> {
        self.rt.text.tokenize_with_plain(text, add_special, plain)
    }
    pub fn detokenize(&self, ids: &[u32], special: bool) -> Vec<u8> {
        self.rt.text.detokenize(ids, special)
    }
    #[wasm_bindgen(js_name = tokenPiece)]
    pub fn token_piece(&self, id: u32, special: bool) -> Vec<u8> {
        self.rt.text.tokenizer.token_to_piece(id, special).to_vec()
    }
}

#[wasm_bindgen]
pub struct WasmSession {
    s: RuntimeSession,
}

#[wasm_bindgen]
impl WasmSession {
    pub fn evaluate(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, JsValue> {
        Ok(self.s.evaluate(tokens, all_logits).map_err(js_error)?.to_vec())
    }
    /// `{ nPrompt, nReused }`, the shape of the native `NativePromptStats`.
    pub fn begin(&mut self, tokens: &[u32], params: &str) -> Result<js_sys::Object, JsValue> {
        let params = sampling_params_from_json(params).map_err(js_error)?;
        let stats = self.s.begin(tokens, params).map_err(js_error)?;
        let o = js_sys::Object::new();
        js_sys::Reflect::set(&o, &"nPrompt".into(), &(stats.n_prompt as u32).into())?;
        js_sys::Reflect::set(&o, &"nReused".into(), &(stats.n_reused as u32).into())?;
        Ok(o)
    }
    pub fn next(&mut self) -> Result<u32, JsValue> {
        Ok(self.s.next().map_err(js_error)?.token)
    }
    /// `{ token, logprob?, topLogprobs: [{ id, logprob }] }`, the shape of the native
    /// `NativeStep` (`logprob` absent unless `begin` asked for logprobs).
    #[wasm_bindgen(js_name = nextStep)]
    pub fn next_step(&mut self) -> Result<js_sys::Object, JsValue> {
        let step = self.s.next().map_err(js_error)?;
        let o = js_sys::Object::new();
        js_sys::Reflect::set(&o, &"token".into(), &step.token.into())?;
        if let Some(lp) = step.logprob {
            js_sys::Reflect::set(&o, &"logprob".into(), &lp.into())?;
        }
        let top = js_sys::Array::new();
        for t in step.top_logprobs {
            let e = js_sys::Object::new();
            js_sys::Reflect::set(&e, &"id".into(), &t.id.into())?;
            js_sys::Reflect::set(&e, &"logprob".into(), &t.logprob.into())?;
            top.push(&e);
        }
        js_sys::Reflect::set(&o, &"topLogprobs".into(), &top)?;
        Ok(o)
    }
    #[wasm_bindgen(js_name = nCtx)]
    pub fn n_ctx(&self) -> u32 {
        self.s.n_ctx() as u32
    }
    #[wasm_bindgen(js_name = kvType)]
    pub fn kv_type(&self) -> String {
        self.s.kv_type().to_string()
    }
    #[wasm_bindgen(js_name = kvBytesPerToken)]
    pub fn kv_bytes_per_token(&self) -> u32 {
        self.s.kv_bytes_per_token() as u32
    }
    /// Prompt tokens a `begin` would reuse.
    pub fn reusable(&self, tokens: &[u32]) -> u32 {
        self.s.reusable(tokens) as u32
    }
    #[wasm_bindgen(js_name = nPast)]
    pub fn n_past(&self) -> u32 {
        self.s.n_past() as u32
    }
    pub fn clear(&mut self) {
        self.s.clear();
    }
}
