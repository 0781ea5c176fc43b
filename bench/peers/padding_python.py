"""PyTorch in Python on the text encoder of bench/padding.mjs: the peer a Python service would be.

The same lengths (passed in a file), the same TorchScript encoder, in-process with no queue and no
network, two ways a Python service batches variable-length requests:
  one-at-a-time   each request alone at its own length (no padding);
  pad-to-longest  requests taken 32 in arrival order, padded to the longest with pad_sequence and
                  a key-padding mask, outputs cut back to each request's length.
  python3 padding_python.py --model encoder.pt --lengths lengths.json [--threads 2] [--device cpu]
Prints one JSON line per variant: requests/s and the mean share of positions that were padding.
"""
import argparse
import json
import time

import torch
from torch.nn.utils.rnn import pad_sequence


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--lengths", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = json.load(open(args.lengths))
    device = torch.device(args.device)
    model = torch.jit.load(args.model, map_location=device).eval()
    inputs = [torch.rand(n, 32) - 0.5 for n in lengths]

    def one_at_a_time(batch):
        out = []
        for x in batch:
            mask = torch.zeros(1, x.shape[0], dtype=torch.bool, device=device)
            tokens, pooled = model(x.unsqueeze(0).to(device), mask)
            out.append((tokens[0].cpu(), pooled[0].cpu()))
        return out, 0, sum(x.shape[0] for x in batch)

    def pad_to_longest(batch):
        x = pad_sequence(batch, batch_first=True).to(device)
        real = torch.tensor([b.shape[0] for b in batch])
        mask = (torch.arange(x.shape[1]).unsqueeze(0) >= real.unsqueeze(1)).to(device)
        tokens, pooled = model(x, mask)
        tokens, pooled = tokens.cpu(), pooled.cpu()
        out = [(tokens[i, : b.shape[0]], pooled[i]) for i, b in enumerate(batch)]
        return out, x.shape[0] * x.shape[1] - int(real.sum()), x.shape[0] * x.shape[1]

    with torch.inference_mode():
        for name, run in (("one-at-a-time", one_at_a_time), ("pad-to-longest", pad_to_longest)):
            for start in range(0, min(len(inputs), 8 * args.batch), args.batch):  # warm up
                run(inputs[start : start + args.batch])
            padded = total = 0
            begin = time.perf_counter()
            for start in range(0, len(inputs), args.batch):
                _, p, t = run(inputs[start : start + args.batch])
                padded, total = padded + p, total + t
            seconds = time.perf_counter() - begin
            print(json.dumps({"variant": name, "requests_per_s": len(inputs) / seconds, "padding_fraction": padded / total}), flush=True)


if __name__ == "__main__":
    main()
