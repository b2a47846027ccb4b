"""The baseline of the transfer benchmark: one training job of taskfp's protocol in PyTorch
(Debian's python3-torch 1.13), as a user's script would do it: the task's images decoded and
preprocessed once into a uint8 tensor (not timed), then model creation, the training epochs
(balanced sampling with replacement via WeightedRandomSampler, random crop and horizontal flip
per image, ImageNet normalisation, Adam, StepLR, cross-entropy) and one evaluation pass with
softmax, timed together, as taskfp times a job. Same model (tiny_cnn or small_cnn as taskfp
defines them, or torchvision's resnet18/resnet34 without its classifier), batch, epochs and threads;
on a GPU (--device cuda) the images are moved there once and --precision bf16 trains under
torch.autocast, as taskfp's `precision: auto` does on GPUs.

    python3 bench/reference_train.py TASK_FOLDER --model tiny_cnn --size 32 --crop 28 --batch 64 \
        --epochs 4 --threads 2
Prints JSON: images through the network, seconds, images/s.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image


def tiny_cnn(width):
    def block(i, o):
        return [nn.Conv2d(i, o, 3, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*block(3, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten()), 4 * width


def model_of(name):
    if name == "tiny_cnn":
        return tiny_cnn(16)
    if name == "small_cnn":
        return tiny_cnn(32)
    m = torchvision.models.resnet34() if name == "resnet34" else torchvision.models.resnet18()
    m.fc = nn.Identity()
    return m, 512


def load(folder, size):
    split = os.path.join(folder, "train") if os.path.isdir(os.path.join(folder, "train")) else folder
    classes = sorted(os.listdir(split))
    xs, ys = [], []
    for c, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(split, name))):
            img = Image.open(os.path.join(split, name, f)).convert("RGB").resize((size, size), Image.BILINEAR)
            xs.append(np.asarray(img).transpose(2, 0, 1))
            ys.append(c)
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys), len(classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--model", default="tiny_cnn")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--crop", type=int, default=28)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the images are moved there once)")
    ap.add_argument("--precision", default="fp32", help="fp32, or bf16 (torch.autocast)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda":  # fp32 means fp32 arithmetic, as in taskfp (no TF32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    autocast = lambda: torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16")
    x, y, classes = load(a.folder, a.size)
    x, y = x.to(dev), y.to(dev)
    n = len(y)
    train = torch.arange(n, device=dev)[torch.arange(n, device=dev) % 5 != 0]
    evaluation = torch.arange(n, device=dev)[torch.arange(n, device=dev) % 5 == 0]
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
    counts = torch.bincount(y[train], minlength=classes).float()
    weights = (1.0 / counts)[y[train]]
    torch.manual_seed(0)
    start = time.perf_counter()
    body, features = model_of(a.model)
    head = nn.Linear(features, classes)
    body, head = body.to(dev), head.to(dev)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    params = list(body.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=5e-4, betas=(0.9, 0.999), weight_decay=0)
    sched = torch.optim.lr_scheduler.StepLR(opt, 25, 0.1)
    sampler = torch.utils.data.WeightedRandomSampler(weights.cpu(), num_samples=len(train), replacement=True)
    images = 0
    for _ in range(a.epochs):
        body.train()
        order = list(sampler)
        for at in range(0, len(order), a.batch):
            idx = train[torch.tensor(order[at:at + a.batch], device=dev)]
            batch = x[idx]
            views = []
            for img in batch:
                i, j = np.random.randint(0, a.size - a.crop + 1, size=2)
                v = img[:, i:i + a.crop, j:j + a.crop]
                views.append(v.flip(2) if np.random.rand() < 0.5 else v)
            inp = (torch.stack(views).float() / 255 - mean) / std
            with autocast():
                loss = nn.functional.cross_entropy(head(body(inp)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            images += len(idx)
        sched.step()
    body.eval()
    with torch.no_grad():
        for at in range(0, len(evaluation), a.batch):
            idx = evaluation[at:at + a.batch]
            with autocast():
                torch.softmax(head(body((x[idx].float() / 255 - mean) / std)), 1).cpu()
            images += len(idx)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "device": a.device,
                      "precision": a.precision, "model": a.model, "images": images,
                      "seconds": seconds, "images_per_s": images / seconds}))


if __name__ == "__main__":
    main()
