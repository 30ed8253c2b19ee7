//! `WasmModel`: the same surface as the native `NativeModel`, synchronous (single thread).
//! The bytes are copied into linear memory once; WebAssembly cannot borrow an ArrayBuffer.

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::runtime::{LoadError, TextModel};
use wasm_bindgen::prelude::*;

fn load_error(e: LoadError) -> JsValue {
    js_sys::Error::new(&format!("[{}] {}", e.code(), e)).into()
}

#[wasm_bindgen]
pub struct WasmModel {
    text: TextModel,
    #[allow(dead_code)]
    bytes: Vec<u8>,
}

#[wasm_bindgen]
impl WasmModel {
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>) -> Result<WasmModel, JsValue> {
        let text = {
            let f = GgufFile::parse(&bytes).map_err(|e| load_error(e.into()))?;
            TextModel::from_gguf(&f).map_err(load_error)?
        };
        Ok(WasmModel { text, bytes })
    }
    #[wasm_bindgen(js_name = infoJson)]
    pub fn info_json(&self) -> String {
        self.text.info_json.clone()
    }
    #[wasm_bindgen(js_name = chatTemplate)]
    pub fn chat_template(&self) -> Option<String> {
        self.text.chat_template.clone()
    }
    #[wasm_bindgen(js_name = hasWeights)]
    pub fn has_weights(&self) -> bool {
        self.text.has_weights
    }
    #[wasm_bindgen(js_name = nVocab)]
    pub fn n_vocab(&self) -> u32 {
        self.text.tokenizer.n_vocab() as u32
    }
    pub fn bos(&self) -> Option<u32> {
        self.text.tokenizer.bos()
    }
    pub fn eos(&self) -> Option<u32> {
        self.text.tokenizer.eos()
    }
    #[wasm_bindgen(js_name = eogIds)]
    pub fn eog_ids(&self) -> Vec<u32> {
        self.text.tokenizer.eog_ids().to_vec()
    }
    #[wasm_bindgen(js_name = tokenId)]
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.text.tokenizer.token_id(text.as_bytes())
    }
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.text.tokenize(text, add_special, parse_special)
    }
    pub fn detokenize(&self, ids: &[u32], special: bool) -> Vec<u8> {
        self.text.detokenize(ids, special)
    }
    #[wasm_bindgen(js_name = tokenPiece)]
    pub fn token_piece(&self, id: u32, special: bool) -> Vec<u8> {
        self.text.tokenizer.token_to_piece(id, special).to_vec()
    }
}
