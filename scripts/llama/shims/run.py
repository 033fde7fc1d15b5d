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
runpy.run_path(script, run_name="__main__")
