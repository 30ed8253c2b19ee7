//! `WasmBatcher`: the continuous-batching scheduler, synchronous (one thread), with the shape
//! of the native `NativeBatcher`.

use crate::js_error;
use llmplayer_core::batcher::{Batcher, Event};
use llmplayer_core::runtime::sampling_params_from_json;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct WasmBatcher {
    pub(crate) b: Batcher,
    pub(crate) next_id: u32,
}

fn set(o: &js_sys::Object, key: &str, value: JsValue) -> Result<(), JsValue> {
    js_sys::Reflect::set(o, &key.into(), &value).map(|_| ())
}

fn event(e: &Event) -> Result<js_sys::Object, JsValue> {
    let o = js_sys::Object::new();
    match e {
        Event::Started { id, n_prompt, n_reused } => {
            set(&o, "id", (*id as u32).into())?;
            set(&o, "kind", "started".into())?;
            set(&o, "nPrompt", (*n_prompt as u32).into())?;
            set(&o, "nReused", (*n_reused as u32).into())?;
        }
        Event::Token { id, token, logprob, top_logprobs } => {
            set(&o, "id", (*id as u32).into())?;
            set(&o, "kind", "token".into())?;
            set(&o, "token", (*token).into())?;
            if let Some(lp) = logprob {
                set(&o, "logprob", (*lp).into())?;
            }
            let top = js_sys::Array::new();
            for t in top_logprobs {
                let e = js_sys::Object::new();
                set(&e, "id", t.id.into())?;
                set(&e, "logprob", t.logprob.into())?;
                top.push(&e);
            }
            set(&o, "topLogprobs", top.into())?;
        }
        Event::Full { id } => {
            set(&o, "id", (*id as u32).into())?;
            set(&o, "kind", "full".into())?;
        }
        Event::Failed { id, code, message } => {
            set(&o, "id", (*id as u32).into())?;
            set(&o, "kind", "error".into())?;
            set(&o, "code", code.as_str().into())?;
            set(&o, "message", message.as_str().into())?;
        }
    }
    Ok(o)
}

#[wasm_bindgen]
impl WasmBatcher {
    /// Checks a request and queues it for the next step; returns its id.
    pub fn add(&mut self, tokens: &[u32], params: &str, max_tokens: u32) -> Result<u32, JsValue> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let params = sampling_params_from_json(params).map_err(js_error)?;
        let req = self.b.limits().request(id as u64, tokens.to_vec(), params, max_tokens as usize).map_err(js_error)?;
        self.b.submit(req);
        Ok(id)
    }
    pub fn finish(&mut self, id: u32) {
        self.b.finish(id as u64);
    }
    /// The events of one step, shaped as the native `NativeBatchEvent`s.
    pub fn step(&mut self) -> Result<js_sys::Array, JsValue> {
        let out = js_sys::Array::new();
        for e in self.b.step().map_err(js_error)? {
            out.push(&event(e)?.into());
        }
        Ok(out)
    }
    /// `{ active, waiting, kvSize, kvActive, kvAllocated, kvBytes }`.
    pub fn stats(&self) -> Result<js_sys::Object, JsValue> {
        let s = self.b.stats();
        let o = js_sys::Object::new();
        set(&o, "active", (s.active as u32).into())?;
        set(&o, "waiting", (s.waiting as u32).into())?;
        set(&o, "kvSize", (s.kv_size as u32).into())?;
        set(&o, "kvActive", (s.kv_active as u32).into())?;
        set(&o, "kvAllocated", (s.kv_allocated as u32).into())?;
        set(&o, "kvBytes", (s.kv_bytes as f64).into())?;
        Ok(o)
    }
}
