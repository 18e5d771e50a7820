//! The command lines the manifest records are the commands that rerun a stage:
//! options → flags → clap → options gives the options back, for every stage.

use std::path::{Path, PathBuf};

use clap::Parser;
use segmenta::clean::OutlierAction;
use segmenta::kmeans::{Algorithm, BackendChoice};
use segmenta::pipeline::{self, *};
use segmenta::scale::ScaleMethod;

use super::{Cli, Command};

fn parse(stage: &str, argv: Vec<String>) -> Command {
    let full: Vec<String> = ["segmenta", stage]
        .iter()
        .map(|s| s.to_string())
        .chain(argv)
        .collect();
    Cli::try_parse_from(&full)
        .unwrap_or_else(|e| panic!("{full:?}: {e}"))
        .command
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn read() -> ReadOptions {
    let (columns, categorical) = (strings(&["a", "b"]), strings(&["gender"]));
    let weight_col = Some("w".into());
    ReadOptions {
        id_col: "cid".into(),
        columns,
        categorical,
        weight_col,
        strict: true,
    }
}

fn fit() -> FitOptions {
    let backend = BackendOptions {
        backend: BackendChoice::Cpu,
        algorithm: Algorithm::Hamerly,
        adapter: Some("llvmpipe".into()),
    };
    let (scale, n_init, max_iter, tol) = (ScaleMethod::Robust, Some(7), 55, 1e-6);
    FitOptions {
        transform: "yeo-johnson,age=none".parse().unwrap(),
        scale,
        fit_on: segmenta::pipeline::FitOn::All,
        init_random: true,
        n_init,
        max_iter,
        tol,
        backend,
    }
}

const OUT: &str = "run dir/stage";

#[test]
fn generate_flags_round_trip() {
    let m = MallParams {
        customers: 1234,
        months: 3,
        start: "2024-02-01".into(),
        dirt: 0.05,
        seed: 9,
        drift: 0.2,
        drift_at: Some("2024-03-15".into()),
        cut: Some("2024-04-01".into()),
    };
    let Command::Generate(c) = parse("generate", generate_argv(&m, Path::new(OUT))) else {
        panic!()
    };
    assert_eq!(
        (c.mall.params(c.months, c.seed), c.out),
        (m, PathBuf::from(OUT))
    );
}

#[test]
fn features_flags_round_trip() {
    let o = FeaturesOptions {
        sources: vec![("customers".into(), PathBuf::from("c.csv"))],
        map: Some("customer_id=CustomerID,amount=Quantity*UnitPrice".into()),
        as_of: Some("2011-12-10".into()),
        since: Some("2010-12-01".into()),
        ts_format: Some("%d/%m/%Y %H:%M".into()),
        max_amount: 5000.5,
        keep_duplicate_lines: true,
        sql: Some(PathBuf::from("my.sql")),
        category_groups: Some(PathBuf::from("groups.toml")),
        memory_mib: 512,
        partitions: Some(16),
        table_parts: Some(4),
    };
    let argv = features_argv(Path::new("src"), &o, Path::new(OUT));
    let Command::Features(c) = parse("features", argv) else {
        panic!()
    };
    assert_eq!(FeaturesOptions::from(&c.features), o);
    assert_eq!((c.input, c.out), (Some("src".into()), Some(OUT.into())));
}

#[test]
fn clean_flags_round_trip() {
    let o = CleanOptions {
        config: Some(PathBuf::from("clean.toml")),
        missing: strings(&["mode", "age=drop"]),
        keep_duplicates: true,
        outliers: Some("zscore:2.5".into()),
        outlier_action: Some(OutlierAction::Clip),
        outlier_columns: strings(&["age", "income_monthly"]),
        outlier_min_samples: 4,
        transform: Some("quantile,age=none".into()),
        reuse: Some(PathBuf::from("old/clean/clean.json")),
    };
    let argv = clean_argv(Path::new("f.parquet"), &o, "cid", 5, Path::new(OUT));
    let Command::Clean(c) = parse("clean", argv) else {
        panic!()
    };
    let got = CleanOptions {
        transform: c.transform.clone(),
        reuse: c.reuse_fitted.clone(),
        ..CleanOptions::from(&c.clean)
    };
    assert_eq!(
        (got, c.id_col.as_deref(), c.seed),
        (o, Some("cid"), Some(5))
    );
}

#[test]
fn sweep_flags_round_trip() {
    for k_range in [vec![3, 4, 5, 6], vec![2, 5, 9]] {
        let o = SweepOptions {
            k_range,
            silhouette_sample: 777,
            rows: 4321,
        };
        let argv = sweep_argv(
            Path::new("c.parquet"),
            &read(),
            &o,
            &fit(),
            11,
            Path::new(OUT),
        );
        let Command::Sweep(c) = parse("sweep", argv) else {
            panic!()
        };
        assert_eq!(SweepOptions::from(&c.sweep), o);
        assert_eq!(
            (ReadOptions::from(&c.read), FitOptions::from(&c.fit), c.seed),
            (read(), fit(), 11)
        );
    }
}

#[test]
fn kmeans_flags_round_trip() {
    let o = KmeansOptions {
        k: 6,
        fit: fit(),
        surrogate_depth: 3,
        stability_resamples: 7,
        stability_sample: 900,
        previous: None,
    };
    let argv = kmeans_argv(Path::new("c.parquet"), &read(), &o, 13, Path::new(OUT));
    let Command::Kmeans(c) = parse("kmeans", argv) else {
        panic!()
    };
    assert_eq!(
        (c.options(), ReadOptions::from(&c.read), c.seed),
        (o, read(), 13)
    );
}

#[test]
fn warm_kmeans_flags_round_trip() {
    let o = KmeansOptions {
        k: 5,
        fit: fit(),
        surrogate_depth: 0,
        stability_resamples: 0,
        stability_sample: 100,
        previous: Some(segmenta::pipeline::WarmStart {
            model: "old run/kmeans/model.json".into(),
            refit_scaler: true,
            max_shift: 0.75,
        }),
    };
    let argv = kmeans_argv(Path::new("c.parquet"), &read(), &o, 2, Path::new(OUT));
    let Command::Kmeans(c) = parse("kmeans", argv) else {
        panic!()
    };
    assert_eq!(c.options(), o);
}

#[test]
fn profile_flags_round_trip() {
    let inputs = ProfileInputs {
        features: "clean/clean.parquet".into(),
        assignments: "kmeans/assignments.parquet".into(),
        model: Some("kmeans/model.json".into()),
        tables: Some("features/tables".into()),
        id_col: "cid".into(),
        lifetime: Some("lifetime/lifetime.json".into()),
        migration: Some("migration/migration.json".into()),
        previous_profile: Some("old/profile/profile.json".into()),
    };
    let personas = Some(PathBuf::from("p.toml"));
    let o = ProfileOptions {
        personas,
        min_support: 0.05,
        min_confidence: 0.4,
        min_lift: 1.5,
        max_len: 2,
        basket_item: Some("description".into()),
        memory_mib: 700,
    };
    let Command::Profile(c) = parse("profile", profile_argv(&inputs, &o, Path::new(OUT))) else {
        panic!()
    };
    assert_eq!((c.inputs(), c.options()), (Some(inputs), o));
}

#[test]
fn run_flags_round_trip_and_defaults_agree() {
    let o = PipelineOptions {
        features: FeaturesOptions {
            map: Some("customer_id=CustomerID".into()),
            ..Default::default()
        },
        clean: CleanOptions {
            outliers: Some("none".into()),
            ..Default::default()
        },
        read: read(),
        k: KChoice::Fixed(5),
        sweep: SweepOptions {
            k_range: vec![2, 3, 4],
            silhouette_sample: 100,
            rows: 1234,
        },
        fit: fit(),
        surrogate_depth: 2,
        stability_resamples: 3,
        stability_sample: 400,
        profile: ProfileOptions::default(),
        lifetime: segmenta::pipeline::LifetimeOptions {
            horizon_days: 30,
            clv_months: 6,
            discount_rate: 0.02,
            memory_mib: defaults::default_memory_mib(),
        },
        seed: 3,
    };
    for o in [o, PipelineOptions::default()] {
        let mut argv = strings(&["-i", "src", "-o", "r"]);
        pipeline::Flags::flags(&o, &mut argv);
        let Command::Run(c) = parse("run", argv) else {
            panic!()
        };
        assert_eq!(c.pipeline.options().unwrap(), o);
    }
    // With no flag at all, clap's defaults are the library's.
    let Command::Run(c) = parse("run", strings(&["-i", "s", "-o", "r"])) else {
        panic!()
    };
    assert_eq!(c.pipeline.options().unwrap(), PipelineOptions::default());
}
