"""Writes torchvision's ImageNet ResNet34 weights as the HDF5 file `taskfp extract --weights`
reads: one float32 dataset per state_dict key (BatchNorm running statistics included), with the
torchvision version and weight name as attributes.

Needs internet once (torchvision downloads the weights) and torchvision + h5py:
    python3 scripts/export_backbone.py resnet34-imagenet.h5 [--weights IMAGENET1K_V1]
"""
import argparse

import h5py
import torch
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("output", help="HDF5 file to write")
    ap.add_argument("--weights", default="IMAGENET1K_V1", help="torchvision weight name (the paper: IMAGENET1K_V1)")
    a = ap.parse_args()
    weights = getattr(torchvision.models.ResNet34_Weights, a.weights)
    model = torchvision.models.resnet34(weights=weights).eval()
    with h5py.File(a.output, "w") as f:
        f.attrs["torchvision_version"] = torchvision.__version__
        f.attrs["weights"] = f"torchvision ResNet34_Weights.{a.weights}"
        for key, value in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                continue
            f.create_dataset(key, data=value.to(torch.float32).numpy())
    print(f"wrote {len(model.state_dict())} tensors of ResNet34 ({a.weights}) to {a.output}")


if __name__ == "__main__":
    main()
