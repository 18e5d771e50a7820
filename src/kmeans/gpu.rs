//! The GPU Lloyd backend: the data is uploaded once (column-major, in chunks that fit
//! the device's largest storage binding) and stays on the device for every
//! iteration and restart. Data beyond the device's memory (or a given budget) stays
//! on the host instead and is streamed chunk by chunk into one device buffer on
//! every step, which works but gives up most of the GPU's advantage. A step uploads the centroids, runs the fused
//! assign-and-sum kernel over every chunk and a reduction kernel, and reads back one
//! row of `k·d + k + 1` floats (sums, weights, inertia) plus the changed-label count.
//! Everything else of the iteration happens in the shared driver (`kmeans::lloyd`),
//! so the two backends cannot drift apart in their logic.
//!
//! Sums are f32 on the device (WGSL has no f64), accumulated per 256-row tile and
//! then in a fixed tree, so results are bit-identical from run to run.

use std::time::Instant;

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::{LloydBackend, StepStats};
use crate::error::{Error, Result};
use crate::gpu::{Binding, GpuContext};
use crate::matrix::Matrix;

/// Invocations per workgroup; `WG` in both shaders.
pub const WORKGROUP_SIZE: usize = 256;
/// Most features the GPU kernel holds in registers per row.
pub const MAX_GPU_FEATURES: usize = 128;
/// Features per summing task at most; `DPT` in the shader.
const MAX_DPT: usize = 4;
/// Workgroups per dispatch at most: each loops over its share of row tiles and owns
/// one slot of partial sums.
const MAX_GROUPS: usize = 2048;
/// Centroid floats staged in workgroup memory; `CT_FLOATS` in the shader.
const CT_FLOATS: usize = 2048;

/// The assign shader's bindings, in order. Explicit rather than derived from the
/// shader, so a binding a specialisation happens not to touch cannot vanish from
/// the layout.
const ASSIGN_BINDINGS: [Binding; 8] = [
    Binding::Uniform,   // params
    Binding::Read,      // x
    Binding::Read,      // cent
    Binding::Read,      // w
    Binding::ReadWrite, // labels
    Binding::ReadWrite, // dist
    Binding::ReadWrite, // partials
    Binding::ReadWrite, // changed
];

const ASSIGN_WGSL: &str = include_str!("../../shaders/kmeans_assign.wgsl");
const UPDATE_WGSL: &str = include_str!("../../shaders/kmeans_update.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AssignParams {
    rows: u32,
    d: u32,
    k: u32,
    slot: u32,
    groups: u32,
    flags: u32,
    tile_k: u32,
    stride: u32,
    dpt: u32,
    pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    slots: u32,
    stride: u32,
    pad: [u32; 2],
}

struct Chunk {
    rows: usize,
    /// The chunk's rows on the device; in streaming mode one buffer shared by all
    /// chunks, refilled from `host` before each chunk's dispatch.
    data: wgpu::Buffer,
    host: Option<Vec<f32>>,
    labels: wgpu::Buffer,
    dist: wgpu::Buffer,
    weights: wgpu::Buffer,
    params: wgpu::Buffer,
    slot: usize,
    groups: usize,
}

/// Buffers whose size depends on k, rebuilt when k changes.
struct KBuffers {
    k: usize,
    assign: wgpu::ComputePipeline,
    stride: usize,
    slots: usize,
    cent: wgpu::Buffer,
    partials: wgpu::Buffer,
    result: wgpu::Buffer,
    readback: wgpu::Buffer,
    changed: wgpu::Buffer,
    _reduce_params: wgpu::Buffer,
    assign_binds: Vec<wgpu::BindGroup>,
    reduce_bind: wgpu::BindGroup,
}

/// K-means on the GPU; see the module docs.
pub struct GpuLloyd<'a> {
    ctx: &'a GpuContext,
    n: usize,
    d: usize,
    d4: usize,
    weighted: bool,
    chunks: Vec<Chunk>,
    reduce: wgpu::ComputePipeline,
    kb: Option<KBuffers>,
    first: bool,
    upload_s: f64,
    staged: bool,
    max_groups: usize,
    /// Timestamp queries (assign begin/end, reduce begin/end) and ns per tick.
    timer: Option<(wgpu::QuerySet, wgpu::Buffer, f64)>,
    kernel_log: Vec<(f64, f64)>,
    probe_skip_sums: bool,
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl<'a> GpuLloyd<'a> {
    /// Uploads `x` (and weights) to the device of `ctx`.
    pub fn new(ctx: &'a GpuContext, x: &Matrix, w: Option<&[f32]>) -> Result<Self> {
        let (n, d) = (x.n(), x.d());
        if d == 0 || d > MAX_GPU_FEATURES {
            return Err(Error::param(
                "backend",
                format!("the GPU backend handles 1 to {MAX_GPU_FEATURES} features, got {d}; use --backend cpu"),
            ));
        }
        let d4 = d.next_multiple_of(4);
        let t = Instant::now();
        // Rows per chunk: the largest multiple of the workgroup size whose column
        // block fits one binding (and, when streaming, the memory budget).
        let by_binding = (ctx.max_binding() / (4 * d as u64)) as usize;
        let round = |rows: usize| (rows / WORKGROUP_SIZE * WORKGROUP_SIZE).max(WORKGROUP_SIZE);
        let data_bytes = (n * d * 4) as u64;
        let over_budget = ctx.max_device_bytes().is_some_and(|b| data_bytes > b);
        let mut chunks = if over_budget {
            None
        } else {
            match upload(ctx, x, w, round(by_binding), false) {
                Ok(c) => Some(c),
                // Out of device memory: fall back to streaming.
                Err(Error::Gpu(msg)) if msg.to_lowercase().contains("memory") => None,
                Err(e) => return Err(e),
            }
        };
        if chunks.is_none() {
            let budget = ctx.max_device_bytes().unwrap_or(STREAM_CHUNK_BYTES);
            let rows = round(by_binding.min((budget / (4 * d as u64)) as usize));
            chunks = Some(upload(ctx, x, w, rows, true)?);
        }
        let chunks = chunks.expect("set above");
        let stage =
            SHARED_FIXED_BYTES + (WORKGROUP_SIZE + 1) * d4 * 4 <= ctx.max_workgroup_storage();
        let reduce = ctx.pipeline("kmeans_update", UPDATE_WGSL, "reduce", None)?;
        let timer = ctx.timestamps().map(|period| {
            let qs = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kmeans timer"),
                ty: wgpu::QueryType::Timestamp,
                count: 4,
            });
            let resolve = ctx.buffer(
                "kmeans timer resolve",
                32,
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            );
            (qs, resolve, period)
        });
        ctx.wait()?;
        Ok(GpuLloyd {
            staged: stage,
            max_groups: ctx.max_groups().unwrap_or(MAX_GROUPS).max(1),
            timer,
            kernel_log: Vec::new(),
            probe_skip_sums: false,
            ctx,
            n,
            d,
            d4,
            weighted: w.is_some(),
            chunks,
            reduce,
            kb: None,
            first: true,
            upload_s: t.elapsed().as_secs_f64(),
        })
    }

    /// True when the data did not fit the device and is streamed from host memory
    /// on every iteration.
    pub fn streaming(&self) -> bool {
        self.chunks.first().is_some_and(|c| c.host.is_some())
    }

    /// Seconds spent uploading the data and building pipelines.
    pub fn upload_seconds(&self) -> f64 {
        self.upload_s
    }

    /// GPU time of each step's assign and reduce kernels, in seconds, when the
    /// adapter has timestamp queries (empty otherwise).
    pub fn kernel_log(&self) -> &[(f64, f64)] {
        &self.kernel_log
    }

    /// Timing probe: skip the summing phase of the kernel, so `segmenta bench` can
    /// split a step's time between assigning and summing. The sums are then zero
    /// and the fit is meaningless; never set outside timing.
    pub fn set_probe_skip_sums(&mut self, on: bool) {
        self.probe_skip_sums = on;
    }

    /// Whether each tile's rows are staged in workgroup memory for the summing pass
    /// (true when they fit the adapter's workgroup memory).
    pub fn staged(&self) -> bool {
        self.staged
    }

    /// Number of chunks the data was split into (one unless it exceeds a binding).
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    fn ensure_k(&mut self, k: usize) -> Result<()> {
        if self.kb.as_ref().is_some_and(|b| b.k == k) {
            return Ok(());
        }
        let ctx = self.ctx;
        let stride = k * self.d + k + 1;
        // Keep the partial-sum buffer within one binding: fewer workgroups per chunk
        // if k·d is large.
        let max_slots = (ctx.max_binding() / (4 * stride as u64)).max(1) as usize;
        let per_chunk = (max_slots / self.chunks.len()).max(1);
        let mut slot = 0;
        for c in &mut self.chunks {
            c.groups = c
                .rows
                .div_ceil(WORKGROUP_SIZE)
                .min(self.max_groups)
                .min(per_chunk);
            c.slot = slot;
            slot += c.groups;
        }
        let slots = slot;
        if (slots * stride * 4) as u64 > ctx.max_binding() {
            return Err(Error::param(
                "k",
                format!(
                    "k x d = {} x {} is too large for this GPU's bindings; use --backend cpu",
                    k, self.d
                ),
            ));
        }
        let cent = ctx.buffer("centroids", (k * self.d4 * 4) as u64, STORAGE);
        let partials = ctx.buffer("partials", (slots * stride * 4) as u64, STORAGE);
        // sums, weights and inertia; the changed count; 4 timestamps (u64).
        let result = ctx.buffer("result", ((stride + 1 + 8) * 4) as u64, STORAGE);
        let readback = ctx.buffer(
            "result readback",
            ((stride + 1 + 8) * 4) as u64,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let changed = ctx.buffer("changed", 4, STORAGE);
        let reduce_params = ctx.buffer_init(
            "reduce params",
            bytemuck::bytes_of(&ReduceParams {
                slots: slots as u32,
                stride: stride as u32,
                pad: [0; 2],
            }),
            wgpu::BufferUsages::UNIFORM,
        );
        let source = specialise(self.d, self.d4, self.staged)?;
        let assign = ctx.pipeline("kmeans_assign", &source, "assign", Some(&ASSIGN_BINDINGS))?;
        let layout = assign.get_bind_group_layout(0);
        let assign_binds = self
            .chunks
            .iter()
            .map(|c| {
                let bufs = [
                    &c.params, &c.data, &cent, &c.weights, &c.labels, &c.dist, &partials, &changed,
                ];
                let entries: Vec<wgpu::BindGroupEntry> = bufs
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: b.as_entire_binding(),
                    })
                    .collect();
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("kmeans_assign"),
                    layout: &layout,
                    entries: &entries,
                })
            })
            .collect();
        let reduce_bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("kmeans_update"),
            layout: &self.reduce.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: reduce_params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: partials.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: result.as_entire_binding(),
                },
            ],
        });
        ctx.check()?;
        self.kb = Some(KBuffers {
            k,
            assign,
            stride,
            slots,
            cent,
            partials,
            result,
            readback,
            changed,
            _reduce_params: reduce_params,
            assign_binds,
            reduce_bind,
        });
        Ok(())
    }

    fn read_rows<T: Pod>(&self, pick: impl Fn(&Chunk) -> &wgpu::Buffer) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(self.n);
        for c in &self.chunks {
            let bytes = self.ctx.read_bytes(pick(c), 0, (c.rows * 4) as u64)?;
            out.extend_from_slice(bytemuck::cast_slice::<u8, T>(&bytes));
        }
        Ok(out)
    }
}

/// Rows in `rows`-row chunks, column-major within each chunk, uploaded to the
/// device (`stream` false), or kept on the host with one shared device buffer that
/// each step refills chunk by chunk (`stream` true).
fn upload(
    ctx: &GpuContext,
    x: &Matrix,
    w: Option<&[f32]>,
    chunk_rows: usize,
    stream: bool,
) -> Result<Vec<Chunk>> {
    let (n, d) = (x.n(), x.d());
    let shared =
        stream.then(|| ctx.buffer("x (streamed)", (chunk_rows.min(n) * d * 4) as u64, STORAGE));
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < n {
        let rows = chunk_rows.min(n - start);
        let mut col = vec![0.0f32; rows * d];
        let block = &x.data()[start * d..(start + rows) * d];
        col.par_chunks_mut(rows).enumerate().for_each(|(j, cj)| {
            for (dst, row) in cj.iter_mut().zip(block.chunks_exact(d)) {
                *dst = row[j];
            }
        });
        let (data, host) = match &shared {
            Some(buf) => (buf.clone(), Some(col)),
            None => (
                ctx.buffer_init("x", bytemuck::cast_slice(&col), STORAGE),
                None,
            ),
        };
        let weights = match w {
            Some(w) => ctx.buffer_init("w", bytemuck::cast_slice(&w[start..start + rows]), STORAGE),
            None => ctx.buffer("w (unused)", 4, STORAGE),
        };
        chunks.push(Chunk {
            rows,
            data,
            host,
            labels: ctx.buffer("labels", 4 * rows as u64, STORAGE),
            dist: ctx.buffer("dist", 4 * rows as u64, STORAGE),
            weights,
            params: ctx.buffer(
                "assign params",
                std::mem::size_of::<AssignParams>() as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            // Set per k by `ensure_k`.
            slot: 0,
            groups: 0,
        });
        start += rows;
        // Surface an out-of-memory error before uploading more.
        ctx.check()?;
    }
    Ok(chunks)
}

/// Device memory per streamed chunk when streaming was forced by running out of
/// device memory (no budget given).
const STREAM_CHUNK_BYTES: u64 = 256 << 20;

/// Workgroup memory the assign shader uses besides the staged rows, in bytes:
/// centroid tile, labels, inertia tree, masks and row weights.
const SHARED_FIXED_BYTES: usize = CT_FLOATS * 4 + WORKGROUP_SIZE * 4 * 3 + 512 * 4;

fn region<'s>(src: &'s str, name: &str) -> Result<(&'s str, &'s str)> {
    let begin = format!("//@{name} begin");
    let end = format!("//@{name} end");
    match (src.find(&begin), src.find(&end)) {
        (Some(b), Some(e)) if b < e => Ok((&src[..b], &src[e + end.len()..])),
        _ => Err(Error::Gpu(format!(
            "kmeans_assign.wgsl lost its {name} markers"
        ))),
    }
}

/// The assign shader specialised for `d` features (see the shader's header): the
/// row as `d4 / 4` vec4 registers, the distance unrolled over them, and the rows
/// staged in workgroup memory when `stage`.
fn specialise(d: usize, d4: usize, stage: bool) -> Result<String> {
    let q4 = d4 / 4;
    let comp = ["x", "y", "z", "w"];
    let mut load = String::new();
    for q in 0..q4 {
        load += &format!("        var x{q} = vec4<f32>(0.0);\n");
    }
    load += "        if valid {\n";
    for q in 0..q4 {
        let cells: Vec<String> = (0..4)
            .map(|u| {
                let j = 4 * q + u;
                if j < d {
                    format!("x[{j}u * P.rows + r]")
                } else {
                    "0.0".into()
                }
            })
            .collect();
        load += &format!("            x{q} = vec4<f32>({});\n", cells.join(", "));
    }
    if stage {
        for j in 0..d {
            load += &format!(
                "            sx[{j}u * SXS + t] = x{}.{};\n",
                j / 4,
                comp[j % 4]
            );
        }
    }
    load += "        }\n";
    let mut dist = String::new();
    for q in 0..q4 {
        dist += &format!("                    e = x{q} - sc[cq + {q}u];");
        for (u, c) in comp.iter().enumerate() {
            if 4 * q + u < d {
                dist += &format!(" s = fma(e.{c}, e.{c}, s);");
            }
        }
        dist += "\n";
    }
    let (head, tail) = region(ASSIGN_WGSL, "ROW_LOAD")?;
    let src = format!("{head}{load}{tail}");
    let (head, tail) = region(&src, "ROW_DIST")?;
    let src = format!("{head}{dist}{tail}");
    let consts = [
        ("const D4: u32 = 16u;", format!("const D4: u32 = {d4}u;")),
        (
            "const STAGE: bool = true;",
            format!("const STAGE: bool = {stage};"),
        ),
        (
            "const SX: u32 = 4112u;",
            format!(
                "const SX: u32 = {}u;",
                if stage { (WORKGROUP_SIZE + 1) * d4 } else { 1 }
            ),
        ),
    ];
    let mut src = src;
    for (from, to) in consts {
        if !src.contains(from) {
            return Err(Error::Gpu(format!(
                "kmeans_assign.wgsl lost its `{from}` line"
            )));
        }
        src = src.replacen(from, &to, 1);
    }
    Ok(src)
}

impl LloydBackend for GpuLloyd<'_> {
    fn name(&self) -> String {
        let a = self.ctx.adapter();
        format!("gpu ({}, {})", a.name, a.backend)
    }

    fn reset(&mut self) -> Result<()> {
        self.first = true;
        Ok(())
    }

    fn step(&mut self, centroids: &[f32]) -> Result<StepStats> {
        let (d, d4) = (self.d, self.d4);
        let k = centroids.len() / d;
        self.ensure_k(k)?;
        let ctx = self.ctx;
        let kb = self.kb.as_ref().expect("ensure_k built the buffers");
        let mut padded = vec![0.0f32; k * d4];
        for c in 0..k {
            padded[c * d4..c * d4 + d].copy_from_slice(&centroids[c * d..(c + 1) * d]);
        }
        ctx.queue
            .write_buffer(&kb.cent, 0, bytemuck::cast_slice(&padded));
        let tile_k = k.min(CT_FLOATS / d4);
        // Enough (cluster, feature-group) summing tasks to keep a workgroup busy.
        let dpt = (k * d).div_ceil(WORKGROUP_SIZE).clamp(1, MAX_DPT);
        let flags = u32::from(self.weighted)
            | if self.first { 2 } else { 0 }
            | if self.probe_skip_sums { 4 } else { 0 };
        for c in &self.chunks {
            let p = AssignParams {
                rows: c.rows as u32,
                d: d as u32,
                k: k as u32,
                slot: c.slot as u32,
                groups: c.groups as u32,
                flags,
                tile_k: tile_k as u32,
                stride: kb.stride as u32,
                dpt: dpt as u32,
                pad: [0; 3],
            };
            ctx.queue.write_buffer(&c.params, 0, bytemuck::bytes_of(&p));
        }
        let encoder = || {
            ctx.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("lloyd step"),
                })
        };
        let mut enc = encoder();
        enc.clear_buffer(&kb.partials, 0, Some((kb.slots * kb.stride * 4) as u64));
        enc.clear_buffer(&kb.changed, 0, None);
        let last = self.chunks.len() - 1;
        for (i, (c, bind)) in self.chunks.iter().zip(&kb.assign_binds).enumerate() {
            if let Some(host) = &c.host {
                // Streaming: the shared buffer is refilled for this chunk. A write
                // lands before the next submission, so first submit the work that
                // reads the previous chunk.
                if i > 0 {
                    ctx.queue
                        .submit(Some(std::mem::replace(&mut enc, encoder()).finish()));
                }
                ctx.queue
                    .write_buffer(&c.data, 0, bytemuck::cast_slice(host));
            }
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("assign"),
                // The first chunk's pass opens the timer and the last one closes it.
                timestamp_writes: self.timer.as_ref().filter(|_| i == 0 || i == last).map(
                    |(qs, _, _)| wgpu::ComputePassTimestampWrites {
                        query_set: qs,
                        beginning_of_pass_write_index: (i == 0).then_some(0),
                        end_of_pass_write_index: (i == last).then_some(1),
                    },
                ),
            });
            pass.set_pipeline(&kb.assign);
            pass.set_bind_group(0, bind, &[]);
            pass.dispatch_workgroups(c.groups as u32, 1, 1);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("reduce"),
                timestamp_writes: self.timer.as_ref().map(|(qs, _, _)| {
                    wgpu::ComputePassTimestampWrites {
                        query_set: qs,
                        beginning_of_pass_write_index: Some(2),
                        end_of_pass_write_index: Some(3),
                    }
                }),
            });
            pass.set_pipeline(&self.reduce);
            pass.set_bind_group(0, &kb.reduce_bind, &[]);
            let x = kb.stride.min(65_535);
            pass.dispatch_workgroups(x as u32, kb.stride.div_ceil(x) as u32, 1);
        }
        enc.copy_buffer_to_buffer(&kb.changed, 0, &kb.result, (kb.stride * 4) as u64, 4);
        if let Some((qs, resolve, _)) = &self.timer {
            enc.resolve_query_set(qs, 0..4, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, &kb.result, ((kb.stride + 1) * 4) as u64, 32);
        }
        let bytes_len = ((kb.stride + 1 + 8) * 4) as u64;
        enc.copy_buffer_to_buffer(&kb.result, 0, &kb.readback, 0, bytes_len);
        ctx.queue.submit(Some(enc.finish()));
        let bytes = ctx.map_read(&kb.readback, bytes_len)?;
        let vals: &[f32] = bytemuck::cast_slice(&bytes[..kb.stride * 4]);
        let at = kb.stride * 4;
        let changed = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        if let Some((_, _, period)) = &self.timer {
            let t: Vec<u64> = bytes[at + 4..at + 36]
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            let secs = |a: u64, b: u64| b.saturating_sub(a) as f64 * period * 1e-9;
            self.kernel_log.push((secs(t[0], t[1]), secs(t[2], t[3])));
        }
        self.first = false;
        Ok(StepStats {
            sums: vals[..k * d].iter().map(|v| *v as f64).collect(),
            weights: vals[k * d..k * d + k].iter().map(|v| *v as f64).collect(),
            inertia: vals[k * d + k] as f64,
            changed: changed as u64,
        })
    }

    fn labels(&mut self) -> Result<Vec<u32>> {
        self.read_rows(|c| &c.labels)
    }

    fn distances(&mut self) -> Result<Vec<f32>> {
        self.read_rows(|c| &c.dist)
    }
}
