"""FED's probe and Fisher embedding of one task in PyTorch, the baseline of `scripts/bench.sh fed`:
the steps `taskfp fisher` takes (experiments/trainer.hpp FisherRequest), written with Debian's
torch and torchvision as a user of mml would run them, on random uint8 images of the task's shape
(the content does not change the cost):
  1. torchvision's ResNet34 (random weights) with a new linear head; the backbone's parameters
     frozen, the model in training mode; the head trained with Adam (lr 5e-4) on balanced draws
     with random crop and flip, batches of --probe-batch;
  2. eval mode; per Fisher image (drawn with replacement) a label drawn from the softmax, the
     gradient of its log-softmax with respect to the kept weights (one autograd call per image,
     as mml's fim_diag backpropagates one image at a time), squared and summed;
  3. kept: backbone weights without bias/downsample, the last 60%; convolutions averaged over
     their kernels.
Prints JSON: probe_seconds, fisher_seconds, seconds, values.

Usage: /usr/bin/python3 bench/reference_fed.py --images 240 --size 64 --crop 56 --classes 3 \
           --probe-samples 800 --fisher-samples 200 --threads 2
"""
import argparse
import json
import time

import numpy as np
import torch
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--crop", type=int, default=56)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--probe-samples", type=int, default=800)
    ap.add_argument("--probe-batch", type=int, default=100)
    ap.add_argument("--fisher-samples", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, size=(a.images, 3, a.size, a.size), dtype=np.uint8))
    labels = torch.arange(a.images) % a.classes
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)

    def view(idx):
        out = []
        for i in idx:
            y, x = rng.integers(0, a.size - a.crop + 1, size=2)
            v = images[i, :, y:y + a.crop, x:x + a.crop]
            out.append(v.flip(2) if rng.random() < 0.5 else v)
        return (torch.stack(out).to(dev).float() / 255 - mean) / std

    model = torchvision.models.resnet34()
    model.fc = torch.nn.Linear(512, a.classes)
    torch.nn.init.xavier_uniform_(model.fc.weight)
    torch.nn.init.zeros_(model.fc.bias)
    model.to(dev)
    labels = labels.to(dev)
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith("fc."))

    start = time.perf_counter()
    model.train()
    adam = torch.optim.Adam(model.fc.parameters(), lr=5e-4)
    by_class = [np.flatnonzero(labels.numpy() == c) for c in range(a.classes)]
    done = 0
    while done < a.probe_samples:
        n = min(a.probe_batch, a.probe_samples - done)
        idx = [rng.choice(by_class[rng.integers(a.classes)]) for _ in range(n)]
        loss = torch.nn.functional.cross_entropy(model(view(idx)), labels[torch.tensor(idx, device=dev)])
        adam.zero_grad()
        loss.backward()
        adam.step()
        done += n
    if dev.type == "cuda":
        torch.cuda.synchronize()
    probe = time.perf_counter() - start

    model.eval()
    kept = [(n, p) for n, p in model.named_parameters()
            if not n.startswith("fc.") and "bias" not in n and "downsample" not in n]
    kept = kept[int(0.4 * len(kept)):]
    for _, p in kept:
        p.requires_grad_(True)
    sums = [torch.zeros_like(p) for _, p in kept]
    start = time.perf_counter()
    for i in rng.integers(0, a.images, size=a.fisher_samples):
        lp = torch.log_softmax(model(view([i])), dim=1)[0]
        k = torch.multinomial(lp.detach().exp(), 1).item()
        grads = torch.autograd.grad(lp[k], [p for _, p in kept])
        for s, g in zip(sums, grads):
            s.addcmul_(g, g)
    embedding = []
    for s in sums:
        v = s / a.fisher_samples
        embedding.append((v.mean(dim=(2, 3)) if v.dim() == 4 else v).reshape(-1))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    fisher = time.perf_counter() - start
    values = int(torch.cat(embedding).numel())
    print(json.dumps({"probe_seconds": probe, "fisher_seconds": fisher, "seconds": probe + fisher, "values": values}))


if __name__ == "__main__":
    main()
