//! One Lloyd data pass (assign + sums) per backend, on seeded blobs at d = 16, in
//! one criterion group with ids `"{backend}:{k}x{n}"`, as linfa names its variants;
//! and whole fits per CPU algorithm in the group `fit` (`"{algorithm}:{k}x{n}"`).
//! The GPU rows appear when wgpu finds an adapter; on a software adapter (lavapipe)
//! only the 100k rows are timed, since 1M takes seconds per pass there.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use segmenta::generate::{blobs, BlobsSpec};
use segmenta::gpu::{GpuContext, GpuOptions};
use segmenta::kmeans::{
    fit, initial_centroids, Algorithm, CpuBackend, CpuLloyd, GpuLloyd, KMeansParams, LloydBackend,
};

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

/// Whole fits from the same k-means++ start (n_init 1, tol 1e-4), per CPU algorithm
/// (`lloyd:`, `hamerly:`, `yinyang:`), and the k-means++ seeding alone (`kmeans++:`).
fn whole_fit(c: &mut Criterion) {
    let mut group = c.benchmark_group("fit");
    group.sample_size(10);
    let n = 200_000usize;
    let data = blobs(BlobsSpec::new(n, 16, 8, 42));
    for &k in &[8usize, 64] {
        let params = KMeansParams::new(k)
            .n_init(1)
            .seed(0)
            .check(n, 16)
            .expect("params");
        group.bench_function(
            BenchmarkId::from_parameter(format!("kmeans++:{k}x{n}")),
            |b| b.iter(|| initial_centroids(&data.x, None, &params, 0)),
        );
        for (name, algorithm) in [
            ("lloyd", Algorithm::Lloyd),
            ("hamerly", Algorithm::Hamerly),
            ("yinyang", Algorithm::Yinyang),
        ] {
            let mut backend = CpuBackend::new(&data.x, None, algorithm);
            group.bench_function(
                BenchmarkId::from_parameter(format!("{name}:{k}x{n}")),
                |b| b.iter(|| fit(&data.x, None, &params, &mut backend, &mut |_| {}).expect("fit")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, lloyd_iteration, whole_fit);
criterion_main!(benches);
