#!/usr/bin/env python3
"""Makes an AOTInductor package (.pt2) for torchpool from a PyTorch model (PyTorch 2.6 or later).

  python3 export-aoti.py --torchvision resnet50 --input-shape 3,224,224 --out resnet50.pt2
  python3 export-aoti.py --module my_model.py:Net --input-shape 128 --precision fp16 --out net.pt2

The model comes from torchvision (by name, random or default weights) or from a Python file that
defines an nn.Module class (or a function returning one), optionally with a state dict to load.
The package:
  - takes a dynamic batch: torch.export.Dim('batch', min=1, max=--max-batch), exported with an
    example batch of 2, as PyTorch's maintainers recommend (a batch of 1 would be specialised).
    torch 2.11 may still start the package's range at 2 (0/1 specialisation); torchpool then runs
    a one-row batch as two rows and drops the copy;
  - runs in --precision (fp32, fp16 or bf16) and, unless --native-io, takes and returns float32
    (it casts inside), so torchpool callers send Float32Array either way;
  - is compiled for --device (cuda: the GPU of this machine, whose architecture it is tied to);
  - is tuned with max_autotune unless --no-autotune (slower to compile, faster to run).
It prints what it did. torchpool loads the result with InferencePool.create({ model: 'x.pt2' }).
"""
import argparse
import importlib
import importlib.util
import json
import os
import sys
import time

import torch
import torch.nn as nn


class CastIO(nn.Module):
    """Runs the model in a reduced precision and answers in float32."""

    def __init__(self, module, dtype):
        super().__init__()
        self.module = module.to(dtype)
        self.dtype = dtype

    def forward(self, x):
        out = self.module(x.to(self.dtype))
        if isinstance(out, (tuple, list)):
            return type(out)(o.float() if o.is_floating_point() else o for o in out)
        return out.float() if out.is_floating_point() else out


def load_module(spec, weights):
    if ":" not in spec:
        sys.exit(f"--module expects file.py:Name, got {spec!r}")
    path, name = spec.rsplit(":", 1)
    loader = importlib.util.spec_from_file_location("exported_model", path)
    if loader is None:
        sys.exit(f"cannot import {path}")
    code = importlib.util.module_from_spec(loader)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    loader.loader.exec_module(code)
    factory = getattr(code, name, None)
    if factory is None:
        sys.exit(f"{path} defines no {name}")
    module = factory()
    if not isinstance(module, nn.Module):
        sys.exit(f"{spec} did not give an nn.Module (got {type(module).__name__})")
    if weights:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        module.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    return module


def torchvision_model(name, pretrained):
    try:
        import torchvision
    except ImportError:
        sys.exit("--torchvision needs the torchvision package (pip install torchvision)")
    weights = "DEFAULT" if pretrained else None
    return torchvision.models.get_model(name, weights=weights)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--module", help="file.py:ClassOrFactory that builds the nn.Module")
    source.add_argument("--torchvision", help="a torchvision model name, e.g. resnet50")
    parser.add_argument("--weights", help="a state dict (.pt) to load into --module")
    parser.add_argument("--pretrained", action="store_true", help="torchvision: the default pretrained weights (downloads them)")
    parser.add_argument("--input-shape", required=True, help="one item without the batch dimension, e.g. 3,224,224")
    parser.add_argument("--max-batch", type=int, default=256, help="largest batch the package takes (default 256)")
    parser.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    parser.add_argument("--native-io", action="store_true", help="take and return the --precision dtype instead of float32")
    parser.add_argument("--channels-last", action="store_true", help="lay 4-d weights and the example input out channels-last")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-autotune", action="store_true", help="skip max_autotune (compiles faster, runs slower)")
    parser.add_argument("--out", required=True, help="the .pt2 file to write")
    args = parser.parse_args()

    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if version < (2, 6):
        sys.exit(f"export-aoti.py needs PyTorch 2.6 or later (torch.export and AOTInductor packages); this is torch {torch.__version__}")
    if args.max_batch < 2:
        sys.exit("--max-batch must be at least 2")
    item = [int(d) for d in args.input_shape.split(",") if d]
    module = load_module(args.module, args.weights) if args.module else torchvision_model(args.torchvision, args.pretrained)
    module = module.eval()
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    if dtype != torch.float32:
        module = CastIO(module, dtype) if not args.native_io else module.to(dtype)
    device = torch.device(args.device)
    module = module.to(device)
    example_dtype = dtype if args.native_io else torch.float32
    example = torch.randn(2, *item, device=device, dtype=example_dtype)
    if args.channels_last and example.dim() == 4:
        module = module.to(memory_format=torch.channels_last)
        example = example.to(memory_format=torch.channels_last)

    importlib.import_module("torch._inductor")  # PyTorch 2.6+ (checked above)
    importlib.import_module("torch.export")

    batch = torch.export.Dim("batch", min=1, max=args.max_batch)
    started = time.monotonic()
    print(f"export-aoti: exporting with a dynamic batch 1..{args.max_batch} (example batch 2) on {device}", flush=True)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    configs = {} if args.no_autotune else {"max_autotune": True}
    print(f"export-aoti: compiling with AOTInductor{' (max_autotune: this takes minutes)' if configs else ''}", flush=True)
    partial = args.out + ".partial.pt2"
    torch._inductor.aoti_compile_and_package(program, package_path=partial, inductor_configs=configs)
    os.replace(partial, args.out)
    size = os.path.getsize(args.out)
    summary = {
        "package": os.path.abspath(args.out), "bytes": size, "torch": torch.__version__, "device": str(device),
        "model": args.module or f"torchvision.{args.torchvision}", "input": ["batch", *item], "batch": [1, args.max_batch],
        "precision": args.precision, "io": args.precision if args.native_io else "fp32", "channels_last": args.channels_last,
        "max_autotune": bool(configs), "seconds": round(time.monotonic() - started, 1),
    }
    print(f"export-aoti: wrote {args.out} ({size / 2**20:.1f} MiB) in {summary['seconds']} s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
