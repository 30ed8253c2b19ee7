//! The OpenCL ICD loader, opened at run time. `build.rs` keeps `libOpenCL` out of the binary's
//! NEEDED list (so the addon loads on machines without OpenCL); the `cl*` functions that `ocl`
//! calls are defined here instead, each forwarding to the loader's function of the same name,
//! looked up on first use. Without a loader, or without a function in it (an OpenCL 1.1 loader
//! lacks the 1.2 ones), a call fails with an OpenCL error code — never a crash.
//!
//! The list below is every `cl*` function the crate's code paths reach: a test binary that
//! reaches one not listed fails to link (executables allow no undefined symbols), and the
//! addon test loads the addon, whose dynamic linking would refuse an unresolved one.

use libloading::Library;
use ocl::ffi::{
    cl_bool, cl_command_queue, cl_command_queue_properties, cl_context, cl_context_info, cl_context_properties, cl_device_id,
    cl_device_info, cl_device_type, cl_event, cl_event_info, cl_int, cl_kernel, cl_kernel_info, cl_kernel_work_group_info, cl_mem,
    cl_mem_flags, cl_mem_info, cl_platform_id, cl_platform_info, cl_program, cl_program_build_info, cl_program_info, cl_uint,
    cl_command_queue_info, cl_kernel_arg_info,
};
use std::ffi::c_void;
use std::os::raw::{c_char, c_uchar};
use std::sync::OnceLock;

/// Returned when the loader or one of its functions is missing (`CL_PLATFORM_NOT_FOUND_KHR`,
/// what an ICD loader with no platforms answers).
pub const NO_RUNTIME: cl_int = -1001;

/// Library names tried in order, unless `LLMPLAYER_OPENCL_LIB` (a path) is set: then only that
/// path is tried, so a user who names a loader gets that one or a clear error, never a silent
/// fallback to the system's.
#[cfg(target_os = "windows")]
const NAMES: &[&str] = &["OpenCL.dll"];
#[cfg(target_os = "macos")]
const NAMES: &[&str] = &["/System/Library/Frameworks/OpenCL.framework/OpenCL"];
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
const NAMES: &[&str] = &["libOpenCL.so.1", "libOpenCL.so"];

static LIBRARY: OnceLock<Result<Library, String>> = OnceLock::new();

/// Opens the ICD loader once; `Err` says what was tried.
pub fn load() -> Result<&'static Library, String> {
    LIBRARY
        .get_or_init(|| {
            let from_env = std::env::var("LLMPLAYER_OPENCL_LIB").ok().filter(|s| !s.is_empty());
            let names: Vec<&str> = match &from_env {
                Some(path) => vec![path.as_str()],
                None => NAMES.to_vec(),
            };
            let mut tried = Vec::new();
            for name in names {
                // SAFETY: an OpenCL ICD loader's initialisers only set up its own state.
                match unsafe { Library::new(name) } {
                    Ok(lib) => return Ok(lib),
                    // dlopen's message usually names the file already; name it only if not.
                    Err(e) => {
                        let e = e.to_string();
                        tried.push(if e.contains(name) { e } else { format!("{name}: {e}") })
                    }
                }
            }
            Err(match from_env {
                Some(_) => format!("the OpenCL loader LLMPLAYER_OPENCL_LIB names does not load ({})", tried.join("; ")),
                None => format!("no OpenCL runtime found (install an OpenCL driver and its ICD loader; tried {})", tried.join("; ")),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `name` (NUL-terminated) from the loader, as the function type `F`.
fn symbol<F: Copy>(name: &[u8]) -> Option<F> {
    let lib = load().ok()?;
    // SAFETY: `F` is the C signature the OpenCL headers give this name (the table below).
    unsafe { lib.get::<F>(name).ok().map(|s| *s) }
}

macro_rules! forward {
    ($( fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty, missing: $fail:expr; )*) => {
        $(
            #[no_mangle]
            #[allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
            pub unsafe extern "system" fn $name($($arg: $ty),*) -> $ret {
                type F = unsafe extern "system" fn($($ty),*) -> $ret;
                static FN: OnceLock<Option<F>> = OnceLock::new();
                match *FN.get_or_init(|| symbol::<F>(concat!(stringify!($name), "\0").as_bytes())) {
                    Some(f) => f($($arg),*),
                    None => $fail,
                }
            }
        )*
    };
}

/// For functions that return an object and report through `errcode_ret`.
unsafe fn missing_object<T>(errcode_ret: *mut cl_int) -> *mut T {
    if !errcode_ret.is_null() {
        *errcode_ret = NO_RUNTIME;
    }
    std::ptr::null_mut()
}

type Notify = Option<unsafe extern "C" fn(*const c_char, *const c_void, usize, *mut c_void)>;
type BuildNotify = Option<unsafe extern "C" fn(cl_program, *mut c_void)>;
type EventNotify = Option<unsafe extern "C" fn(cl_event, cl_int, *mut c_void)>;

forward! {
    fn clGetPlatformIDs(num_entries: cl_uint, platforms: *mut cl_platform_id, num_platforms: *mut cl_uint) -> cl_int, missing: NO_RUNTIME;
    fn clGetPlatformInfo(platform: cl_platform_id, param: cl_platform_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clGetDeviceIDs(platform: cl_platform_id, device_type: cl_device_type, num_entries: cl_uint, devices: *mut cl_device_id, num_devices: *mut cl_uint) -> cl_int, missing: NO_RUNTIME;
    fn clGetDeviceInfo(device: cl_device_id, param: cl_device_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clCreateContext(properties: *const cl_context_properties, num_devices: cl_uint, devices: *const cl_device_id, notify: Notify, user_data: *mut c_void, errcode_ret: *mut cl_int) -> cl_context, missing: missing_object(errcode_ret);
    fn clRetainContext(context: cl_context) -> cl_int, missing: NO_RUNTIME;
    fn clReleaseContext(context: cl_context) -> cl_int, missing: NO_RUNTIME;
    fn clGetContextInfo(context: cl_context, param: cl_context_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clCreateCommandQueue(context: cl_context, device: cl_device_id, properties: cl_command_queue_properties, errcode_ret: *mut cl_int) -> cl_command_queue, missing: missing_object(errcode_ret);
    fn clRetainCommandQueue(queue: cl_command_queue) -> cl_int, missing: NO_RUNTIME;
    fn clReleaseCommandQueue(queue: cl_command_queue) -> cl_int, missing: NO_RUNTIME;
    fn clGetCommandQueueInfo(queue: cl_command_queue, param: cl_command_queue_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clFlush(queue: cl_command_queue) -> cl_int, missing: NO_RUNTIME;
    fn clFinish(queue: cl_command_queue) -> cl_int, missing: NO_RUNTIME;
    fn clCreateBuffer(context: cl_context, flags: cl_mem_flags, size: usize, host_ptr: *mut c_void, errcode_ret: *mut cl_int) -> cl_mem, missing: missing_object(errcode_ret);
    fn clRetainMemObject(mem: cl_mem) -> cl_int, missing: NO_RUNTIME;
    fn clReleaseMemObject(mem: cl_mem) -> cl_int, missing: NO_RUNTIME;
    fn clGetMemObjectInfo(mem: cl_mem, param: cl_mem_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueReadBuffer(queue: cl_command_queue, buffer: cl_mem, blocking: cl_bool, offset: usize, size: usize, ptr: *mut c_void, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueWriteBuffer(queue: cl_command_queue, buffer: cl_mem, blocking: cl_bool, offset: usize, size: usize, ptr: *const c_void, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clCreateProgramWithSource(context: cl_context, count: cl_uint, strings: *const *const c_char, lengths: *const usize, errcode_ret: *mut cl_int) -> cl_program, missing: missing_object(errcode_ret);
    fn clRetainProgram(program: cl_program) -> cl_int, missing: NO_RUNTIME;
    fn clReleaseProgram(program: cl_program) -> cl_int, missing: NO_RUNTIME;
    fn clBuildProgram(program: cl_program, num_devices: cl_uint, devices: *const cl_device_id, options: *const c_char, notify: BuildNotify, user_data: *mut c_void) -> cl_int, missing: NO_RUNTIME;
    fn clGetProgramInfo(program: cl_program, param: cl_program_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clGetProgramBuildInfo(program: cl_program, device: cl_device_id, param: cl_program_build_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clCreateKernel(program: cl_program, name: *const c_char, errcode_ret: *mut cl_int) -> cl_kernel, missing: missing_object(errcode_ret);
    fn clRetainKernel(kernel: cl_kernel) -> cl_int, missing: NO_RUNTIME;
    fn clReleaseKernel(kernel: cl_kernel) -> cl_int, missing: NO_RUNTIME;
    fn clSetKernelArg(kernel: cl_kernel, index: cl_uint, size: usize, value: *const c_void) -> cl_int, missing: NO_RUNTIME;
    fn clGetKernelInfo(kernel: cl_kernel, param: cl_kernel_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clGetKernelArgInfo(kernel: cl_kernel, index: cl_uint, param: cl_kernel_arg_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clGetKernelWorkGroupInfo(kernel: cl_kernel, device: cl_device_id, param: cl_kernel_work_group_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueNDRangeKernel(queue: cl_command_queue, kernel: cl_kernel, dims: cl_uint, offset: *const usize, global: *const usize, local: *const usize, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clWaitForEvents(num_events: cl_uint, events: *const cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clGetEventInfo(event: cl_event, param: cl_event_info, size: usize, value: *mut c_void, size_ret: *mut usize) -> cl_int, missing: NO_RUNTIME;
    fn clRetainEvent(event: cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clReleaseEvent(event: cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clSetEventCallback(event: cl_event, command_type: cl_int, notify: EventNotify, user_data: *mut c_void) -> cl_int, missing: NO_RUNTIME;
    // Reached through `ocl`'s generic buffer and program commands (not called by this crate today).
    fn clCreateProgramWithBinary(context: cl_context, num_devices: cl_uint, devices: *const cl_device_id, lengths: *const usize, binaries: *const *const c_uchar, binary_status: *mut cl_int, errcode_ret: *mut cl_int) -> cl_program, missing: missing_object(errcode_ret);
    fn clEnqueueCopyBuffer(queue: cl_command_queue, src: cl_mem, dst: cl_mem, src_offset: usize, dst_offset: usize, size: usize, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueCopyBufferRect(queue: cl_command_queue, src: cl_mem, dst: cl_mem, src_origin: *const usize, dst_origin: *const usize, region: *const usize, src_row_pitch: usize, src_slice_pitch: usize, dst_row_pitch: usize, dst_slice_pitch: usize, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueCopyBufferToImage(queue: cl_command_queue, src: cl_mem, image: cl_mem, src_offset: usize, dst_origin: *const usize, region: *const usize, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueFillBuffer(queue: cl_command_queue, buffer: cl_mem, pattern: *const c_void, pattern_size: usize, offset: usize, size: usize, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueReadBufferRect(queue: cl_command_queue, buffer: cl_mem, blocking: cl_bool, buffer_origin: *const usize, host_origin: *const usize, region: *const usize, buffer_row_pitch: usize, buffer_slice_pitch: usize, host_row_pitch: usize, host_slice_pitch: usize, ptr: *mut c_void, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueWriteBufferRect(queue: cl_command_queue, buffer: cl_mem, blocking: cl_bool, buffer_origin: *const usize, host_origin: *const usize, region: *const usize, buffer_row_pitch: usize, buffer_slice_pitch: usize, host_row_pitch: usize, host_slice_pitch: usize, ptr: *const c_void, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueAcquireGLObjects(queue: cl_command_queue, num_objects: cl_uint, objects: *const cl_mem, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clEnqueueReleaseGLObjects(queue: cl_command_queue, num_objects: cl_uint, objects: *const cl_mem, num_events: cl_uint, wait_list: *const cl_event, event: *mut cl_event) -> cl_int, missing: NO_RUNTIME;
    fn clSetUserEventStatus(event: cl_event, status: cl_int) -> cl_int, missing: NO_RUNTIME;
}
