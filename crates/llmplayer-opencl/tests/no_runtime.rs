//! Without an OpenCL runtime (`LLMPLAYER_OPENCL_LIB` names a loader that does not exist: only
//! that path is tried), listing and opening devices are clear errors, not crashes. Its own test
//! binary: the loader is opened once per process.

use llmplayer_opencl::{devices, Gpu, OpenClError};

#[test]
fn a_missing_loader_is_a_clear_error() {
    std::env::set_var("LLMPLAYER_OPENCL_LIB", "/nonexistent/libOpenCL.so.1");
    match devices() {
        Err(OpenClError::NoRuntime(m)) => {
            assert!(m.contains("/nonexistent/libOpenCL.so.1"), "{m}");
            assert!(m.contains("LLMPLAYER_OPENCL_LIB"), "{m}");
        }
        Ok(list) => panic!("the system loader was used although LLMPLAYER_OPENCL_LIB names another ({} devices)", list.len()),
        Err(e) => panic!("want NoRuntime, got {e}"),
    }
    match Gpu::open(Some("no such device name"), true) {
        Err(OpenClError::NoRuntime(m)) => assert!(m.contains("/nonexistent/libOpenCL.so.1"), "{m}"),
        Err(e) => panic!("want NoRuntime, got {e}"),
        Ok(_) => panic!("opened a device without a runtime"),
    }
}
