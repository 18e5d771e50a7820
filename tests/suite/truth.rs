//! The main job against the generator's truth: `segmenta run` with default flags
//! finds the six planted personas of a mall other than the one the step-by-step
//! test (`mall.rs`) uses, and a retailer's category groups file written for fewer
//! groups still works.

use std::collections::BTreeMap;

use super::util::*;

/// `segmenta run`, k auto, on a 50k mall of another seed and a 6-month history
/// (the demo's length): the vote of the indices recommends 6, the segments match
/// the personas (ARI ≥ 0.9), and the segment that holds most of each persona
/// carries its planted name.
#[test]
fn run_with_defaults_finds_the_planted_personas() {
    let d = tempdir();
    let mall = d.path().join("mall");
    let o = segmenta(&[
        "generate",
        "--customers",
        "50000",
        "--months",
        "6",
        "--seed",
        "42",
        "-o",
        p(&mall),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = d.path().join("run");
    let o = segmenta(&["run", "-i", p(&mall), "-o", p(&run), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let sweep = read_json(&run.join("sweep/sweep.json"));
    let rec = &sweep["recommended"];
    assert_eq!(rec["k"], 6, "{rec}");

    let ids = read_i64(&run.join("kmeans/assignments.parquet"), "customer_id");
    let seg = read_i64(&run.join("kmeans/assignments.parquet"), "segment");
    let truth: BTreeMap<i64, i64> = read_i64(&mall.join("truth.parquet"), "customer_id")
        .into_iter()
        .zip(read_i64(&mall.join("truth.parquet"), "persona_id"))
        .collect();
    let t: Vec<i64> = ids.iter().map(|i| truth[i]).collect();
    let ari = segmenta::metrics::adjusted_rand_index(&t, &seg);
    let mut conf = vec![[0u64; 6]; 6];
    for (a, b) in t.iter().zip(&seg) {
        conf[*a as usize][*b as usize] += 1;
    }
    eprintln!("ARI {ari:.4}; {}; confusion {conf:?}", rec["reason"]);
    assert!(ari >= 0.9, "ARI {ari}: {conf:?}");

    let m = read_json(&mall.join("mall.json"));
    let prof = read_json(&run.join("profile/profile.json"));
    for (pi, row) in conf.iter().enumerate() {
        let planted = m["personas"][pi][0].as_str().unwrap();
        let best = (0..6).max_by_key(|&s| row[s]).unwrap();
        let name = prof["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["segment"] == best as i64)
            .unwrap()["persona"]
            .as_str()
            .unwrap();
        assert_eq!(
            name, planted,
            "segment {best} holds most of {planted}: {row:?}"
        );
    }
}

/// A groups file with only `luxury` and `food` (written before the default SQL
/// had nine groups) still runs: the groups it lacks hold no category, their
/// shares are 0 for everyone and left out, and features.json says which.
#[test]
fn a_groups_file_with_fewer_groups_still_works() {
    let d = tempdir();
    let mall = d.path().join("mall");
    let o = segmenta(&[
        "generate",
        "--customers",
        "2000",
        "--months",
        "3",
        "-o",
        p(&mall),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let groups = d.path().join("groups.toml");
    std::fs::write(
        &groups,
        "luxury = [\"luxury\"]\nfood = [\"food\", \"grocery\"]\n",
    )
    .unwrap();
    let out = d.path().join("feat");
    let o = segmenta(&[
        "features",
        "-i",
        p(&mall),
        "--category-groups",
        p(&groups),
        "-o",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_json(&out.join("features.json"));
    let absent = json_strs(&f["category_groups_absent"], |v| v);
    assert_eq!(
        absent,
        [
            "fashion",
            "entertainment",
            "electronics",
            "home",
            "kids",
            "beauty",
            "grocery"
        ]
    );
    let constant = json_strs(&f["constant"], |c| &c[0]);
    for g in &absent {
        assert!(
            constant.contains(&format!("{g}_spend_share").as_str()),
            "{g}: {constant:?}"
        );
    }
    let names = json_strs(&f["features"], |c| &c["name"]);
    assert!(names.contains(&"luxury_spend_share") && names.contains(&"food_spend_share"));
    assert!(!names.contains(&"kids_spend_share"), "{names:?}");
    assert!(
        stdout(&o).contains("category groups not in"),
        "{}",
        stdout(&o)
    );

    // The user's own SQL naming a group the file lacks is still an error (a typo
    // in a group name must not silently zero a feature).
    let sql = d.path().join("own.sql");
    let text = segmenta(&["features", "--print-sql"]);
    std::fs::write(&sql, format!("-- my own copy\n{}", stdout(&text))).unwrap();
    let o = segmenta(&[
        "features",
        "-i",
        p(&mall),
        "--sql",
        p(&sql),
        "--category-groups",
        p(&groups),
        "-o",
        p(&d.path().join("feat2")),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("category group `fashion`"),
        "{}",
        stderr(&o)
    );
}
