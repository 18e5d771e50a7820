//! The canonical raw tables (ARCHITECTURE.md): their names, columns and column
//! kinds. This is the one definition of them, shared by the stages that meet them:
//! `generate` writes these tables, `features` maps each source onto them (and keeps
//! its accepted rows in this form), and `profile` reads transactions and streaming
//! back for its basket and streaming parts.

/// The kind of a canonical column, which decides its cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Customer id: BIGINT when the source is numeric, else VARCHAR.
    Id,
    /// A timestamp.
    Ts,
    /// A floating-point number.
    Num,
    /// An integer.
    Int,
    /// Text.
    Text,
    /// A calendar date.
    Date,
}

/// A canonical table: its name and columns `(name, kind, required)`.
pub struct Canonical {
    /// Table name.
    pub name: &'static str,
    /// Columns.
    pub columns: &'static [(&'static str, Kind, bool)],
}

/// The canonical raw tables (ARCHITECTURE.md), customers first: the others check
/// their ids against it.
pub const CANONICAL: &[Canonical] = &[
    Canonical {
        name: "customers",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("birth_year", Kind::Int, false),
            ("gender", Kind::Text, false),
            ("income_monthly", Kind::Num, false),
            ("signup_date", Kind::Date, false),
            ("country", Kind::Text, false),
        ],
    },
    Canonical {
        name: "transactions",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("ts", Kind::Ts, true),
            ("amount", Kind::Num, true),
            ("store_id", Kind::Int, false),
            ("category", Kind::Text, false),
            ("product", Kind::Text, false),
            ("description", Kind::Text, false),
            ("discount", Kind::Num, false),
            ("invoice", Kind::Text, false),
            ("country", Kind::Text, false),
        ],
    },
    Canonical {
        name: "visits",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("entered_at", Kind::Ts, true),
            ("left_at", Kind::Ts, true),
            ("entrance", Kind::Text, false),
        ],
    },
    Canonical {
        name: "wifi_sessions",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("started_at", Kind::Ts, true),
            ("ended_at", Kind::Ts, true),
            ("zone", Kind::Text, false),
        ],
    },
    Canonical {
        name: "app_events",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("ts", Kind::Ts, true),
            ("event", Kind::Text, true),
        ],
    },
    Canonical {
        name: "streaming",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("package", Kind::Text, true),
            ("since", Kind::Date, false),
        ],
    },
];

/// The canonical table names, comma-separated (for error messages).
pub fn table_names() -> String {
    CANONICAL
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}
