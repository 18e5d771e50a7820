//! GPU backend parity with the CPU backend (the oracle). On machines without a GPU
//! these run on Mesa's lavapipe; with SEGMENTA_REQUIRE_GPU=1 (CI) a missing adapter
//! fails them instead of skipping them.

use segmenta::generate::{blobs, BlobsSpec};
use segmenta::gpu::{adapters, GpuContext, GpuOptions};
use segmenta::kmeans::{lloyd, open_gpu, BackendChoice, CpuLloyd, GpuLloyd, LloydBackend, Stop};
use segmenta::Matrix;

use super::util::*;

fn gpu_with(opts: GpuOptions) -> Option<GpuContext> {
    match GpuContext::new(&GpuOptions {
        allow_software: true,
        ..opts
    }) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            if std::env::var("SEGMENTA_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("SEGMENTA_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED GPU test: {e}");
            None
        }
    }
}

fn gpu() -> Option<GpuContext> {
    gpu_with(GpuOptions::default())
}

fn sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// Runs Lloyd on both backends from `init` and checks the parity contract: labels
/// equal except near-ties, inertia within 1e-5 relative, iterations equal.
fn assert_parity(
    ctx: &GpuContext,
    x: &Matrix,
    w: Option<&[f32]>,
    init: &[f32],
    what: &str,
) -> usize {
    let tol = 1e-4 * segmenta::scale::mean_variance(x);
    let mut cpu = CpuLloyd::new(x, w);
    let a = lloyd(
        x,
        w,
        &mut cpu,
        init.to_vec(),
        Stop {
            max_iter: 300,
            tol_abs: tol,
        },
        0,
        &mut |_| {},
    )
    .unwrap();
    let mut g = GpuLloyd::new(ctx, x, w).unwrap();
    let b = lloyd(
        x,
        w,
        &mut g,
        init.to_vec(),
        Stop {
            max_iter: 300,
            tol_abs: tol,
        },
        0,
        &mut |_| {},
    )
    .unwrap();
    let (la, lb) = (cpu.labels().unwrap(), g.labels().unwrap());
    let d = x.d();
    let mut near_ties = 0;
    for i in 0..x.n() {
        if la[i] != lb[i] {
            let d1 = sq(x.row(i), &a.centroids[la[i] as usize * d..][..d]);
            let d2 = sq(x.row(i), &a.centroids[lb[i] as usize * d..][..d]);
            assert!(
                (d1 - d2).abs() <= 1e-5 * d1.max(1e-12),
                "{what}: row {i} differs and is no near-tie: {d1} vs {d2}"
            );
            near_ties += 1;
        }
    }
    let rel = (a.inertia - b.inertia).abs() / a.inertia.max(1e-30);
    assert!(
        rel <= 1e-5 || (a.inertia - b.inertia).abs() < 1e-9,
        "{what}: inertia {} vs {} (rel {rel:e})",
        a.inertia,
        b.inertia
    );
    assert_eq!(a.iterations, b.iterations, "{what}: iterations");
    near_ties
}

fn first_rows(x: &Matrix, k: usize) -> Vec<f32> {
    x.data()[..k * x.d()].to_vec()
}

#[test]
fn one_step_gives_the_same_labels_distances_and_sums() {
    let Some(ctx) = gpu() else { return };
    let data = blobs(BlobsSpec::new(10_000, 16, 8, 3));
    let c = first_rows(&data.x, 8);
    let mut cpu = CpuLloyd::new(&data.x, None);
    let mut g = GpuLloyd::new(&ctx, &data.x, None).unwrap();
    let a = cpu.step(&c).unwrap();
    let b = g.step(&c).unwrap();
    // Both compute the same FMA chain; a driver that does not fuse `fma` (lavapipe
    // may not) can move a distance by an ulp, which may flip only an exact tie.
    let (la, lb) = (cpu.labels().unwrap(), g.labels().unwrap());
    let same = la.iter().zip(&lb).filter(|(x, y)| x == y).count();
    assert_eq!(same, la.len(), "labels differ for the same centroids");
    assert_eq!(a.changed, b.changed);
    assert_eq!(a.weights, b.weights);
    for (x, y) in a.sums.iter().zip(&b.sums) {
        assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{x} vs {y}");
    }
    assert!((a.inertia - b.inertia).abs() <= 1e-5 * a.inertia);
    let da = cpu.distances().unwrap();
    let db = g.distances().unwrap();
    let worst = da
        .iter()
        .zip(&db)
        .map(|(x, y)| ((x - y).abs() / x.max(1e-30)) as f64)
        .fold(0.0, f64::max);
    assert!(
        worst <= 1e-6,
        "distances differ by up to {worst:e} relative"
    );
    // A second step with the same centroids changes no label on either backend.
    assert_eq!(g.step(&c).unwrap().changed, 0);
}

#[test]
fn blobs_parity() {
    let Some(ctx) = gpu() else { return };
    let data = blobs(BlobsSpec::new(20_000, 16, 8, 5));
    assert_parity(
        &ctx,
        &data.x,
        None,
        &first_rows(&data.x, 8),
        "blobs 20k x 16, k=8",
    );
}

#[test]
fn odd_shapes_parity() {
    let Some(ctx) = gpu() else { return };
    // n not a multiple of the workgroup size, d = 1
    let x = blobs(BlobsSpec::new(1_037, 1, 3, 7)).x;
    assert_parity(&ctx, &x, None, &first_rows(&x, 3), "d=1");
    // d = 37 (padding to a multiple of 4), k = 5
    let x = blobs(BlobsSpec::new(3_001, 37, 5, 8)).x;
    assert_parity(&ctx, &x, None, &first_rows(&x, 5), "d=37");
    // k = 1
    let x = blobs(BlobsSpec::new(999, 4, 2, 9)).x;
    assert_parity(&ctx, &x, None, &first_rows(&x, 1), "k=1");
    // k = n
    let x = blobs(BlobsSpec::new(300, 3, 4, 10)).x;
    assert_parity(&ctx, &x, None, &first_rows(&x, 300), "k=n");
    // k = 100: more than one mask window of 64 clusters
    let x = blobs(BlobsSpec::new(5_000, 8, 100, 11)).x;
    assert_parity(&ctx, &x, None, &first_rows(&x, 100), "k=100");
    // a huge value range (unscaled, values up to ~1e4 with unit spread)
    let mut spec = BlobsSpec::new(4_000, 6, 4, 12);
    spec.box_size = 1e4;
    let x = blobs(spec).x;
    assert_parity(&ctx, &x, None, &first_rows(&x, 4), "huge range");
}

#[test]
fn duplicate_points_and_empty_clusters_parity() {
    let Some(ctx) = gpu() else { return };
    // 500 copies of 3 distinct points, k = 5: two clusters start empty and are
    // relocated from the GPU's distances.
    let mut v = Vec::new();
    for i in 0..1500 {
        let p = (i % 3) as f32;
        v.extend([p, 2.0 * p]);
    }
    let x = Matrix::new(1500, 2, v);
    let init = vec![0.0, 0.0, 0.1, 0.1, 100.0, 100.0, 1.0, 2.0, 200.0, 0.0];
    assert_parity(&ctx, &x, None, &init, "duplicates");
}

#[test]
fn weighted_parity() {
    let Some(ctx) = gpu() else { return };
    let data = blobs(BlobsSpec::new(5_000, 5, 4, 13));
    let w: Vec<f32> = (0..5_000).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
    // k x d = 20: the dense summing path
    assert_parity(
        &ctx,
        &data.x,
        Some(&w),
        &first_rows(&data.x, 4),
        "weighted, dense sums",
    );
    // k x d = 750: the masked summing path
    assert_parity(
        &ctx,
        &data.x,
        Some(&w),
        &first_rows(&data.x, 150),
        "weighted, masked sums",
    );
}

#[test]
fn mall_customers_parity() {
    let Some(path) = shared("mall_customers.csv") else {
        return;
    };
    let Some(ctx) = gpu() else { return };
    let mut spec = segmenta::io::ReadSpec::new("id");
    spec.columns = Some(vec!["age".into(), "income".into(), "score".into()]);
    let mut t = segmenta::io::read_features(&path, &spec).unwrap();
    segmenta::scale::Scaler::fit(segmenta::scale::ScaleMethod::Standard, &t.x, 3)
        .transform(&mut t.x);
    for k in [3, 5, 6] {
        let init: Vec<f32> = (0..k).flat_map(|i| t.x.row(i * 30).to_vec()).collect();
        assert_parity(&ctx, &t.x, None, &init, &format!("mall k={k}"));
    }
}

#[test]
fn gpu_results_are_identical_across_runs() {
    let Some(ctx) = gpu() else { return };
    let data = blobs(BlobsSpec::new(8_000, 7, 6, 14));
    let init = first_rows(&data.x, 6);
    let run = || {
        let mut g = GpuLloyd::new(&ctx, &data.x, None).unwrap();
        let r = lloyd(
            &data.x,
            None,
            &mut g,
            init.clone(),
            Stop {
                max_iter: 50,
                tol_abs: 0.0,
            },
            0,
            &mut |_| {},
        )
        .unwrap();
        (r.centroids, r.inertia.to_bits(), g.labels().unwrap())
    };
    assert_eq!(run(), run());
}

#[test]
fn chunked_upload_gives_the_same_answer() {
    // 256 rows x 4 features per binding forces 12 chunks for 3,000 rows.
    let Some(ctx) = gpu_with(GpuOptions {
        max_binding_bytes: Some(4096),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let data = blobs(BlobsSpec::new(3_000, 4, 5, 15));
    let g = GpuLloyd::new(&ctx, &data.x, None).unwrap();
    assert_eq!(g.chunks(), 12);
    assert!(!g.streaming());
    assert_parity(&ctx, &data.x, None, &first_rows(&data.x, 5), "chunked");
}

#[test]
fn data_over_the_device_budget_is_streamed_with_the_same_answer() {
    // 3,000 x 4 floats (48 KB) against an 8 KB budget: 512-row chunks refilled from
    // host memory on every step.
    let opts = GpuOptions {
        max_device_bytes: Some(8192),
        ..GpuOptions::default()
    };
    let Some(ctx) = gpu_with(opts) else { return };
    let data = blobs(BlobsSpec::new(3_000, 4, 5, 16));
    let g = GpuLloyd::new(&ctx, &data.x, None).unwrap();
    assert!(g.streaming());
    assert_eq!(g.chunks(), 6);
    assert_parity(&ctx, &data.x, None, &first_rows(&data.x, 5), "streamed");
    let w: Vec<f32> = (0..3_000).map(|i| 1.0 + (i % 3) as f32).collect();
    assert_parity(
        &ctx,
        &data.x,
        Some(&w),
        &first_rows(&data.x, 5),
        "streamed, weighted",
    );
}

#[test]
fn too_many_features_is_a_clear_error() {
    let Some(ctx) = gpu() else { return };
    let x = Matrix::new(2, 129, vec![0.0; 258]);
    let e = GpuLloyd::new(&ctx, &x, None)
        .err()
        .expect("d=129 is refused")
        .to_string();
    assert!(
        e.contains("1 to 128 features, got 129") && e.contains("--backend cpu"),
        "{e}"
    );
}

#[test]
fn auto_never_picks_a_software_adapter() {
    let (ctx, note) = open_gpu(BackendChoice::Auto, &GpuOptions::default()).unwrap();
    if adapters().iter().all(|a| a.software) {
        assert!(ctx.is_none());
        assert!(note.unwrap_or_default().contains("using the CPU"));
    } else {
        assert!(!ctx.expect("a hardware adapter is there").adapter().software);
    }
}

#[test]
fn an_unknown_adapter_name_is_an_error() {
    let e = GpuContext::new(&GpuOptions {
        adapter: Some("no-such-gpu-xyz".into()),
        allow_software: true,
        ..GpuOptions::default()
    })
    .err()
    .expect("no adapter matches")
    .to_string();
    assert!(e.contains("none matches `no-such-gpu-xyz`"), "{e}");
}

#[test]
fn cli_backend_gpu_matches_cpu_on_the_fixture() {
    if gpu().is_none() {
        return;
    }
    let dir = tempdir();
    let input = fixture("blobs_5k.parquet");
    let mut seg = Vec::new();
    for b in ["cpu", "gpu"] {
        let out = dir.path().join(b);
        let o = segmenta(&[
            "kmeans",
            "-i",
            p(&input),
            "--columns",
            "f0,f1,f2,f3",
            "-k",
            "5",
            "-o",
            p(&out),
            "--backend",
            b,
            "--seed",
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        if b == "gpu" {
            let m = read_json(&out.join("model.json"));
            assert!(m["kmeans"]["backend"].as_str().unwrap().starts_with("gpu"));
        }
        seg.push(read_i64(&out.join("assignments.parquet"), "segment"));
    }
    let same = seg[0].iter().zip(&seg[1]).filter(|(a, b)| a == b).count();
    assert_eq!(same, seg[0].len(), "rows with different segments");
}

#[test]
fn sweep_on_the_gpu_matches_the_cpu() {
    if gpu().is_none() {
        return;
    }
    let dir = tempdir();
    let input = fixture("blobs_5k.parquet");
    let mut sweeps = Vec::new();
    for b in ["cpu", "gpu"] {
        let out = dir.path().join(b);
        let o = segmenta(&[
            "sweep",
            "-i",
            p(&input),
            "--columns",
            "f0,f1,f2,f3",
            "--k-range",
            "2..6",
            "--n-init",
            "2",
            "--backend",
            b,
            "--seed",
            "5",
            "-o",
            p(&out),
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        sweeps.push(read_json(&out.join("sweep.json")));
    }
    assert!(
        sweeps[1]["backend"].as_str().unwrap().starts_with("gpu"),
        "{}",
        sweeps[1]["backend"]
    );
    // One upload serves every k and restart; the answers are the CPU's.
    for (c, g) in sweeps[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sweeps[1]["points"].as_array().unwrap())
    {
        let (ic, ig) = (
            c["inertia"].as_f64().unwrap(),
            g["inertia"].as_f64().unwrap(),
        );
        assert!(
            (ic - ig).abs() <= 1e-5 * ic,
            "k={}: inertia {ic} vs {ig}",
            c["k"]
        );
        assert_eq!(c["sizes"], g["sizes"], "k={}", c["k"]);
    }
    assert_eq!(sweeps[0]["recommended"]["k"], sweeps[1]["recommended"]["k"]);
    // Five planted components, two of them overlapping: elbow and silhouette both
    // say 4 here (Calinski–Harabasz peaks at 5).
    let k = sweeps[0]["recommended"]["k"].as_u64().unwrap();
    assert!((4..=6).contains(&k), "recommended {k}, planted 5");
}
