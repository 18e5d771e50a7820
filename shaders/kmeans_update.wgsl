// Reduces the per-workgroup partial sums of kmeans_assign.wgsl into one row of
// k*d sums, k cluster weights and the inertia. One workgroup per output value: each
// invocation sums a fixed strided subset of the slots, then a tree in workgroup
// memory combines them, always in the same order, so the result is bit-identical
// on every run. The host turns these sums into centroids (the shared Lloyd driver).

const WG: u32 = 256u;

struct Params {
    slots: u32,    // partial slots in use
    stride: u32,   // floats per slot (k*d + k + 1)
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nw: vec3<u32>) {
    let e = wid.x + wid.y * nw.x;
    var s = 0.0;
    if e < P.stride {
        for (var i = t; i < P.slots; i += WG) {
            s += partials[i * P.stride + e];
        }
    }
    red[t] = s;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if t < h {
            red[t] += red[t + h];
        }
        workgroupBarrier();
    }
    if t == 0u && e < P.stride {
        result[e] = red[0];
    }
}
