"""Writes the TorchScript models of taskfp's transfer zoo (`taskfp transfer run --zoo FOLDER`):
torchvision's classification models with their classifier replaced by the identity, so that each
maps n x 3 x h x w images to n x features, scripted and saved as FOLDER/<name>.pt.

    /usr/bin/python3 scripts/export_zoo.py FOLDER [NAME ...] [--imagenet]

Names (default: all): resnet50, densenet121, mobilenet_v2, efficientnet_b0, regnet_x_400mf.
Without --imagenet the weights are torchvision's random initialisation (seeded: the same file
every time), which needs nothing but Debian's python3-torchvision; with --imagenet torchvision's
ImageNet weights (DEFAULT), which it downloads once (internet). Use the same torch version as the
LibTorch that runs the training (Debian: 1.13 both).
"""
import argparse
import os

import torch
import torch.nn as nn
import torchvision

ZOO = {
    "resnet50": ("resnet50", "fc"),
    "densenet121": ("densenet121", "classifier"),
    "mobilenet_v2": ("mobilenet_v2", "classifier"),
    "efficientnet_b0": ("efficientnet_b0", "classifier"),
    "regnet_x_400mf": ("regnet_x_400mf", "fc"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("names", nargs="*", help="models to export (default: all)")
    ap.add_argument("--imagenet", action="store_true", help="torchvision's ImageNet weights (downloads them)")
    a = ap.parse_args()
    names = a.names or list(ZOO)
    for n in names:
        if n not in ZOO:
            ap.error(f"unknown model '{n}' (known: {', '.join(ZOO)})")
    os.makedirs(a.folder, exist_ok=True)
    for n in names:
        builder, head = ZOO[n]
        torch.manual_seed(0)
        model = getattr(torchvision.models, builder)(weights="DEFAULT" if a.imagenet else None)
        setattr(model, head, nn.Identity())
        scripted = torch.jit.script(model.train())
        path = os.path.join(a.folder, f"{n}.pt")
        scripted.save(path)
        features = scripted.eval()(torch.zeros(1, 3, 64, 64)).shape[1]
        print(f"export_zoo: {path} ({features} features, {'ImageNet' if a.imagenet else 'random'} weights)")


if __name__ == "__main__":
    main()
