//! What the mall's stores sell: twelve products in each category (readable codes,
//! most popular first), and the co-purchases planted per persona.
//!
//! Outside a planted bundle a purchase draws its category from the customer's mix,
//! then a product of that category by popularity (weight `1 / (rank + 1)^0.7`), so
//! two products meet in a basket no more often than the basket's size makes them.
//! On a buying visit a persona with bundles buys, with probability `bundle_p`, one
//! of its bundles instead: each of its products with probability [`BUNDLE_ITEM_P`];
//! when fewer than two were drawn, the first missing ones in the bundle's order are
//! added (so a two-product bundle always has both, and in a three-product bundle the
//! third is a little rarer than the first two). The bundles are the truth of the basket tests: each
//! planted pair must come out as a rule with lift ≥ 1.5 in its persona's segment,
//! and no unplanted pair may.

use serde::Serialize;

/// Products per category, in `super::CATEGORIES` order, most popular first.
pub const PRODUCTS: [[&str; 12]; 9] = [
    [
        "designer-handbag",
        "fine-jewellery",
        "luxury-watch",
        "silk-scarf",
        "designer-shoes",
        "cashmere-sweater",
        "leather-wallet",
        "designer-sunglasses",
        "tailored-suit",
        "evening-dress",
        "gold-cufflinks",
        "crystal-vase",
    ],
    [
        "t-shirt",
        "jeans",
        "sneakers",
        "dress",
        "jacket",
        "shirt",
        "skirt",
        "sportswear",
        "underwear-pack",
        "belt",
        "cap",
        "socks-pack",
    ],
    [
        "burger-meal",
        "coffee",
        "kids-meal",
        "pizza-slice",
        "ice-cream",
        "popcorn-combo",
        "sushi-box",
        "salad-bowl",
        "juice",
        "pastry",
        "noodle-box",
        "milkshake",
    ],
    [
        "cinema-ticket",
        "arcade-card",
        "game-credit",
        "bowling-lane",
        "escape-room",
        "vr-session",
        "karaoke-hour",
        "concert-ticket",
        "trampoline-pass",
        "board-game",
        "puzzle",
        "comic-book",
    ],
    [
        "phone-accessory",
        "earbuds",
        "charger",
        "smartwatch",
        "tablet",
        "laptop",
        "speaker",
        "game-console",
        "camera",
        "smart-bulb",
        "keyboard",
        "drone",
    ],
    [
        "storage-box",
        "candle",
        "towel-set",
        "cushion",
        "kitchen-utensils",
        "bed-linen",
        "lamp",
        "picture-frame",
        "plant-pot",
        "rug",
        "curtains",
        "cookware",
    ],
    [
        "toy",
        "kids-fashion",
        "school-supplies",
        "baby-care",
        "kids-shoes",
        "plush-toy",
        "building-blocks",
        "doll",
        "kids-book",
        "costume",
        "ride-on",
        "baby-stroller",
    ],
    [
        "perfume",
        "lipstick",
        "skincare-set",
        "shampoo",
        "nail-polish",
        "face-mask",
        "foundation",
        "eyeliner",
        "hair-dryer",
        "body-lotion",
        "razor",
        "cologne",
    ],
    [
        "household-cleaner",
        "bread",
        "milk",
        "fruit",
        "vegetables",
        "coffee-beans",
        "rice",
        "pasta",
        "cheese",
        "snacks",
        "water-pack",
        "wine",
    ],
];

/// Probability that a bundle's product is in a basket that buys the bundle.
pub const BUNDLE_ITEM_P: f64 = 0.85;

/// Popularity weights of a category's products.
pub(super) fn popularity() -> [f64; 12] {
    std::array::from_fn(|r| 1.0 / ((r + 1) as f64).powf(0.7))
}

/// Index of product `code` in category `cat` (panics on a typo: the tables are
/// constant).
pub(super) fn product(cat: usize, code: &str) -> (usize, usize) {
    let j = PRODUCTS[cat]
        .iter()
        .position(|p| *p == code)
        .expect("a planted product is in the catalogue");
    (cat, j)
}

/// A planted co-purchase, as written to `mall.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Affinity {
    /// Planted persona.
    pub persona: String,
    /// Probability that a buying visit buys the bundle.
    pub bundle_p: f64,
    /// Products bought together.
    pub products: Vec<String>,
    /// Their categories.
    pub categories: Vec<String>,
}

/// The bundles of each persona (truth-id order): `(bundle_p, [(category, product)])`.
pub(super) fn bundles() -> Vec<(f64, Vec<(usize, usize)>)> {
    // Categories: 0 luxury, 1 fashion, 2 food, 3 entertainment, 4 electronics,
    // 5 home, 6 kids, 7 beauty, 8 grocery.
    vec![
        // Frequent Weekend Visitor: a film and its popcorn.
        (
            0.30,
            vec![product(3, "cinema-ticket"), product(2, "popcorn-combo")],
        ),
        // Premium Luxury Seeker: luxury fashion, jewellery and cosmetics.
        (
            0.35,
            vec![
                product(0, "designer-handbag"),
                product(0, "fine-jewellery"),
                product(7, "perfume"),
            ],
        ),
        // Deal Explorer: the household run.
        (
            0.30,
            vec![product(8, "household-cleaner"), product(5, "storage-box")],
        ),
        // Family Food-Court Regular: food court, toys and kids' fashion.
        (
            0.35,
            vec![
                product(2, "kids-meal"),
                product(6, "toy"),
                product(6, "kids-fashion"),
            ],
        ),
        // Occasional Window Shopper: none (the control).
        (0.0, vec![]),
        // Digital App Enthusiast: gadgets and games.
        (
            0.30,
            vec![product(4, "phone-accessory"), product(3, "game-credit")],
        ),
    ]
}

/// The planted affinities, for `mall.json`.
pub(super) fn affinities(names: &[&str], categories: &[&str]) -> Vec<Affinity> {
    bundles()
        .into_iter()
        .zip(names)
        .filter(|(b, _)| !b.1.is_empty())
        .map(|((p, items), name)| Affinity {
            persona: name.to_string(),
            bundle_p: p,
            products: items.iter().map(|&(c, j)| PRODUCTS[c][j].into()).collect(),
            categories: items.iter().map(|&(c, _)| categories[c].into()).collect(),
        })
        .collect()
}
