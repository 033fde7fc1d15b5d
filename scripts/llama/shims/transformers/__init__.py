# A stand-in for the transformers package, which Debian does not ship, for running llama.cpp's
# convert_hf_to_gguf.py (scripts/llama/convert.sh). AutoConfig fails on purpose: the converter
# then reads config.json as it is, which it also does for every model transformers does not
# know. AutoTokenizer reads a byte-level BPE tokenizer.json for what the converter's vocabulary
# code asks of it (the vocabulary, the added tokens and their flags, an added token encoded
# and decoded back); it does not tokenize text, so the pre-tokenizer's name (which the converter
# finds by hashing a tokenization) is given by FERRY_TOKPRE through scripts/llama/shims/run.py.
import json
import os


class AutoConfig:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise RuntimeError("transformers shim: config.json is read as it is")


class _Added:
    def __init__(self, t):
        self.content = t["content"]
        self.special = t.get("special", False)
        self.normalized = t.get("normalized", False)


class _BpeTokenizer:
    def __init__(self, d):
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        if tj["model"]["type"] != "BPE":
            raise RuntimeError("transformers shim: only BPE tokenizer.json files")
        self.vocab = dict(tj["model"]["vocab"])
        self._added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
        self.vocab.update(self._added)
        self.added_tokens_decoder = {t["id"]: _Added(t) for t in tj.get("added_tokens", [])}
        self._by_id = {i: t for t, i in self.vocab.items()}

    def get_vocab(self):
        return dict(self.vocab)

    def get_added_vocab(self):
        return dict(self._added)

    def encode(self, text, add_special_tokens=True):
        if text in self._added:
            return [self._added[text]]
        raise RuntimeError("transformers shim: cannot tokenize text (set FERRY_TOKPRE)")

    def decode(self, ids):
        return "".join(self._by_id[i] for i in ids)


class AutoTokenizer:
    @staticmethod
    def from_pretrained(d, *args, **kwargs):
        if os.path.exists(os.path.join(str(d), "tokenizer.json")):
            return _BpeTokenizer(str(d))
        raise RuntimeError("transformers shim: no tokenizer.json (SentencePiece models convert "
                           "from tokenizer.model without it)")
