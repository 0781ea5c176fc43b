"""Exports a TorchScript file to ONNX with a dynamic batch dimension, for the onnxruntime-node peer.

    python3 export_onnx.py --model m.pt --shape 1,256 --out m.onnx

Uses the same weights as torchpool's run (the TorchScript file itself). Debian's python3-torch
(1.13) exports without the onnx package.
"""
import argparse

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--shape", required=True, help="example input shape, batch first")
    parser.add_argument("--out", required=True)
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()
    module = torch.jit.load(args.model).eval()
    example = torch.rand(*[int(d) for d in args.shape.split(",")])
    with torch.no_grad():
        torch.onnx.export(
            module, (example,), args.out,
            input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            opset_version=args.opset,
        )


if __name__ == "__main__":
    main()
