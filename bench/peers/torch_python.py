"""PyTorch in Python on the same model and batch: what a user would otherwise run.

Measures host tensor -> device -> forward -> host, like torchpool and the raw C++ loop.
  python3 torch_python.py --model m.pt --device cuda:0 --shape 8,3,224,224 [--eager resnet50]
Prints one JSON line per variant: "jit" (the same TorchScript file) and, with --eager,
the torchvision architecture in eager mode (same shapes, its own random weights).
"""
import argparse
import json
import time

import torch


def measure(fn, x, iters, warmup, device, half=False):
    def step():
        h = x.to(device)
        if half:
            h = h.half()
        return fn(h).float().cpu()

    with torch.inference_mode():
        for _ in range(warmup):
            step()
        micros = []
        for _ in range(iters):
            start = time.perf_counter()
            step()
            micros.append((time.perf_counter() - start) * 1e6)
    micros.sort()
    pick = lambda p: micros[min(len(micros) - 1, round(p * (len(micros) - 1)))]
    return {"p50_us": pick(0.5), "p99_us": pick(0.99), "mean_us": sum(micros) / len(micros), "iters": iters}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", required=True)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--eager", default="")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--half", action="store_true", help="fp16 weights and inputs, float32 output")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = [int(d) for d in args.shape.split(",")]
    x = torch.rand(shape)
    jit = torch.jit.load(args.model, map_location=args.device).eval()
    if args.half:
        jit = jit.half()
    print(json.dumps({"variant": "jit", "torch": torch.__version__, **measure(jit, x, args.iters, args.warmup, args.device, args.half)}))
    if args.eager:
        import torchvision

        eager = getattr(torchvision.models, args.eager)().eval().to(args.device)
        if args.half:
            eager = eager.half()
        print(json.dumps({"variant": "eager", "torch": torch.__version__, **measure(eager, x, args.iters, args.warmup, args.device, args.half)}))


if __name__ == "__main__":
    main()
