# Runs llama.cpp's convert_hf_to_gguf.py (argv[1], its arguments after it) with the
# pre-tokenizer's name taken from FERRY_TOKPRE when set: the fixtures' tokenizers are trained on
# a little text, so the converter's detection (a hash of one tokenization, matched against the
# real repositories') cannot recognise them; FERRY_TOKPRE names the real family's pre-tokenizer,
# which the fixture's tokenizer.json imitates.
import os
import runpy
import sys

script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
pre = os.environ.get("FERRY_TOKPRE")
if pre:
    from conversion import base

    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre

# DeepSeek-V4: Debian's torch 1.13 has no float8 dtype, so scripts/fixtures/dequant_fp8.py
# dequantizes the FP8 weights beforehand and lists them in ferry_fp8_dequantized.json; the
# converter is told they were FP8 (it writes the FP8 weights it dequantizes itself as Q8_0, and
# float32 sources as F32), which is what it does with the FP8 checkpoint.
from conversion import deepseek as _deepseek

_collect = _deepseek.DeepseekV4Model._collect_source_dtypes


def _collect_fp8(self):
    import json

    _collect(self)
    listed = self.dir_model / "ferry_fp8_dequantized.json"
    if listed.is_file():
        for name in json.load(open(listed)):
            self._dsv4_f32_tensors.discard(name)
            self._dsv4_fp8_dequantized.add(name)


_deepseek.DeepseekV4Model._collect_source_dtypes = _collect_fp8
runpy.run_path(script, run_name="__main__")
