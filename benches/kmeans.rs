//! One Lloyd data pass (assign + sums) per backend, on seeded blobs at d = 16, in
//! one criterion group with ids `"{backend}:{k}x{n}"`, as linfa names its variants.
//! The GPU rows appear when wgpu finds an adapter; on a software adapter (lavapipe)
//! only the 100k rows are timed, since 1M takes seconds per pass there.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use segmenta::generate::{blobs, BlobsSpec};
use segmenta::gpu::{GpuContext, GpuOptions};
use segmenta::kmeans::{CpuLloyd, GpuLloyd, LloydBackend};

fn lloyd_iteration(c: &mut Criterion) {
    let gpu = GpuContext::new(&GpuOptions {
        allow_software: true,
        ..GpuOptions::default()
    })
    .map_err(|e| eprintln!("no GPU rows: {e}"))
    .ok();
    let mut group = c.benchmark_group("kmeans");
    group.sample_size(20);
    for &n in &[100_000usize, 1_000_000] {
        let data = blobs(BlobsSpec::new(n, 16, 8, 42));
        for &k in &[8usize, 64] {
            let init = data.x.data()[..k * 16].to_vec();
            group.throughput(Throughput::Elements(n as u64));
            let mut cpu = CpuLloyd::new(&data.x, None);
            group.bench_function(BenchmarkId::from_parameter(format!("cpu:{k}x{n}")), |b| {
                b.iter(|| cpu.step(&init).expect("cpu step"))
            });
            if let Some(ctx) = gpu
                .as_ref()
                .filter(|g| !g.adapter().software || n <= 100_000)
            {
                let mut g = GpuLloyd::new(ctx, &data.x, None).expect("upload");
                group.bench_function(BenchmarkId::from_parameter(format!("gpu:{k}x{n}")), |b| {
                    b.iter(|| g.step(&init).expect("gpu step"))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, lloyd_iteration);
criterion_main!(benches);
