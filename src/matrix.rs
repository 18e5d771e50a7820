//! `Matrix`: the dense, row-major `f32` customer × feature matrix every algorithm
//! works on. Row-major because each algorithm streams whole customers (a row is one
//! cache line at d = 16) and because that is the layout the GPU upload expects.
//!
//! The buffer is either owned or shared with its owner elsewhere
//! ([`Matrix::shared`]): the Python bindings wrap a C-contiguous `float32` NumPy
//! array this way, so that a fit reads the caller's memory without a copy.

use std::sync::Arc;

use ndarray::{ArrayView2, ShapeBuilder};

/// A buffer owned elsewhere (e.g. by a NumPy array), read-only while shared.
pub type SharedBuffer = Arc<dyn AsRef<[f32]> + Send + Sync>;

#[derive(Clone)]
enum Storage {
    Owned(Vec<f32>),
    Shared(SharedBuffer),
}

/// Dense row-major matrix of `n` rows and `d` columns.
#[derive(Clone)]
pub struct Matrix {
    n: usize,
    d: usize,
    data: Storage,
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matrix")
            .field("n", &self.n)
            .field("d", &self.d)
            .field("shared", &self.is_shared())
            .field("data", &self.data())
            .finish()
    }
}

impl PartialEq for Matrix {
    fn eq(&self, other: &Matrix) -> bool {
        self.n == other.n && self.d == other.d && self.data() == other.data()
    }
}

impl Matrix {
    /// Wraps `data` (length `n * d`, row-major). Panics when the length is wrong,
    /// which is a programming error, never an input error.
    pub fn new(n: usize, d: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), n * d, "matrix data has the wrong length");
        Matrix {
            n,
            d,
            data: Storage::Owned(data),
        }
    }

    /// Wraps a buffer owned elsewhere, without copying it. Panics when its length
    /// is not `n * d`. A later [`Matrix::data_mut`] copies it first.
    pub fn shared(n: usize, d: usize, data: SharedBuffer) -> Self {
        assert_eq!(
            (*data).as_ref().len(),
            n * d,
            "matrix data has the wrong length"
        );
        Matrix {
            n,
            d,
            data: Storage::Shared(data),
        }
    }

    /// Whether the buffer is shared with its owner ([`Matrix::shared`]).
    pub fn is_shared(&self) -> bool {
        matches!(self.data, Storage::Shared(_))
    }

    /// Number of rows (customers).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of columns (features).
    pub fn d(&self) -> usize {
        self.d
    }

    /// The whole buffer, row-major.
    pub fn data(&self) -> &[f32] {
        match &self.data {
            Storage::Owned(v) => v,
            Storage::Shared(s) => (**s).as_ref(),
        }
    }

    /// The whole buffer, mutable (a shared buffer is copied first).
    pub fn data_mut(&mut self) -> &mut [f32] {
        if let Storage::Shared(s) = &self.data {
            self.data = Storage::Owned((**s).as_ref().to_vec());
        }
        match &mut self.data {
            Storage::Owned(v) => v,
            Storage::Shared(_) => unreachable!("made owned above"),
        }
    }

    /// The rows `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Matrix {
        let d = self.d;
        let mut data = Vec::with_capacity(rows.len() * d);
        for &i in rows {
            data.extend_from_slice(self.row(i));
        }
        Matrix::new(rows.len(), d, data)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data()[i * self.d..(i + 1) * self.d]
    }

    /// Consumes the matrix, returning its buffer.
    pub fn into_data(self) -> Vec<f32> {
        match self.data {
            Storage::Owned(v) => v,
            Storage::Shared(s) => (*s).as_ref().to_vec(),
        }
    }

    /// An `ndarray` view, for callers who prefer that API.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.n, self.d).strides((self.d, 1)), self.data())
            .expect("length checked in Matrix::new")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_matches_rows() {
        let m = Matrix::new(2, 3, vec![1., 2., 3., 4., 5., 6.]);
        let v = m.view();
        assert_eq!(v[[1, 2]], 6.0);
        assert_eq!(m.row(1), &[4., 5., 6.]);
    }

    #[test]
    fn a_shared_buffer_is_read_in_place_and_copied_on_write() {
        let buf: SharedBuffer = Arc::new(vec![1.0f32, 2., 3., 4.]);
        let mut m = Matrix::shared(2, 2, buf.clone());
        assert!(m.is_shared());
        assert_eq!(m.data().as_ptr(), (*buf).as_ref().as_ptr());
        assert_eq!(m, Matrix::new(2, 2, vec![1., 2., 3., 4.]));
        m.data_mut()[0] = 9.0;
        assert!(!m.is_shared());
        assert_eq!(
            (*buf).as_ref()[0],
            1.0,
            "the owner's buffer is never written"
        );
        assert_eq!(m.row(0), &[9., 2.]);
    }
}
