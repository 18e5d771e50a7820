//! `segmenta._native`: the Rust half of the Python package. It is thin on purpose:
//! the estimators' API (parameters, validation, fitted attributes) lives in Python,
//! under `python/segmenta/`, and every call here goes straight to a library
//! function (`segmenta::kmeans::fit`, `segmenta::dbscan::fit_weighted`,
//! `segmenta::pipeline::run_pipeline`, …) with the GIL released while it works.
//!
//! Arrays cross without copies where the layout allows:
//! - in, a C-contiguous `float32` NumPy array is read in place through its
//!   `__array_interface__` ([`Matrix::shared`] keeps a reference to the array);
//! - in, any object with `__arrow_c_stream__` (pyarrow, polars, pandas) is read
//!   through the Arrow C stream interface and written once, row-major;
//! - out, results are [`Buffer`]s that NumPy wraps without copying
//!   (`np.asarray(buffer)`).
//!
//! Errors become the exception classes of `segmenta._errors`, with the library's
//! one-line message unchanged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, Float32Array};
use arrow::datatypes::DataType;
use arrow::ffi_stream::ArrowArrayStreamReader;
use arrow::record_batch::RecordBatchReader;
use arrow_pyarrow::FromPyArrow;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rayon::prelude::*;

use segmenta::dbscan::{self, DbscanParams, Eps};
use segmenta::error::Error;
use segmenta::kmeans::{self, BackendChoice, Init, KMeansParams};
use segmenta::matrix::Matrix;
use segmenta::pipeline::{
    self, BackendOptions, KChoice, MallParams, Observer, PipelineOptions, RunSource, UpdateOptions,
};

/// The exception class of `segmenta._errors` for a library error.
fn class_of(e: &Error) -> &'static str {
    match e {
        Error::NotFound { .. } => "SourceNotFoundError",
        Error::Io { .. } => "FileError",
        // `--input`/`--previous` naming a path that is not there.
        Error::Param { rule, .. } if rule.contains("no such file") => "SourceNotFoundError",
        Error::Param { .. } => "ParameterError",
        Error::Model { .. } => "ModelError",
        Error::NoAdapter(_) | Error::Gpu(_) => "GpuError",
        _ => "InputError",
    }
}

/// Raises `class` of `segmenta._errors` with `msg`.
fn raise(py: Python<'_>, class: &str, msg: String) -> PyErr {
    let made = py
        .import("segmenta._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg.clone(),)));
    match made {
        Ok(v) => PyErr::from_value(v),
        Err(err) => err,
    }
}

fn to_py(py: Python<'_>, e: Error) -> PyErr {
    raise(py, class_of(&e), e.to_string())
}

/// A caller's NumPy buffer, kept alive by a reference to its array.
struct Held {
    _owner: Py<PyAny>,
    ptr: *const f32,
    len: usize,
}

// SAFETY: the buffer belongs to a NumPy array we hold a strong reference to, so it
// is neither freed nor moved while `Held` lives; it is only read. NumPy refuses to
// resize an array that other objects reference.
unsafe impl Send for Held {}
unsafe impl Sync for Held {}

impl AsRef<[f32]> for Held {
    fn as_ref(&self) -> &[f32] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` points at `len` aligned f32 (checked in `borrow_f32`) that
        // live as long as `_owner`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Borrows a C-contiguous, aligned `float32` NumPy array of `ndim` dimensions
/// without copying it. The Python layer converts anything else first.
fn borrow_f32(obj: &Bound<'_, PyAny>, ndim: usize, what: &str) -> PyResult<(Vec<usize>, Held)> {
    let py = obj.py();
    let bad = |why: &str| raise(py, "InputError", format!("{what}: {why}"));
    let ai = obj
        .getattr("__array_interface__")
        .map_err(|_| bad("not a NumPy array"))?;
    let typestr: String = ai.get_item("typestr")?.extract()?;
    if typestr != "<f4" {
        return Err(bad(&format!("dtype {typestr}, expected float32 (<f4)")));
    }
    if !ai.get_item("strides")?.is_none() {
        return Err(bad("not C-contiguous"));
    }
    let shape: Vec<usize> = ai.get_item("shape")?.extract()?;
    if shape.len() != ndim {
        return Err(bad(&format!(
            "{} dimension(s), expected {ndim}",
            shape.len()
        )));
    }
    let (addr, _readonly): (usize, bool) = ai.get_item("data")?.extract()?;
    if addr % std::mem::align_of::<f32>() != 0 {
        return Err(bad("not aligned"));
    }
    let len = shape.iter().product();
    Ok((
        shape,
        Held {
            _owner: obj.clone().unbind(),
            ptr: addr as *const f32,
            len,
        },
    ))
}

/// An `n × d` matrix over the caller's array, without a copy.
fn matrix(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Matrix> {
    let (shape, held) = borrow_f32(obj, 2, what)?;
    Ok(Matrix::shared(shape[0], shape[1], Arc::new(held)))
}

/// A vector over the caller's array (copied: weights and labels are small).
fn vector(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    let (_, held) = borrow_f32(obj, 1, what)?;
    Ok(held.as_ref().to_vec())
}

enum Data {
    F32(Vec<f32>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    Matrix(Matrix),
}

/// A result array owned by Rust that NumPy wraps without a copy
/// (`np.asarray(buffer)` reads `__array_interface__` and keeps the buffer alive).
#[pyclass(frozen, module = "segmenta._native")]
pub struct Buffer {
    data: Data,
    shape: Vec<usize>,
}

impl Buffer {
    fn f32(v: Vec<f32>, shape: Vec<usize>) -> Buffer {
        Buffer {
            data: Data::F32(v),
            shape,
        }
    }
    fn i32(v: Vec<i32>) -> Buffer {
        let shape = vec![v.len()];
        Buffer {
            data: Data::I32(v),
            shape,
        }
    }
}

#[pymethods]
impl Buffer {
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (ptr, typestr) = match &self.data {
            Data::F32(v) => (v.as_ptr() as usize, "<f4"),
            Data::I32(v) => (v.as_ptr() as usize, "<i4"),
            Data::U8(v) => (v.as_ptr() as usize, "|b1"),
            Data::Matrix(m) => (m.data().as_ptr() as usize, "<f4"),
        };
        let d = PyDict::new(py);
        d.set_item("shape", pyo3::types::PyTuple::new(py, &self.shape)?)?;
        d.set_item("typestr", typestr)?;
        d.set_item("data", (ptr, false))?;
        d.set_item("version", 3)?;
        Ok(d)
    }
}

/// Reads an Arrow stream (`__arrow_c_stream__`: pyarrow tables, polars and pandas
/// frames) into one row-major `float32` matrix. Returns the column names and the
/// matrix. Every column must be numeric (integers, floats or booleans) and
/// complete.
#[pyfunction]
fn arrow_matrix(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, Buffer)> {
    let reader = ArrowArrayStreamReader::from_pyarrow_bound(obj)?;
    let schema = reader.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for f in schema.fields() {
        let t = f.data_type();
        if !(t.is_numeric() || *t == DataType::Boolean) {
            return Err(raise(
                py,
                "InputError",
                format!(
                    "column `{}` is {t}, not numeric (rule: features are integers, floats or booleans; encode text columns first)",
                    f.name()
                ),
            ));
        }
    }
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| raise(py, "InputError", format!("reading the Arrow stream: {e}")))?;
    let d = names.len();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut data = vec![0f32; n * d];
    let mut row0 = 0usize;
    for b in &batches {
        let rows = b.num_rows();
        let part = &mut data[row0 * d..(row0 + rows) * d];
        for (j, col) in b.columns().iter().enumerate() {
            if col.null_count() > 0 {
                let first = (0..rows).find(|&i| col.is_null(i)).unwrap_or(0);
                return Err(raise(
                    py,
                    "InputError",
                    format!(
                        "column `{}` has {} missing value(s), first at row {} (rule: every cell must be present; impute them first, e.g. with segmenta.run's cleaning)",
                        names[j],
                        col.null_count(),
                        row0 + first
                    ),
                ));
            }
            let cast = arrow::compute::cast(col, &DataType::Float32)
                .map_err(|e| raise(py, "InputError", format!("column `{}`: {e}", names[j])))?;
            let v = cast
                .as_any()
                .downcast_ref::<Float32Array>()
                .expect("cast to Float32 gives a Float32Array")
                .values();
            part.par_chunks_mut(d.max(1))
                .zip(v.par_iter())
                .for_each(|(row, x)| row[j] = *x);
        }
        row0 += rows;
    }
    let m = Matrix::new(n, d, data);
    Ok((
        names,
        Buffer {
            data: Data::Matrix(m),
            shape: vec![n, d],
        },
    ))
}

fn backend_choice(py: Python<'_>, name: &str) -> PyResult<BackendChoice> {
    match name {
        "auto" => Ok(BackendChoice::Auto),
        "cpu" => Ok(BackendChoice::Cpu),
        "gpu" => Ok(BackendChoice::Gpu),
        other => Err(raise(
            py,
            "ParameterError",
            format!("invalid backend: `{other}` (rule: auto, cpu or gpu)"),
        )),
    }
}

/// Set once `auto` has found no hardware GPU in this process: later fits go
/// straight to the CPU instead of probing the adapters again (a probe costs tens
/// of milliseconds, which a grid search of small fits would pay every time).
static NO_HARDWARE_GPU: AtomicBool = AtomicBool::new(false);

/// What a long call tells the notebook: steps on `sys.stderr` when verbose;
/// warnings kept for the Python layer to raise as `warnings.warn`.
struct PyObserver {
    verbose: bool,
    warnings: Mutex<Vec<String>>,
}

impl PyObserver {
    fn new(verbose: bool) -> PyObserver {
        PyObserver {
            verbose,
            warnings: Mutex::new(Vec::new()),
        }
    }
    fn say(&self, line: &str) {
        if self.verbose {
            Python::attach(|py| {
                if let Ok(err) = py.import("sys").and_then(|s| s.getattr("stderr")) {
                    let _ = err.call_method1("write", (format!("segmenta: {line}\n"),));
                }
            });
        }
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Observer for PyObserver {
    fn step(&self, what: &str) {
        self.say(what);
    }
    fn warn(&self, msg: &str) {
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(msg.to_string());
    }
    fn info(&self, msg: &str) {
        self.say(msg);
    }
}

/// Fits K-means on `x` (C-contiguous float32, n × d), as `segmenta kmeans` does
/// after scaling: `segmenta::kmeans::fit` on the chosen backend.
#[pyfunction]
#[pyo3(signature = (x, weights, k, init, centers, n_init, max_iter, tol, seed, backend))]
#[allow(clippy::too_many_arguments)]
fn kmeans_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    weights: Option<&Bound<'py, PyAny>>,
    k: usize,
    init: &str,
    centers: Option<&Bound<'py, PyAny>>,
    n_init: Option<usize>,
    max_iter: usize,
    tol: f64,
    seed: u64,
    backend: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let x = matrix(x, "X")?;
    let w = weights.map(|w| vector(w, "sample_weight")).transpose()?;
    let init = match (init, centers) {
        ("k-means++", _) => Init::KMeansPlusPlus,
        ("random", _) => Init::Random,
        ("given", Some(c)) => Init::Given(vector(c, "init")?),
        (other, _) => {
            return Err(raise(
                py,
                "ParameterError",
                format!("invalid init: `{other}` (rule: 'k-means++', 'random' or an array)"),
            ))
        }
    };
    let mut p = KMeansParams::new(k)
        .max_iter(max_iter)
        .tol(tol)
        .seed(seed)
        .init(init);
    if let Some(n) = n_init {
        p = p.n_init(n);
    }
    let p = p.check(x.n(), x.d()).map_err(|e| to_py(py, e))?;
    let choice = match backend_choice(py, backend)? {
        BackendChoice::Auto if NO_HARDWARE_GPU.load(Ordering::Relaxed) => BackendChoice::Cpu,
        c => c,
    };
    let opts = BackendOptions {
        backend: choice,
        ..BackendOptions::default()
    };
    let obs = PyObserver::new(false);
    let fit = py
        .detach(|| {
            pipeline::with_backend(&opts, &x, w.as_deref(), &obs, |b| {
                kmeans::fit(&x, w.as_deref(), &p, b, &mut |_| {})
            })
        })
        .map_err(|e| to_py(py, e))?;
    if choice == BackendChoice::Auto && fit.backend.starts_with("cpu") {
        NO_HARDWARE_GPU.store(true, Ordering::Relaxed);
    }
    let out = PyDict::new(py);
    let d = x.d();
    out.set_item("centers", Buffer::f32(fit.centroids, vec![k, d]))?;
    let labels = fit.labels.iter().map(|&l| l as i32).collect();
    out.set_item("labels", Buffer::i32(labels))?;
    let n = fit.sq_distances.len();
    out.set_item("sq_distances", Buffer::f32(fit.sq_distances, vec![n]))?;
    out.set_item("inertia", fit.inertia)?;
    out.set_item("n_iter", fit.iterations)?;
    out.set_item("converged", fit.converged)?;
    out.set_item("backend", fit.backend)?;
    out.set_item("warnings", PyList::new(py, obs.take())?)?;
    out.set_item("input_shared", x.is_shared())?;
    Ok(out)
}

/// The nearest of `centers` (k × d) for every row of `x`, and the squared distance.
#[pyfunction]
fn kmeans_assign(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    centers: &Bound<'_, PyAny>,
) -> PyResult<(Buffer, Buffer)> {
    let x = matrix(x, "X")?;
    let c = matrix(centers, "cluster_centers_")?;
    if c.d() != x.d() {
        return Err(raise(
            py,
            "InputError",
            format!(
                "X has {} features, but the model was fitted with {}",
                x.d(),
                c.d()
            ),
        ));
    }
    let (labels, dist) = py
        .detach(|| kmeans::assign(&x, c.data()))
        .map_err(|e| to_py(py, e))?;
    let n = dist.len();
    Ok((
        Buffer::i32(labels.iter().map(|&l| l as i32).collect()),
        Buffer::f32(dist, vec![n]),
    ))
}

/// Exact DBSCAN (`segmenta::dbscan::fit_weighted`). Returns labels (-1: noise) and
/// the core flag of every row.
#[pyfunction]
#[pyo3(signature = (x, eps, min_samples, weights))]
fn dbscan_fit(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    eps: f64,
    min_samples: usize,
    weights: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Buffer, Buffer)> {
    let x = matrix(x, "X")?;
    let w = weights.map(|w| vector(w, "sample_weight")).transpose()?;
    let p = DbscanParams {
        eps: Eps::Value(eps),
        min_samples,
        seed: 0,
    }
    .check(x.n())
    .map_err(|e| to_py(py, e))?;
    let fit = py
        .detach(|| dbscan::fit_weighted(&x, w.as_deref(), &p))
        .map_err(|e| to_py(py, e))?;
    let n = fit.core.len();
    Ok((
        Buffer::i32(fit.labels),
        Buffer {
            data: Data::U8(fit.core.iter().map(|&c| c as u8).collect()),
            shape: vec![n],
        },
    ))
}

/// New rows to the cluster of their nearest core sample within `eps`, else -1.
#[pyfunction]
fn dbscan_predict(
    py: Python<'_>,
    cores: &Bound<'_, PyAny>,
    core_labels: Vec<i32>,
    eps: f64,
    x: &Bound<'_, PyAny>,
) -> PyResult<Buffer> {
    let cores = matrix(cores, "components_")?;
    let x = matrix(x, "X")?;
    let (labels, _) = py.detach(|| dbscan::predict(&cores, &core_labels, eps, &x));
    Ok(Buffer::i32(labels))
}

/// Generates a mall into `out` (`segmenta generate`); returns `mall.json` as text.
#[pyfunction]
fn generate(py: Python<'_>, params: &str, out: PathBuf, verbose: bool) -> PyResult<String> {
    let p: MallParams = serde_json::from_str(params).map_err(|e| {
        raise(
            py,
            "ParameterError",
            format!("invalid generate parameters: {e}"),
        )
    })?;
    let obs = PyObserver::new(verbose);
    let m = py
        .detach(|| pipeline::generate(&p, &out, &obs))
        .map_err(|e| to_py(py, e))?;
    serde_json::to_string(&m).map_err(|e| raise(py, "SegmentaError", e.to_string()))
}

/// The options `run` and `update` share, from the Python keywords.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct RunArgs {
    k: Option<usize>,
    map: Option<String>,
    as_of: Option<String>,
    since: Option<String>,
    seed: u64,
    backend: String,
    stability_resamples: Option<usize>,
    memory_mib: Option<usize>,
}

impl RunArgs {
    fn options(&self, py: Python<'_>) -> PyResult<PipelineOptions> {
        let mut o = PipelineOptions {
            k: self.k.map_or(KChoice::Auto, KChoice::Fixed),
            seed: self.seed,
            ..PipelineOptions::default()
        };
        o.features.map = self.map.clone();
        o.features.as_of = self.as_of.clone();
        o.features.since = self.since.clone();
        if let Some(m) = self.memory_mib {
            o.features.memory_mib = m;
        }
        o.fit.backend.backend = backend_choice(py, &self.backend)?;
        if let Some(r) = self.stability_resamples {
            o.stability_resamples = r;
        }
        Ok(o)
    }
}

fn outcome<'py>(
    py: Python<'py>,
    r: pipeline::RunOutcome,
    obs: &PyObserver,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("report", r.report)?;
    d.set_item("manifest", r.manifest)?;
    d.set_item("ran", r.ran)?;
    d.set_item("reused", r.reused)?;
    d.set_item("k", r.k)?;
    d.set_item("backend", r.backend)?;
    d.set_item("warnings", PyList::new(py, obs.take())?)?;
    Ok(d)
}

/// The whole pipeline into `out` (`segmenta run`, or `demo` with `mall`).
#[pyfunction]
#[pyo3(signature = (source, mall, out, args, command, force, verbose))]
#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    source: Option<PathBuf>,
    mall: Option<&str>,
    out: PathBuf,
    args: RunArgs,
    command: String,
    force: bool,
    verbose: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = args.options(py)?;
    let source = match (source, mall) {
        (Some(s), None) => RunSource::Sources(s),
        (None, Some(m)) => RunSource::Generate(serde_json::from_str(m).map_err(|e| {
            raise(
                py,
                "ParameterError",
                format!("invalid mall parameters: {e}"),
            )
        })?),
        _ => {
            return Err(raise(
                py,
                "ParameterError",
                "invalid sources: give a folder or file of sources, or a mall to generate".into(),
            ))
        }
    };
    let obs = PyObserver::new(verbose);
    let r = py
        .detach(|| pipeline::run_pipeline(&source, &out, &opts, command, force, &obs))
        .map_err(|e| to_py(py, e))?;
    outcome(py, r, &obs)
}

/// Next month's run (`segmenta update`).
#[pyfunction]
#[pyo3(signature = (previous, source, out, args, refit_clean, refit_scaler, max_shift, min_overlap, command, force, verbose))]
#[allow(clippy::too_many_arguments)]
fn update<'py>(
    py: Python<'py>,
    previous: PathBuf,
    source: PathBuf,
    out: PathBuf,
    args: RunArgs,
    refit_clean: bool,
    refit_scaler: bool,
    max_shift: Option<f64>,
    min_overlap: Option<f64>,
    command: String,
    force: bool,
    verbose: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut opts = UpdateOptions {
        pipeline: args.options(py)?,
        refit_clean,
        refit_scaler,
        ..UpdateOptions::default()
    };
    if let Some(s) = max_shift {
        opts.max_shift = s;
    }
    if let Some(m) = min_overlap {
        opts.min_overlap = m;
    }
    let obs = PyObserver::new(verbose);
    let src = RunSource::Sources(source);
    let r = py
        .detach(|| pipeline::update(&previous, &src, &out, &opts, command, force, &obs))
        .map_err(|e| to_py(py, e))?;
    outcome(py, r, &obs)
}

/// A generated mall's parameters with the documented defaults, as JSON.
#[pyfunction]
fn mall_defaults(months: u32) -> PyResult<String> {
    let p = MallParams::new(pipeline::defaults::DEFAULT_CUSTOMERS, months);
    serde_json::to_string(&p).map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
}

/// The library's version, for `segmenta.__version__` checks.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Buffer>()?;
    m.add_function(wrap_pyfunction!(arrow_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_fit, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_assign, m)?)?;
    m.add_function(wrap_pyfunction!(dbscan_fit, m)?)?;
    m.add_function(wrap_pyfunction!(dbscan_predict, m)?)?;
    m.add_function(wrap_pyfunction!(generate, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(update, m)?)?;
    m.add_function(wrap_pyfunction!(mall_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
