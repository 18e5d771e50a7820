//! One Lloyd iteration (assign + sums) per backend, on seeded blobs at d = 16:
//! ids are `"{backend}:{k}x{n}"`, as linfa names its variants.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use segmenta::generate::{blobs, BlobsSpec};
use segmenta::kmeans::{CpuLloyd, LloydBackend};

fn lloyd_iteration(c: &mut Criterion) {
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
        }
    }
    group.finish();
}

criterion_group!(benches, lloyd_iteration);
criterion_main!(benches);
