//! The addon must load where no OpenCL ICD loader is installed. `cl-sys` (under `ocl`) asks the
//! linker for `-lOpenCL`, which would put `libOpenCL.so.1` in the binary's NEEDED list, and
//! loading would fail without it. On Linux this points `-lOpenCL` at an empty linker script
//! instead: the `cl*` functions `ocl` calls are defined by `src/loader.rs`, which opens the
//! real loader with `dlopen` the first time a device is asked for.
//! macOS ships OpenCL as a system framework (always present), so it links normally there.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        let dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("no-libopencl");
        std::fs::create_dir_all(&dir).expect("create OUT_DIR/no-libopencl");
        // A GNU ld script that adds nothing: no NEEDED entry for libOpenCL.
        std::fs::write(dir.join("libOpenCL.so"), "/* llmplayer: OpenCL is opened at run time (src/loader.rs) */\n")
            .expect("write the libOpenCL.so linker script");
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}
