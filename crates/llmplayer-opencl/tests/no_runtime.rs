//! Without an OpenCL runtime (the loader path points nowhere, as on a machine without one),
//! listing and opening devices are clear errors, not crashes. Its own test binary: the loader
//! is opened once per process.

use llmplayer_opencl::{devices, Gpu, OpenClError};

#[test]
fn a_missing_loader_is_a_clear_error() {
    std::env::set_var("LLMPLAYER_OPENCL_LIB", "/nonexistent/libOpenCL.so.1");
    // Only the env path must fail: on a machine with OpenCL installed the system loader would
    // still be found by name, so this checks the message when nothing loads at all.
    match devices() {
        Err(OpenClError::NoRuntime(m)) => assert!(m.contains("/nonexistent/libOpenCL.so.1"), "{m}"),
        Ok(list) => eprintln!("a system OpenCL loader is installed ({} devices): the missing-runtime path is covered by the addon test", list.len()),
        Err(e) => panic!("unexpected error {e}"),
    }
    if let Err(e) = Gpu::open(Some("no such device name"), true) {
        assert!(matches!(e, OpenClError::NoRuntime(_) | OpenClError::NoDevice(_)), "{e}");
    } else {
        panic!("opened a device for a selector that names none");
    }
}
