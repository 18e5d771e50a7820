//! The same seed gives the same result: across repeated runs and across thread counts.

use segmenta::generate::{blobs, BlobsSpec};
use segmenta::kmeans::{fit, CpuLloyd, KMeansFit, KMeansParams};

use super::util::*;

fn fit_with_threads(threads: usize) -> KMeansFit {
    let data = blobs(BlobsSpec::new(30_000, 6, 7, 11));
    let params = KMeansParams::new(7)
        .n_init(2)
        .seed(5)
        .check(30_000, 6)
        .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        fit(
            &data.x,
            None,
            &params,
            &mut CpuLloyd::new(&data.x, None),
            &mut |_| {},
        )
        .unwrap()
    })
}

#[test]
fn one_and_two_threads_give_bit_identical_fits() {
    let a = fit_with_threads(1);
    let b = fit_with_threads(2);
    let c = fit_with_threads(3);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.centroids, b.centroids);
    assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
    assert_eq!(b.centroids, c.centroids);
    assert_eq!(a.iterations, c.iterations);
}

#[test]
fn cli_runs_agree_across_rayon_num_threads_and_repeats() {
    let dir = tempdir();
    let input = fixture("blobs_5k.parquet");
    let mut centroids = Vec::new();
    let mut segments = Vec::new();
    for (i, threads) in ["1", "2", "2"].iter().enumerate() {
        let out = dir.path().join(format!("r{i}"));
        let o = segmenta_env(
            &[
                "kmeans",
                "-i",
                p(&input),
                "--columns",
                "f0,f1,f2,f3",
                "-k",
                "6",
                "-o",
                p(&out),
                "--n-init",
                "3",
                "--seed",
                "9",
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        centroids.push(read_json(&out.join("model.json"))["kmeans"]["centroids_scaled"].clone());
        segments.push(read_i64(&out.join("assignments.parquet"), "segment"));
    }
    assert_eq!(centroids[0], centroids[1]);
    assert_eq!(centroids[1], centroids[2]);
    assert_eq!(segments[0], segments[1]);
    assert_eq!(segments[1], segments[2]);
}

#[test]
fn different_seeds_can_differ() {
    // Guards the test above against a seed that is silently ignored.
    let data = blobs(BlobsSpec::new(2_000, 2, 20, 3));
    let run = |seed| {
        let params = KMeansParams::new(20).seed(seed).check(2_000, 2).unwrap();
        fit(
            &data.x,
            None,
            &params,
            &mut CpuLloyd::new(&data.x, None),
            &mut |_| {},
        )
        .unwrap()
        .centroids
    };
    assert_ne!(run(1), run(2));
}
