//! `GpuContext`: adapter choice, device, pipelines, buffers and readback. Together
//! with `kmeans/gpu.rs` the only place that imports `wgpu`.
//!
//! wgpu reports validation and out-of-memory errors through a callback that panics
//! by default; the context installs its own and turns any such error into
//! [`Error::Gpu`] at the next synchronisation point, so a GPU failure is an error
//! message, never a panic.

use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};

/// How to pick and open an adapter. The library never reads the environment: the
/// CLI fills this from flags and `SEGMENTA_ADAPTER`.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Accept a software adapter (Mesa lavapipe, WARP).
    pub allow_software: bool,
    /// Cap on one storage binding in bytes, below the adapter's limit. Forces the
    /// multi-chunk path in tests; `None` uses the adapter's limit.
    pub max_binding_bytes: Option<u64>,
    /// Workgroups per dispatch of the K-means kernel (a tuning knob for
    /// `segmenta bench`); `None` uses the built-in default.
    pub max_groups: Option<usize>,
    /// Device memory the data may occupy, in bytes. Larger data is streamed from
    /// host memory every iteration. `None` keeps all data on the device unless the
    /// device runs out of memory, which also switches to streaming.
    pub max_device_bytes: Option<u64>,
}

/// The kind of one buffer binding in an explicit layout.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Binding {
    /// A uniform buffer.
    Uniform,
    /// A read-only storage buffer.
    Read,
    /// A read-write storage buffer.
    ReadWrite,
}

/// What an adapter is.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API, e.g. "vulkan".
    pub backend: String,
    /// "discrete", "integrated", "virtual", "cpu" or "other".
    pub device_type: String,
    /// True for software rasterisers (lavapipe).
    pub software: bool,
    /// Driver name and version.
    pub driver: String,
}

fn summary(info: &wgpu::AdapterInfo) -> AdapterSummary {
    let device_type = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    };
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend).to_lowercase(),
        device_type: device_type.into(),
        software: info.device_type == wgpu::DeviceType::Cpu,
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
    }
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

/// Every adapter wgpu can see, best first.
pub fn adapters() -> Vec<AdapterSummary> {
    let mut a = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
    a.sort_by_key(|a| rank(a.get_info().device_type));
    a.iter().map(|a| summary(&a.get_info())).collect()
}

/// An open device with the limits the data needs, and an error trap.
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: AdapterSummary,
    max_binding: u64,
    max_buffer: u64,
    max_shared: usize,
    max_groups: Option<usize>,
    max_device_bytes: Option<u64>,
    timestamps: bool,
    error: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// Picks the best adapter allowed by `opts` and opens it.
    pub fn new(opts: &GpuOptions) -> Result<GpuContext> {
        let inst = instance();
        let mut all = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
        if let Some(want) = &opts.adapter {
            let want = want.to_lowercase();
            let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
            all.retain(|a| a.get_info().name.to_lowercase().contains(&want));
            if all.is_empty() {
                return Err(Error::NoAdapter(format!(
                    "none matches `{want}` (found: {})",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                )));
            }
        }
        all.sort_by_key(|a| rank(a.get_info().device_type));
        let Some(adapter) = all.into_iter().next() else {
            return Err(Error::NoAdapter(
                "wgpu found no adapter (is a Vulkan driver installed? Mesa's lavapipe: mesa-vulkan-drivers)".into(),
            ));
        };
        let info = summary(&adapter.get_info());
        if info.software && !opts.allow_software {
            return Err(Error::NoAdapter(format!(
                "only the software adapter `{}` was found",
                info.name
            )));
        }
        let limits = adapter.limits();
        let required_limits = wgpu::Limits {
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffers_per_shader_stage: limits
                .max_storage_buffers_per_shader_stage
                .max(8),
            ..wgpu::Limits::downlevel_defaults()
        };
        // GPU-side timers for `segmenta bench`, where the adapter has them.
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let required_features = if timestamps {
            wgpu::Features::TIMESTAMP_QUERY
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("segmenta"),
            required_features,
            required_limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("cannot open `{}`: {e}", info.name)))?;
        let error: Arc<Mutex<Option<String>>> = Arc::default();
        let slot = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            if s.is_none() {
                *s = Some(
                    e.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }));
        let max_binding = opts
            .max_binding_bytes
            .unwrap_or(u64::MAX)
            .min(limits.max_storage_buffer_binding_size);
        Ok(GpuContext {
            device,
            queue,
            info,
            max_binding,
            max_buffer: limits.max_buffer_size,
            max_shared: limits.max_compute_workgroup_storage_size as usize,
            max_groups: opts.max_groups,
            max_device_bytes: opts.max_device_bytes,
            timestamps,
            error,
        })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.info
    }

    /// Largest storage binding, in bytes.
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// Workgroup memory available to one workgroup, in bytes.
    pub fn max_workgroup_storage(&self) -> usize {
        self.max_shared
    }

    /// The device-memory budget for data, if any.
    pub fn max_device_bytes(&self) -> Option<u64> {
        self.max_device_bytes
    }

    /// The workgroup-count override, if any.
    pub fn max_groups(&self) -> Option<usize> {
        self.max_groups
    }

    /// Whether GPU timestamps are available (nanoseconds per tick in the second field).
    pub(crate) fn timestamps(&self) -> Option<f64> {
        self.timestamps
            .then(|| self.queue.get_timestamp_period() as f64)
    }

    /// Largest buffer, in bytes.
    pub fn max_buffer(&self) -> u64 {
        self.max_buffer
    }

    /// Fails with the first error wgpu reported since the last check.
    pub(crate) fn check(&self) -> Result<()> {
        let mut s = self.error.lock().unwrap_or_else(|p| p.into_inner());
        match s.take() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// A zeroed storage buffer.
    pub(crate) fn buffer(
        &self,
        label: &str,
        bytes: u64,
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        })
    }

    /// A buffer initialised with `data`.
    pub(crate) fn buffer_init(
        &self,
        label: &str,
        data: &[u8],
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        let mut padded;
        let contents = if data.is_empty() || !data.len().is_multiple_of(4) {
            padded = data.to_vec();
            padded.resize(data.len().max(4).next_multiple_of(4), 0);
            &padded[..]
        } else {
            data
        };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
    }

    /// A compute pipeline for `entry` of `source`. With `bindings`, group 0 gets an
    /// explicit layout of those entries (`true` for a uniform buffer, else the
    /// storage buffer's read-only flag); without, wgpu derives it from the shader,
    /// which drops bindings the shader does not use.
    pub(crate) fn pipeline(
        &self,
        label: &str,
        source: &str,
        entry: &str,
        bindings: Option<&[Binding]>,
    ) -> Result<wgpu::ComputePipeline> {
        let layout = bindings.map(|b| {
            let entries: Vec<wgpu::BindGroupLayoutEntry> = b
                .iter()
                .enumerate()
                .map(|(i, kind)| wgpu::BindGroupLayoutEntry {
                    binding: i as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: match kind {
                            Binding::Uniform => wgpu::BufferBindingType::Uniform,
                            Binding::Read => wgpu::BufferBindingType::Storage { read_only: true },
                            Binding::ReadWrite => {
                                wgpu::BufferBindingType::Storage { read_only: false }
                            }
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                })
                .collect();
            let bgl = self
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(label),
                    entries: &entries,
                });
            self.device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(label),
                    bind_group_layouts: &[Some(&bgl)],
                    immediate_size: 0,
                })
        });
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let p = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: layout.as_ref(),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[],
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        self.check()?;
        Ok(p)
    }

    /// Waits for submitted work.
    pub(crate) fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(e.to_string()))?;
        self.check()
    }

    /// Copies `bytes` bytes at `offset` of `src` to the host.
    pub(crate) fn read_bytes(
        &self,
        src: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        let size = bytes.next_multiple_of(4).max(4);
        let staging = self.buffer(
            "readback",
            size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
        self.queue.submit(Some(enc.finish()));
        self.map_read(&staging, bytes)
    }

    /// Waits for submitted work, then copies the first `bytes` bytes of a
    /// `MAP_READ` buffer to the host.
    pub(crate) fn map_read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let slot: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> =
            Arc::default();
        let s2 = slot.clone();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            *s2.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        });
        self.wait()?;
        match slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Gpu(format!("readback failed: {e}"))),
            None => return Err(Error::Gpu("readback did not complete".into())),
        }
        let out = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        Ok(out)
    }
}
