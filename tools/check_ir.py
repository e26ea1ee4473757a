#!/usr/bin/env python3
"""Check an OpenVINO IR with the Python runtime: read it, list its inputs and outputs, and
optionally compile it and run it on inputs from an .npz, writing the outputs to an .npz.

    .venv/bin/python tools/check_ir.py model.xml
    .venv/bin/python tools/check_ir.py model.xml --inputs in.npz --outputs out.npz [--device CPU]

The .bin is the .xml's sibling unless --bin is given. Inputs are matched by tensor name; outputs
are saved under their tensor names (e.g. `jacobian/u/x`). Inference precision is f32 unless
--precision says otherwise (the CPU plugin's default may be bf16). Exit status 0 on success,
1 with a message on stderr otherwise.
"""

import argparse
import os
import sys


def shape_text(pshape):
    return "[" + ",".join("?" if d.is_dynamic else str(d.get_length()) for d in pshape) + "]"


def port_name(port):
    names = port.get_names()
    return port.get_any_name() if names else "<unnamed>"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("xml", help="the IR .xml")
    ap.add_argument("--bin", help="the weights file (default: the .xml's sibling .bin)")
    ap.add_argument("--inputs", help=".npz of inputs by tensor name: compile and run")
    ap.add_argument("--outputs", help=".npz to write the outputs to (needs --inputs)")
    ap.add_argument("--compile", action="store_true", help="compile even without --inputs")
    ap.add_argument("--device", default="CPU")
    ap.add_argument("--precision", default="f32", choices=["f32", "f16", "bf16"])
    args = ap.parse_args(argv)

    import numpy as np
    import openvino as ov

    core = ov.Core()
    bin_path = args.bin or os.path.splitext(args.xml)[0] + ".bin"
    model = core.read_model(args.xml, bin_path if os.path.exists(bin_path) else None)
    print(f"openvino {ov.get_version()}")
    print(f"model {model.get_friendly_name()}: {len(model.inputs)} inputs, "
          f"{len(model.outputs)} outputs")
    for p in model.inputs:
        print(f"  input  {port_name(p)} {p.get_element_type().get_type_name()} "
              f"{shape_text(p.get_partial_shape())}")
    for p in model.outputs:
        print(f"  output {port_name(p)} {p.get_element_type().get_type_name()} "
              f"{shape_text(p.get_partial_shape())}")

    if args.outputs and not args.inputs:
        ap.error("--outputs needs --inputs")
    if not (args.inputs or args.compile):
        return 0

    core.set_property(args.device, {"INFERENCE_PRECISION_HINT": args.precision})
    compiled = core.compile_model(model, args.device)
    print(f"compiled for {args.device} ({args.precision})")
    if not args.inputs:
        return 0

    with np.load(args.inputs) as npz:
        feeds = {k: npz[k] for k in npz.files}
    wanted = [port_name(p) for p in compiled.inputs]
    missing = [n for n in wanted if n not in feeds]
    extra = [n for n in feeds if n not in wanted]
    if missing or extra:
        raise SystemExit(f"inputs do not match the model: missing {missing}, unknown {extra}")
    request = compiled.create_infer_request()
    result = request.infer({n: feeds[n] for n in wanted})
    outputs = {}
    for port in compiled.outputs:
        name = port_name(port)
        value = np.asarray(result[port])
        outputs[name] = value
        print(f"  {name}: {value.dtype} {list(value.shape)}")
    if args.outputs:
        tmp = args.outputs + ".tmp.npz"
        np.savez(tmp, **outputs)
        os.replace(tmp, args.outputs)
        print(f"wrote {args.outputs}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as e:  # a clear one-line failure for callers
        print(f"check_ir.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
