//! The Arrow layout of the mall's tables: one schema per written file (the
//! canonical raw tables, then `truth`), and the rows of a chunk of customers, column
//! by column, turned into batches in that same order.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::{DirtCounts, Persona};

/// Rows of one chunk, column by column.
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) cust_id: Vec<i64>,
    pub(super) cust_birth: Vec<Option<i32>>,
    pub(super) cust_gender: Vec<&'static str>,
    pub(super) cust_income: Vec<f64>,
    pub(super) cust_signup: Vec<i32>,
    pub(super) truth_persona: Vec<i32>,
    pub(super) truth_churned: Vec<bool>,
    pub(super) truth_after: Vec<i32>,
    pub(super) truth_switch: Vec<Option<i32>>,
    pub(super) tx_id: Vec<i64>,
    pub(super) tx_ts: Vec<i64>,
    pub(super) tx_store: Vec<i32>,
    pub(super) tx_cat: Vec<&'static str>,
    pub(super) tx_product: Vec<&'static str>,
    pub(super) tx_amount: Vec<f64>,
    pub(super) tx_discount: Vec<f64>,
    pub(super) vi_id: Vec<i64>,
    pub(super) vi_in: Vec<i64>,
    pub(super) vi_out: Vec<i64>,
    pub(super) vi_entrance: Vec<&'static str>,
    pub(super) wi_id: Vec<i64>,
    pub(super) wi_start: Vec<i64>,
    pub(super) wi_end: Vec<i64>,
    pub(super) wi_zone: Vec<&'static str>,
    pub(super) ap_id: Vec<i64>,
    pub(super) ap_ts: Vec<i64>,
    pub(super) ap_event: Vec<&'static str>,
    pub(super) st_id: Vec<i64>,
    pub(super) st_pkg: Vec<&'static str>,
    pub(super) st_since: Vec<i32>,
    pub(super) dirt: DirtCounts,
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) schema: SchemaRef,
}

// The names and columns of the canonical tables (all but `truth`) are defined once,
// in `crate::schema::CANONICAL`, and spelled again here with the generator's own
// Arrow types, nullability and column order: for transactions, `store_id` and
// `category` and `product` come before `amount`, and there is no `invoice`. Both orders (of the
// tables, and of the columns in each) must match `Chunk::batches`, and the table
// order also the `rows` of `generate_mall`.
pub(super) fn tables() -> Vec<Table> {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    let id = || f("customer_id", DataType::Int64, false);
    let s = |fields: Vec<Field>| Arc::new(Schema::new(fields));
    vec![
        Table {
            name: "customers",
            schema: s(vec![
                id(),
                f("birth_year", DataType::Int32, true),
                f("gender", DataType::Utf8, false),
                f("income_monthly", DataType::Float64, false),
                f("signup_date", DataType::Date32, false),
            ]),
        },
        Table {
            name: "transactions",
            schema: s(vec![
                id(),
                f("ts", ts_type(), false),
                f("store_id", DataType::Int32, false),
                f("category", DataType::Utf8, false),
                f("product", DataType::Utf8, false),
                f("amount", DataType::Float64, false),
                f("discount", DataType::Float64, false),
            ]),
        },
        Table {
            name: "visits",
            schema: s(vec![
                id(),
                f("entered_at", ts_type(), false),
                f("left_at", ts_type(), false),
                f("entrance", DataType::Utf8, false),
            ]),
        },
        Table {
            name: "wifi_sessions",
            schema: s(vec![
                id(),
                f("started_at", ts_type(), false),
                f("ended_at", ts_type(), false),
                f("zone", DataType::Utf8, false),
            ]),
        },
        Table {
            name: "app_events",
            schema: s(vec![
                id(),
                f("ts", ts_type(), false),
                f("event", DataType::Utf8, false),
            ]),
        },
        Table {
            name: "streaming",
            schema: s(vec![
                id(),
                f("package", DataType::Utf8, false),
                f("since", DataType::Date32, false),
            ]),
        },
        Table {
            name: "truth",
            schema: s(vec![
                id(),
                f("persona_id", DataType::Int32, false),
                f("persona", DataType::Utf8, false),
                f("churned", DataType::Boolean, false),
                f("persona_after_id", DataType::Int32, false),
                f("switched_on", DataType::Date32, true),
            ]),
        },
    ]
}

fn strs(v: &[&'static str]) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v.iter().copied()))
}
fn ints(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}
fn tss(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v))
}

impl Chunk {
    /// One row of `visits`.
    pub(super) fn push_visit(&mut self, id: i64, entered: i64, left: i64, entrance: &'static str) {
        self.vi_id.push(id);
        self.vi_in.push(entered);
        self.vi_out.push(left);
        self.vi_entrance.push(entrance);
    }

    pub(super) fn batches(self, ps: &[Persona]) -> Vec<Vec<ArrayRef>> {
        let names: Vec<&'static str> = self
            .truth_persona
            .iter()
            .map(|&p| ps[p as usize].name)
            .collect();
        vec![
            vec![
                ints(self.cust_id.clone()),
                Arc::new(Int32Array::from(self.cust_birth)),
                strs(&self.cust_gender),
                Arc::new(Float64Array::from(self.cust_income)),
                Arc::new(Date32Array::from(self.cust_signup)),
            ],
            vec![
                ints(self.tx_id),
                tss(self.tx_ts),
                Arc::new(Int32Array::from(self.tx_store)),
                strs(&self.tx_cat),
                strs(&self.tx_product),
                Arc::new(Float64Array::from(self.tx_amount)),
                Arc::new(Float64Array::from(self.tx_discount)),
            ],
            vec![
                ints(self.vi_id),
                tss(self.vi_in),
                tss(self.vi_out),
                strs(&self.vi_entrance),
            ],
            vec![
                ints(self.wi_id),
                tss(self.wi_start),
                tss(self.wi_end),
                strs(&self.wi_zone),
            ],
            vec![ints(self.ap_id), tss(self.ap_ts), strs(&self.ap_event)],
            vec![
                ints(self.st_id),
                strs(&self.st_pkg),
                Arc::new(Date32Array::from(self.st_since)),
            ],
            vec![
                ints(self.cust_id),
                Arc::new(Int32Array::from(self.truth_persona)),
                strs(&names),
                Arc::new(BooleanArray::from(self.truth_churned)),
                Arc::new(Int32Array::from(self.truth_after)),
                Arc::new(Date32Array::from(self.truth_switch)),
            ],
        ]
    }
}
