//! `NativeModel`: a loaded GGUF (tokenizer, template, summary; the engine when present).
//! Loading runs on the libuv thread pool so the event loop stays free.

use crate::bytes::{map_file, ModelBytes};
use llmplayer_core::gguf::GgufFile;
use llmplayer_core::runtime::{LoadError, TextModel};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

pub(crate) fn load_error(e: LoadError) -> Error {
    Error::new(Status::InvalidArg, format!("[{}] {}", e.code(), e))
}

#[napi]
pub struct NativeModel {
    text: Arc<TextModel>,
    #[allow(dead_code)]
    bytes: Arc<ModelBytes>,
}

fn load(bytes: ModelBytes) -> Result<NativeModel> {
    let text = {
        let f = GgufFile::parse(bytes.as_ref()).map_err(|e| load_error(e.into()))?;
        TextModel::from_gguf(&f).map_err(load_error)?
    };
    Ok(NativeModel { text: Arc::new(text), bytes: Arc::new(bytes) })
}

pub enum Source {
    Path(String),
    Bytes(Vec<u8>),
}

pub struct LoadTask(Option<Source>);

impl Task for LoadTask {
    type Output = NativeModel;
    type JsValue = NativeModel;
    fn compute(&mut self) -> Result<NativeModel> {
        match self.0.take() {
            Some(Source::Path(p)) => load(map_file(&p)?),
            Some(Source::Bytes(b)) => load(ModelBytes::Owned(b)),
            None => Err(Error::from_reason("model load task ran twice")),
        }
    }
    fn resolve(&mut self, _env: Env, model: NativeModel) -> Result<NativeModel> {
        Ok(model)
    }
}

/// Loads the GGUF at `path` (memory-mapped) off the JS thread.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn load_model_file(path: String) -> AsyncTask<LoadTask> {
    AsyncTask::new(LoadTask(Some(Source::Path(path))))
}

/// Loads GGUF bytes (copied out of the JS buffer) off the JS thread.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn load_model_bytes(bytes: &[u8]) -> AsyncTask<LoadTask> {
    AsyncTask::new(LoadTask(Some(Source::Bytes(bytes.to_vec()))))
}

#[napi]
impl NativeModel {
    #[napi]
    pub fn info_json(&self) -> String {
        self.text.info_json.clone()
    }
    #[napi]
    pub fn chat_template(&self) -> Option<String> {
        self.text.chat_template.clone()
    }
    #[napi]
    pub fn has_weights(&self) -> bool {
        self.text.has_weights
    }
    #[napi]
    pub fn n_vocab(&self) -> u32 {
        self.text.tokenizer.n_vocab() as u32
    }
    #[napi]
    pub fn bos(&self) -> Option<u32> {
        self.text.tokenizer.bos()
    }
    #[napi]
    pub fn eos(&self) -> Option<u32> {
        self.text.tokenizer.eos()
    }
    #[napi]
    pub fn eog_ids(&self) -> Uint32Array {
        Uint32Array::new(self.text.tokenizer.eog_ids().to_vec())
    }
    #[napi]
    pub fn token_id(&self, text: String) -> Option<u32> {
        self.text.tokenizer.token_id(text.as_bytes())
    }
    #[napi]
    pub fn tokenize(&self, text: String, add_special: bool, parse_special: bool) -> Uint32Array {
        Uint32Array::new(self.text.tokenize(&text, add_special, parse_special))
    }
    #[napi]
    pub fn detokenize(&self, ids: &[u32], special: bool) -> Buffer {
        self.text.detokenize(ids, special).into()
    }
    #[napi]
    pub fn token_piece(&self, id: u32, special: bool) -> Buffer {
        self.text.tokenizer.token_to_piece(id, special).to_vec().into()
    }
}
