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
const DPT: u32 = 4u;           // features per summing task at most

// Padded feature count (a multiple of 4). src/kmeans/gpu.rs rewrites this line with
// the data's value before compiling, so the per-row array has exactly that size and
// every loop over it has a constant bound: the row then lives in registers.
const D4: u32 = 16u;

struct Params {
    rows: u32,        // rows in this chunk
    d: u32,           // real feature count
    k: u32,
    slot: u32,        // first partials slot of this chunk
    groups: u32,      // workgroups dispatched for this chunk
    flags: u32,       // bit 0: weighted; bit 1: first step (every row counts as changed)
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
@group(0) @binding(7) var<storage, read_write> changed: atomic<u32>;

var<workgroup> sc: array<vec4<f32>, 512>;          // CT_FLOATS / 4
var<workgroup> slab: array<u32, WG>;
var<workgroup> sred: array<f32, WG>;
var<workgroup> masks: array<atomic<u32>, 512>;     // MASK_K * WG / 32
var<workgroup> schanged: atomic<u32>;

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
    if t == 0u {
        atomicStore(&schanged, 0u);
    }
    if one_tile {
        for (var i = t; i < P.k * q4; i += WG) {
            sc[i] = cent[i];
        }
    }
    // Each invocation sums its own rows' distances; one tree at the end.
    var inertia = 0.0;
    for (var tile = g; tile < ntiles; tile += P.groups) {
        let r = tile * WG + t;
        let valid = r < P.rows;
        var xr: array<f32, D4>;
        if valid {
            for (var j = 0u; j < D4; j++) {
                if j < P.d {
                    xr[j] = x[j * P.rows + r];
                } else {
                    xr[j] = 0.0;
                }
            }
        }
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
                    var s = 0.0;
                    for (var q = 0u; q < q4; q++) {
                        let e = vec4<f32>(xr[4u * q], xr[4u * q + 1u], xr[4u * q + 2u], xr[4u * q + 3u]) - sc[c * q4 + q];
                        s = fma(e.x, e.x, s);
                        s = fma(e.y, e.y, s);
                        s = fma(e.z, e.z, s);
                        s = fma(e.w, e.w, s);
                    }
                    if !have || s < best {
                        have = true;
                        best = s;
                        bi = c0 + c;
                    }
                }
            }
        }
        if valid {
            var wv = 1.0;
            if weighted {
                wv = w[r];
            }
            if first_step || labels[r] != bi {
                atomicAdd(&schanged, 1u);
            }
            labels[r] = bi;
            dist[r] = best;
            inertia += wv * best;
        }
        slab[t] = select(0xffffffffu, bi, valid);
        // Sum the tile's rows per cluster, MASK_K clusters at a time.
        for (var k0 = 0u; k0 < P.k; k0 += MASK_K) {
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
                            wr = w[rr];
                        }
                        ws += wr;
                        for (var u = 0u; u < nj; u++) {
                            acc[u] += x[(j0 + u) * P.rows + rr] * wr;
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
    sred[t] = inertia;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if t < h {
            sred[t] += sred[t + h];
        }
        workgroupBarrier();
    }
    if t == 0u {
        partials[base + P.k * P.d + P.k] = sred[0];
        atomicAdd(&changed, atomicLoad(&schanged));
    }
}
