//! `Matrix`: the dense, row-major `f32` customer × feature matrix every algorithm
//! works on. Row-major because each algorithm streams whole customers (a row is one
//! cache line at d = 16) and because that is the layout the GPU upload expects.

use ndarray::{ArrayView2, ShapeBuilder};

/// Dense row-major matrix of `n` rows and `d` columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    n: usize,
    d: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// Wraps `data` (length `n * d`, row-major). Panics when the length is wrong,
    /// which is a programming error, never an input error.
    pub fn new(n: usize, d: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), n * d, "matrix data has the wrong length");
        Matrix { n, d, data }
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
        &self.data
    }

    /// The whole buffer, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
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
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// Consumes the matrix, returning its buffer.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// An `ndarray` view, for callers who prefer that API.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.n, self.d).strides((self.d, 1)), &self.data)
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
}
