"""The same AOTInductor package run from Python (torch._inductor.aoti_load_package): the baseline
torchpool's AOTI runner has to match. Measures host tensor -> device -> run -> host, as the
torchpool and TorchScript rows do.
  python3 aoti_python.py --package m.pt2 --device cuda:0 --shape 8,3,224,224 --iters 100
Prints one JSON line.
"""
import argparse
import json

import torch
import torch._inductor

from torch_python import measure  # beside this file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", required=True)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--shape", required=True)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    shape = [int(d) for d in args.shape.split(",")]
    x = torch.rand(shape)
    # CUDA initialised before the package loads: on torch 2.11 (H200, 2026-12-04) loading a CUDA
    # package into a process with no CUDA context yet segfaulted inside _load_aoti.
    if args.device.startswith("cuda"):
        torch.empty(1, device=args.device)
        torch.cuda.synchronize(args.device)
    model = torch._inductor.aoti_load_package(args.package)
    # The same timing loop as the TorchScript and eager peers (the output is float32 already).
    print(json.dumps({"torch": torch.__version__, **measure(model, x, args.iters, args.warmup, args.device)}))


if __name__ == "__main__":
    main()
