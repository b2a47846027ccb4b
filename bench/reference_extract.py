"""Baseline of the extraction benchmark: what a PyTorch script does for the same job, with
Debian's python3-torch / python3-torchvision on CPU: decode (torchvision.io, libpng/libjpeg),
to float in [0, 1] by the type's maximum, grey to 3 channels, Resize((size, size),
antialias=True), ImageNet Normalize, ResNet34 forward (random weights, eval, no grad) in
batches; a DataLoader with worker processes decodes while the model runs. Also the model's
pure inference rate on a preloaded batch. Prints JSON.

  /usr/bin/python3 bench/reference_extract.py TASKSET.yaml --images 256 --size 256 --batch 32

(torchvision 0.14 decodes 8-bit PNGs only: the task set given should hold no 16-bit images.)
"""
import argparse
import glob
import json
import os
import time

import torch
import yaml
import torchvision
from torchvision.io import ImageReadMode, read_image
import torchvision.transforms as T

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Images(torch.utils.data.Dataset):
    def __init__(self, files, size):
        self.files = files
        self.resize = T.Resize((size, size), antialias=True)
        self.norm = T.Normalize(MEAN, STD)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        img = read_image(self.files[i], ImageReadMode.UNCHANGED)
        scale = 65535.0 if img.dtype == torch.int32 or img.max() > 255 else 255.0
        x = img.to(torch.float32) / scale
        if x.shape[0] in (1, 2):
            x = x[:1].expand(3, -1, -1)
        elif x.shape[0] == 4:
            x = x[:3]
        return self.norm(self.resize(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("taskset", help="task set YAML whose roots are class folders (<root>/train/<class>/...)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (then the workers decode, the GPU infers)")
    a = ap.parse_args()
    base = os.path.dirname(os.path.abspath(a.taskset))
    roots = [os.path.join(base, t["root"]) for t in yaml.safe_load(open(a.taskset))["tasks"]]
    files = sorted(f for r in roots for f in glob.glob(os.path.join(r, "train", "*", "*")))
    files = (files * (a.images // len(files) + 1))[: a.images]
    torch.set_num_threads(os.cpu_count())  # as LibTorch in C++ uses every core
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = torchvision.models.resnet34(weights=None).eval().to(dev)
    model.fc = torch.nn.Identity()
    loader = torch.utils.data.DataLoader(Images(files, a.size), batch_size=a.batch, num_workers=a.workers,
                                         pin_memory=dev.type == "cuda")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        model(torch.zeros(a.batch, 3, a.size, a.size, device=dev))  # warm-up: one full batch
        sync()
        t0 = time.perf_counter()
        n = 0
        for x in loader:
            model(x.to(dev, non_blocking=True)).cpu()
            n += x.shape[0]
        pipeline = time.perf_counter() - t0
        x = torch.randn(a.batch, 3, a.size, a.size, device=dev)
        sync()
        t0 = time.perf_counter()
        reps = max(1, a.images // a.batch)
        for _ in range(reps):
            model(x)
        sync()
        infer = time.perf_counter() - t0
    print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "device": a.device,
                      "threads": torch.get_num_threads(), "images": n, "size": a.size, "batch": a.batch,
                      "pipeline_images_per_s": n / pipeline,
                      "inference_images_per_s": reps * a.batch / infer}))


if __name__ == "__main__":
    main()
