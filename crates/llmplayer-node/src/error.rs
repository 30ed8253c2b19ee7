//! Engine errors as JS `Error`s whose fields are properties: `message`, `code` (`GGUF_*`,
//! `MODEL_*`, …) and `offset` (the file's byte for GGUF parse errors, else null). Nothing is
//! folded into the message for the SDK to parse back out.

use llmplayer_core::runtime::RuntimeError;
use napi::bindgen_prelude::*;

/// An engine error's fields. Tasks fail on a libuv thread, where no JS value can be made:
/// `compute` keeps the fields and `reject`, back on the JS thread, builds the Error.
pub struct Failure {
    code: String,
    message: String,
    offset: Option<u64>,
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Failure {
        Failure { code: e.code(), message: e.message(), offset: e.offset() }
    }
}

impl Failure {
    /// The JS `Error` (napi throws or rejects with this very object).
    pub fn into_js(self, env: &Env) -> Error {
        let build = || -> Result<Error> {
            let mut obj = env.create_error(Error::new(Status::GenericFailure, self.message.clone()))?;
            obj.set_named_property("code", self.code.as_str())?;
            obj.set_named_property("offset", self.offset.map(|o| o as f64))?;
            Ok(Error::from(obj.to_unknown()))
        };
        build().unwrap_or_else(|e| e)
    }
}

/// The error of a synchronous call, made on the JS thread.
pub fn throw(env: &Env, e: impl Into<RuntimeError>) -> Error {
    Failure::from(e.into()).into_js(env)
}

/// For tasks: records the fields in `slot` for `reject` and returns a placeholder error.
pub fn keep(slot: &mut Option<Failure>, e: RuntimeError) -> Error {
    let f = Failure::from(e);
    let placeholder = Error::from_reason(f.message.clone());
    *slot = Some(f);
    placeholder
}

/// A task's rejection: the kept engine error, else `err` (a file that cannot be opened …).
pub fn reject<T>(slot: &mut Option<Failure>, env: &Env, err: Error) -> Result<T> {
    Err(match slot.take() {
        Some(f) => f.into_js(env),
        None => err,
    })
}
