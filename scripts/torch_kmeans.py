"""Reference K-means in PyTorch on the GPU, for scripts/gpu-check.sh.

Distances by matrix product (||x||^2 - 2 x c^T + ||c||^2, an n x k matrix), argmin,
then new centroids by index_add_ and bincount: what a user would write in PyTorch.
Data: seeded Gaussian blobs of the same shape as segmenta's bench (8 components in
[-10, 10]^d, unit spread). Timing: CUDA events around each full iteration after 3
warm-up iterations; one JSON line on stdout.
Usage: python3 scripts/torch_kmeans.py --n 1000000 --d 16 --k 8 --iters 20
"""
import argparse
import json
import statistics

import torch

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, required=True)
p.add_argument("--d", type=int, default=16)
p.add_argument("--k", type=int, default=8)
p.add_argument("--iters", type=int, default=20)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

dev = torch.device("cuda")
g = torch.Generator(device=dev).manual_seed(a.seed)
centers = torch.rand(8, a.d, device=dev, generator=g) * 20 - 10
lab = torch.randint(0, 8, (a.n,), device=dev, generator=g)
x = centers[lab] + torch.randn(a.n, a.d, device=dev, generator=g)
del lab
c = x[torch.randperm(a.n, device=dev, generator=g)[: a.k]].clone()
xx = (x * x).sum(1, keepdim=True)


def step(c):
    d2 = xx - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]
    labels = d2.argmin(1)
    sums = torch.zeros_like(c).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=a.k).clamp(min=1).to(x.dtype)
    return sums / counts[:, None]


for _ in range(3):
    c = step(c)
torch.cuda.synchronize()
times = []
for _ in range(a.iters):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    c = step(c)
    e.record()
    torch.cuda.synchronize()
    times.append(s.elapsed_time(e) / 1e3)
print(json.dumps({
    "kind": "torch", "n": a.n, "d": a.d, "k": a.k, "iters": a.iters,
    "iter_median_s": statistics.median(times), "iter_min_s": min(times),
    "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
    "tf32": torch.backends.cuda.matmul.allow_tf32,
}))
