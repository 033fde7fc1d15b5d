"""Rewrites a GGUF file with every quantized or BF16/F16 tensor dequantized to F32 (integer
tensors and every key kept), with llama.cpp v0.5.0's gguf-py:
    PYTHONPATH=SRC/gguf-py /usr/bin/python3 scripts/llama/widen.py IN.gguf OUT.gguf
llama.cpp's CPU kernels round a product's activations to the weight's dot type (Q8_0 for Q8_0
and MXFP4 weights, BF16 for BF16 ones); ferry's engine multiplies in F32. On the widened file
llama.cpp computes with the same weights in F32, so its logits are ferry's up to rounding
(scripts/llama/infer-goldens.sh uses it for fixtures whose conversion keeps quantized types)."""
import sys

import numpy as np

import gguf


def main():
    src, dst = sys.argv[1], sys.argv[2]
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst, arch)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture", "general.alignment"):
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(f.name, f.contents(), vtype, sub_type=sub)
    keep = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.I32)
    for t in r.tensors:
        if t.tensor_type in keep:
            data = np.array(t.data)
        else:
            data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(x) for x in reversed(t.shape.tolist())]
        w.add_tensor(t.name, np.ascontiguousarray(data).reshape(shape))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


main()
