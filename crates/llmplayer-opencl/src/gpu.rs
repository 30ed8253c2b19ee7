//! One OpenCL device: a context and an in-order queue, the programs built so far (one per
//! weight type, on first use), weights uploaded once, and the ops on them.

use crate::devices::{select_device, DeviceInfo};
use crate::programs::{build_options, source, WG};
use crate::OpenClError;
use llmplayer_core::quant::row_bytes;
use llmplayer_core::GgmlType;
use ocl::{flags, Buffer, Context, Device, Kernel, Program, Queue};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Gpu {
    info: DeviceInfo,
    device: Device,
    context: Context,
    queue: Queue,
    programs: Mutex<HashMap<GgmlType, Program>>,
    reuse: Mutex<Reuse>,
}

/// What every product reuses instead of creating: each type's `matmul` kernel (its arguments
/// set per call) and the activation and output buffers, grown when a product needs more. One
/// product at a time per device: the queue runs them in order anyway.
#[derive(Default)]
struct Reuse {
    kernels: HashMap<GgmlType, Kernel>,
    /// (≥ n * cols) activations
    x: Option<Buffer<f32>>,
    /// (≥ n * rows) outputs
    out: Option<Buffer<f32>>,
}

/// A weight matrix in device memory: `rows` rows of `cols` elements of `ty`.
pub struct Weights {
    buf: Buffer<u8>,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
}

fn runtime(what: &str) -> impl Fn(ocl::Error) -> OpenClError + '_ {
    move |e| OpenClError::Runtime(format!("{what}: {e}"))
}

impl Gpu {
    /// The device `selector` names (see [`select_device`]); `allow_cpu` lets a CPU device
    /// (PoCL) be chosen when none is named.
    pub fn open(selector: Option<&str>, allow_cpu: bool) -> Result<Gpu, OpenClError> {
        let (info, device) = select_device(selector, allow_cpu)?;
        let context = Context::builder().devices(device).build().map_err(runtime("creating a context"))?;
        let queue = Queue::new(&context, device, None).map_err(runtime("creating a queue"))?;
        Ok(Gpu { info, device, context, queue, programs: Mutex::new(HashMap::new()), reuse: Mutex::new(Reuse::default()) })
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The program of `ty`, built on first use.
    fn program(&self, ty: GgmlType) -> Result<Program, OpenClError> {
        let mut programs = self.programs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = programs.get(&ty) {
            return Ok(p.clone());
        }
        let src = source(ty).ok_or_else(|| OpenClError::Unsupported(format!("{ty} has no OpenCL kernels yet")))?;
        let program = Program::builder()
            .devices(self.device)
            .src(src)
            .cmplr_opt(build_options())
            .build(&self.context)
            .map_err(|e| OpenClError::Build(format!("{ty} on {}: {e}", self.info.name)))?;
        programs.insert(ty, program.clone());
        Ok(program)
    }

    /// Uploads a `rows` × `cols` matrix of `ty` (its GGUF bytes), building the type's kernels.
    pub fn upload(&self, ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> Result<Weights, OpenClError> {
        let bs = ty.block_size() as usize;
        if rows == 0 || cols == 0 || cols % bs != 0 || bytes.len() != rows * row_bytes(ty, cols) {
            return Err(OpenClError::Runtime(format!("{ty} matrix {rows}x{cols} does not fit {} bytes", bytes.len())));
        }
        self.program(ty)?;
        let buf = Buffer::<u8>::builder()
            .queue(self.queue.clone())
            .flags(flags::MEM_READ_ONLY)
            .len(bytes.len())
            .copy_host_slice(bytes)
            .build()
            .map_err(runtime("uploading weights"))?;
        Ok(Weights { buf, ty, rows, cols })
    }

    /// `out (n, rows) = x (n, cols) · Wᵀ`, activations in f32, sums in f32.
    pub fn matmul(&self, w: &Weights, x: &[f32], n: usize, out: &mut [f32]) -> Result<(), OpenClError> {
        assert!(x.len() >= n * w.cols && out.len() >= n * w.rows, "matmul: buffers smaller than ({n}, {}) / ({n}, {})", w.cols, w.rows);
        if n == 0 {
            return Ok(());
        }
        let mut reuse = self.reuse.lock().unwrap_or_else(|p| p.into_inner());
        let r = &mut *reuse;
        let xb = self.grown(&mut r.x, n * w.cols)?;
        let ob = self.grown(&mut r.out, n * w.rows)?;
        xb.write(&x[..n * w.cols]).enq().map_err(runtime("uploading activations"))?;
        let kernel = match r.kernels.entry(w.ty) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                Kernel::builder()
                    .program(&self.program(w.ty)?)
                    .name("matmul")
                    .queue(self.queue.clone())
                    .arg(None::<&Buffer<u8>>)
                    .arg(None::<&Buffer<f32>>)
                    .arg(None::<&Buffer<f32>>)
                    .arg(0u32)
                    .arg(0u32)
                    .build()
                    .map_err(runtime("matmul kernel"))?,
            ),
        };
        let set = |e: ocl::Error| OpenClError::Runtime(format!("matmul arguments: {e}"));
        kernel.set_arg(0, &w.buf).map_err(set)?;
        kernel.set_arg(1, xb).map_err(set)?;
        kernel.set_arg(2, ob).map_err(set)?;
        kernel.set_arg(3, w.rows as u32).map_err(set)?;
        kernel.set_arg(4, w.cols as u32).map_err(set)?;
        // SAFETY: the kernel reads `rows` rows of `w` and n rows of x, writes n * rows outputs:
        // the buffers hold at least that many elements.
        unsafe { kernel.cmd().global_work_size([w.rows * WG, n]).local_work_size([WG, 1]).enq() }.map_err(runtime("matmul"))?;
        ob.read(&mut out[..n * w.rows]).enq().map_err(runtime("reading matmul output"))?;
        Ok(())
    }

    /// `slot`'s buffer, replaced by one of at least `len` elements (doubling) when smaller.
    fn grown<'s>(&self, slot: &'s mut Option<Buffer<f32>>, len: usize) -> Result<&'s Buffer<f32>, OpenClError> {
        if slot.as_ref().is_none_or(|b| b.len() < len) {
            let cap = len.next_power_of_two().max(1024);
            let b = Buffer::<f32>::builder().queue(self.queue.clone()).flags(flags::MEM_READ_WRITE).len(cap).build().map_err(runtime("allocating a work buffer"))?;
            *slot = Some(b);
        }
        Ok(slot.as_ref().expect("set above"))
    }

    /// Every element of `w` as f32 (row-major), decoded on the device.
    pub fn dequantize(&self, w: &Weights) -> Result<Vec<f32>, OpenClError> {
        let program = self.program(w.ty)?;
        let n = w.rows * w.cols;
        let ob = self.output(n)?;
        let kernel = Kernel::builder()
            .program(&program)
            .name("dequant")
            .queue(self.queue.clone())
            .global_work_size(n)
            .arg(&w.buf)
            .arg(&ob)
            .arg(n as u64)
            .build()
            .map_err(runtime("dequant kernel"))?;
        // SAFETY: one item per element of `w`, each writing its own output.
        unsafe { kernel.enq() }.map_err(runtime("dequant"))?;
        let mut out = vec![0f32; n];
        ob.read(&mut out).enq().map_err(runtime("reading dequant output"))?;
        Ok(out)
    }

    fn output(&self, len: usize) -> Result<Buffer<f32>, OpenClError> {
        Buffer::<f32>::builder().queue(self.queue.clone()).flags(flags::MEM_WRITE_ONLY).len(len).build().map_err(runtime("allocating output"))
    }
}
