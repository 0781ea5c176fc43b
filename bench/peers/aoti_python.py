"""The same AOTInductor package run from Python (torch._inductor.aoti_load_package): the baseline
torchpool's AOTI runner has to match. Measures host tensor -> device -> run -> host, as the
torchpool and TorchScript rows do.
  python3 aoti_python.py --package m.pt2 --device cuda:0 --shape 8,3,224,224 --iters 100
Prints one JSON line.
"""
import argparse
import json
import time

import torch
import torch._inductor


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
    model = torch._inductor.aoti_load_package(args.package)

    def step():
        return model(x.to(args.device)).cpu()

    with torch.inference_mode():
        for _ in range(args.warmup):
            step()
        micros = []
        for _ in range(args.iters):
            start = time.perf_counter()
            step()
            micros.append((time.perf_counter() - start) * 1e6)
    micros.sort()
    pick = lambda p: micros[min(len(micros) - 1, round(p * (len(micros) - 1)))]
    print(json.dumps({"torch": torch.__version__, "p50_us": pick(0.5), "p99_us": pick(0.99), "iters": args.iters}))


if __name__ == "__main__":
    main()
