// Fused K-means assignment and per-workgroup partial sums.
//
// Each workgroup walks tiles of WG rows (tile = workgroup_id, + groups, ...), so the
// mapping of rows to workgroups is fixed and the sums are deterministic. Per tile:
//  1. every invocation takes one row, keeps it in registers, scans the centroids
//     (staged in workgroup memory, tile by tile when k x d does not fit) with the
//     squared distance sum_j fma(x_j - c_j, x_j - c_j, acc) in feature order (the
//     CPU backend's chain) and keeps the first minimum. It writes its label and
//     squared distance; the n x k distance matrix is never formed.
//  2. the rows of the tile are grouped by label with per-cluster bit masks
//     (atomicOr: the result does not depend on timing), and each (cluster, group of
//     up to DPT features) task sums its rows in row order into the workgroup's own
//     slot of `partials`. No float atomics, no races, the same sums on every run.
// Row data is column-major within a chunk (x[j * rows + r]) so loads coalesce.

const WG: u32 = 256u;          // mirrored by WORKGROUP_SIZE in src/kmeans/gpu.rs
const CT_FLOATS: u32 = 2048u;  // centroid tile in workgroup memory (8 KiB)
const MASK_K: u32 = 64u;       // clusters per mask window
const SXS: u32 = WG + 1u;      // staged row stride: one float of padding keeps the banks apart
const DPT: u32 = 4u;           // features per summing task at most

// Specialised per data set by src/kmeans/gpu.rs before compiling (this file as
// written is the d = 16 version): D4 is the feature count padded to a multiple of 4;
// the ROW_LOAD and ROW_DIST regions are regenerated with one vec4 variable per four
// features, so the row lives in registers (no array the compiler could spill); STAGE
// and SX say whether the tile's rows are also copied to workgroup memory for the
// summing tasks (when WG * D4 floats fit next to the rest).
const D4: u32 = 16u;
const STAGE: bool = true;
const SX: u32 = 4112u;

struct Params {
    rows: u32,        // rows in this chunk
    d: u32,           // real feature count
    k: u32,
    slot: u32,        // first partials slot of this chunk
    groups: u32,      // workgroups dispatched for this chunk
    flags: u32,       // bit 0: weighted; bit 1: first step (every row counts as changed);
                      // bit 2: skip the sums (timing probe)
    tile_k: u32,      // centroids per workgroup-memory tile
    stride: u32,      // floats per partials slot: k*d + k + 1
    dpt: u32,         // features per summing task, 1..=DPT
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<vec4<f32>>;   // k rows of D4/4 vec4
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> dist: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
@group(0) @binding(7) var<storage, read_write> changed: atomic<u32>;  // integer: order-free

var<workgroup> sc: array<vec4<f32>, 512>;          // CT_FLOATS / 4
var<workgroup> slab: array<u32, WG>;
var<workgroup> sred: array<f32, WG>;
var<workgroup> masks: array<atomic<u32>, 512>;     // MASK_K * WG / 32
var<workgroup> sx: array<f32, SX>;                 // the tile's rows, [feature][row], rows padded to WG + 1
var<workgroup> sw: array<f32, WG>;                 // the tile's row weights (weighted data only)

@compute @workgroup_size(256)
fn assign(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = wid.x;
    let q4 = D4 / 4u;
    let ntiles = (P.rows + WG - 1u) / WG;
    let weighted = (P.flags & 1u) != 0u;
    let first_step = (P.flags & 2u) != 0u;
    let base = (P.slot + g) * P.stride;
    let dgroups = (P.d + P.dpt - 1u) / P.dpt;
    // One centroid tile for every row: stage it once for the whole workgroup.
    let one_tile = P.k <= P.tile_k;
    if one_tile {
        for (var i = t; i < P.k * q4; i += WG) {
            sc[i] = cent[i];
        }
    }
    // Each invocation sums its own rows' distances and counts its changed labels;
    // one tree at the end.
    var inertia = 0.0;
    var nchanged = 0u;
    let skip_sums = (P.flags & 4u) != 0u;
    for (var tile = g; tile < ntiles; tile += P.groups) {
        let r = tile * WG + t;
        let valid = r < P.rows;
        //@ROW_LOAD begin
        var x0 = vec4<f32>(0.0);
        var x1 = vec4<f32>(0.0);
        var x2 = vec4<f32>(0.0);
        var x3 = vec4<f32>(0.0);
        if valid {
            x0 = vec4<f32>(x[0u * P.rows + r], x[1u * P.rows + r], x[2u * P.rows + r], x[3u * P.rows + r]);
            x1 = vec4<f32>(x[4u * P.rows + r], x[5u * P.rows + r], x[6u * P.rows + r], x[7u * P.rows + r]);
            x2 = vec4<f32>(x[8u * P.rows + r], x[9u * P.rows + r], x[10u * P.rows + r], x[11u * P.rows + r]);
            x3 = vec4<f32>(x[12u * P.rows + r], x[13u * P.rows + r], x[14u * P.rows + r], x[15u * P.rows + r]);
            if STAGE {
                sx[0u * SXS + t] = x0.x; sx[1u * SXS + t] = x0.y; sx[2u * SXS + t] = x0.z; sx[3u * SXS + t] = x0.w;
                sx[4u * SXS + t] = x1.x; sx[5u * SXS + t] = x1.y; sx[6u * SXS + t] = x1.z; sx[7u * SXS + t] = x1.w;
                sx[8u * SXS + t] = x2.x; sx[9u * SXS + t] = x2.y; sx[10u * SXS + t] = x2.z; sx[11u * SXS + t] = x2.w;
                sx[12u * SXS + t] = x3.x; sx[13u * SXS + t] = x3.y; sx[14u * SXS + t] = x3.z; sx[15u * SXS + t] = x3.w;
            }
        }
        //@ROW_LOAD end
        // `have` stands in for an initial +inf, so the first centroid is always taken.
        // `best` ends as the row's squared distance to its centroid.
        var best = 0.0;
        var have = false;
        var bi = 0u;
        for (var c0 = 0u; c0 < P.k; c0 += P.tile_k) {
            let kt = min(P.tile_k, P.k - c0);
            if !one_tile {
                workgroupBarrier();
                for (var i = t; i < kt * q4; i += WG) {
                    sc[i] = cent[c0 * q4 + i];
                }
            }
            workgroupBarrier();
            if valid {
                for (var c = 0u; c < kt; c++) {
                    let cq = c * q4;
                    var s = 0.0;
                    var e: vec4<f32>;
                    //@ROW_DIST begin
                    e = x0 - sc[cq + 0u]; s = fma(e.x, e.x, s); s = fma(e.y, e.y, s); s = fma(e.z, e.z, s); s = fma(e.w, e.w, s);
                    e = x1 - sc[cq + 1u]; s = fma(e.x, e.x, s); s = fma(e.y, e.y, s); s = fma(e.z, e.z, s); s = fma(e.w, e.w, s);
                    e = x2 - sc[cq + 2u]; s = fma(e.x, e.x, s); s = fma(e.y, e.y, s); s = fma(e.z, e.z, s); s = fma(e.w, e.w, s);
                    e = x3 - sc[cq + 3u]; s = fma(e.x, e.x, s); s = fma(e.y, e.y, s); s = fma(e.z, e.z, s); s = fma(e.w, e.w, s);
                    //@ROW_DIST end
                    if !have || s < best {
                        have = true;
                        best = s;
                        bi = c0 + c;
                    }
                }
            }
        }
        var wv = 0.0;
        if valid {
            wv = 1.0;
            if weighted {
                wv = w[r];
            }
            if first_step || labels[r] != bi {
                nchanged += 1u;
            }
            labels[r] = bi;
            dist[r] = best;
            inertia += wv * best;
        }
        slab[t] = select(0xffffffffu, bi, valid);
        sw[t] = wv;
        // Sums: rows grouped by label, MASK_K clusters at a time.
        let sum_k = select(P.k, 0u, skip_sums);
        for (var k0 = 0u; k0 < sum_k; k0 += MASK_K) {
            let kw = min(MASK_K, P.k - k0);
            for (var i = t; i < MASK_K * (WG / 32u); i += WG) {
                atomicStore(&masks[i], 0u);
            }
            workgroupBarrier();
            let l = slab[t];
            if l != 0xffffffffu && l >= k0 && l < k0 + kw {
                atomicOr(&masks[(l - k0) * (WG / 32u) + t / 32u], 1u << (t % 32u));
            }
            workgroupBarrier();
            for (var task = t; task < kw * dgroups; task += WG) {
                let cl = task / dgroups;
                let j0 = (task % dgroups) * P.dpt;
                let nj = min(P.dpt, P.d - j0);
                var acc = vec4<f32>(0.0);
                var ws = 0.0;
                for (var word = 0u; word < WG / 32u; word++) {
                    var m = atomicLoad(&masks[cl * (WG / 32u) + word]);
                    while m != 0u {
                        let b = firstTrailingBit(m);
                        m &= m - 1u;
                        let rr = tile * WG + word * 32u + b;
                        var wr = 1.0;
                        if weighted {
                            wr = sw[word * 32u + b];
                        }
                        ws += wr;
                        for (var u = 0u; u < nj; u++) {
                            if STAGE {
                                acc[u] += sx[(j0 + u) * SXS + word * 32u + b] * wr;
                            } else {
                                acc[u] += x[(j0 + u) * P.rows + rr] * wr;
                            }
                        }
                    }
                }
                let c = k0 + cl;
                for (var u = 0u; u < nj; u++) {
                    partials[base + c * P.d + j0 + u] += acc[u];
                }
                if j0 == 0u {
                    partials[base + P.k * P.d + c] += ws;
                }
            }
            workgroupBarrier();
        }
    }
    workgroupBarrier();
    sred[t] = inertia;
    slab[t] = nchanged;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if t < h {
            sred[t] += sred[t + h];
            slab[t] += slab[t + h];
        }
        workgroupBarrier();
    }
    if t == 0u {
        partials[base + P.k * P.d + P.k] = sred[0];
        atomicAdd(&changed, slab[0]);
    }
}
