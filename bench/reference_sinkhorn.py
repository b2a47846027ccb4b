"""The baseline of the Sinkhorn benchmark: the debiased Sinkhorn divergence of two point clouds as
GeomLoss v0.2.6's tensorized backend computes it (p=2, blur, scaling), written with Debian's
python3-torch in float64 the way that backend does it: the four cost matrices as products
(x.x - 2 x y^T + y.y) / 2 held in memory, every soft-min a torch.logsumexp over
h - C / eps, the eps schedule of epsilon_schedule. Same points as taskfp's run (two .npy files).

    python3 bench/reference_sinkhorn.py x.npy y.npy --blur 0.01 --scaling 0.1 --threads 2
Prints JSON: the divergence, seconds (cost matrices, the loop, in all).
"""
import argparse
import json
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("x")
    ap.add_argument("y")
    ap.add_argument("--blur", type=float, default=0.01)
    ap.add_argument("--scaling", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.from_numpy(np.load(a.x).astype(np.float64))
    y = torch.from_numpy(np.load(a.y).astype(np.float64))
    t0 = time.perf_counter()
    n, m = x.shape[0], y.shape[0]
    wa, wb = torch.full((n,), 1.0 / n, dtype=torch.float64), torch.full((m,), 1.0 / m, dtype=torch.float64)
    a_log, b_log = wa.log(), wb.log()
    mins = torch.stack((x.min(0)[0], y.min(0)[0])).min(0)[0]
    maxs = torch.stack((x.max(0)[0], y.max(0)[0])).max(0)[0]
    diameter = (maxs - mins).norm().item()
    eps_list = ([diameter ** 2] + [np.exp(e) for e in np.arange(2 * np.log(diameter), 2 * np.log(a.blur),
                                                                 2 * np.log(a.scaling))] + [a.blur ** 2])

    def cost(u, v):
        return ((u * u).sum(-1).unsqueeze(1) - 2 * torch.matmul(u, v.permute(1, 0)) + (v * v).sum(-1).unsqueeze(0)) / 2

    c_xy, c_yx, c_xx, c_yy = cost(x, y), cost(y, x), cost(x, x), cost(y, y)
    t1 = time.perf_counter()

    def softmin(eps, c, h):
        return -eps * (h.view(1, -1) - c / eps).logsumexp(1)

    eps = eps_list[0]
    g_ab, f_ba = softmin(eps, c_yx, a_log), softmin(eps, c_xy, b_log)
    f_aa, g_bb = softmin(eps, c_xx, a_log), softmin(eps, c_yy, b_log)
    for eps in eps_list:
        ft_ba, gt_ab = softmin(eps, c_xy, b_log + g_ab / eps), softmin(eps, c_yx, a_log + f_ba / eps)
        ft_aa, gt_bb = softmin(eps, c_xx, a_log + f_aa / eps), softmin(eps, c_yy, b_log + g_bb / eps)
        f_ba, g_ab = 0.5 * (f_ba + ft_ba), 0.5 * (g_ab + gt_ab)
        f_aa, g_bb = 0.5 * (f_aa + ft_aa), 0.5 * (g_bb + gt_bb)
    f_ba, g_ab = softmin(eps, c_xy, b_log + g_ab / eps), softmin(eps, c_yx, a_log + f_ba / eps)
    f_aa, g_bb = softmin(eps, c_xx, a_log + f_aa / eps), softmin(eps, c_yy, b_log + g_bb / eps)
    s = float((wa * (f_ba - f_aa)).sum() + (wb * (g_ab - g_bb)).sum())
    t2 = time.perf_counter()
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "n": n, "m": m, "d": x.shape[1],
                      "eps_steps": len(eps_list), "divergence": s, "cost_seconds": t1 - t0,
                      "loop_seconds": t2 - t1, "seconds": t2 - t0}))


if __name__ == "__main__":
    main()
