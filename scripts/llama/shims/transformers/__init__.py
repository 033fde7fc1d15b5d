# A stand-in for the transformers package, which Debian does not ship, for running llama.cpp's
# convert_hf_to_gguf.py (scripts/llama/convert.sh). AutoConfig fails on purpose: the converter
# then reads config.json as it is, which it also does for every model transformers does not
# know. AutoTokenizer is not provided: SentencePiece checkpoints (tokenizer.model) convert without
# it; byte-level BPE ones need the real package.


class AutoConfig:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise RuntimeError("transformers shim: config.json is read as it is")


class AutoTokenizer:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise RuntimeError("transformers shim: no AutoTokenizer (SentencePiece models only)")
