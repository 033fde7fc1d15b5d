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
        self.vocab_size = len(self.vocab)  # the model's vocabulary, without the added tokens
        self._added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
        self.vocab.update(self._added)
        self.added_tokens_decoder = {t["id"]: _Added(t) for t in tj.get("added_tokens", [])}
        self._by_id = {i: t for t, i in self.vocab.items()}
        cfg = os.path.join(d, "tokenizer_config.json")
        self.add_bos_token = False
        if os.path.exists(cfg):
            with open(cfg, encoding="utf-8") as f:
                self.add_bos_token = json.load(f).get("add_bos_token", False) is True

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


class _TiktokenTokenizer:
    """Kimi's tiktoken tokenizer as llama.cpp's converter reads it: the ranks of tiktoken.model
    (model._mergeable_ranks) and the 258 special ids after them (special_tokens), named by
    tokenizer_config.json's added_tokens_decoder, else <|reserved_token_ID|>, as
    tokenization_kimi.py names them."""

    class _Model:
        pass

    def __init__(self, d):
        import base64
        ranks = {}
        with open(os.path.join(d, "tiktoken.model"), "rb") as f:
            for line in f:
                if line.strip():
                    tok, rank = line.split()
                    ranks[base64.b64decode(tok)] = int(rank)
        self.model = self._Model()
        self.model._mergeable_ranks = ranks
        names = {}
        cfg = os.path.join(d, "tokenizer_config.json")
        if os.path.exists(cfg):
            with open(cfg, encoding="utf-8") as f:
                dec = json.load(f).get("added_tokens_decoder", {})
            names = {int(i): t["content"] for i, t in dec.items()}
        n = len(ranks)
        self.special_tokens = {names.get(i, f"<|reserved_token_{i}|>"): i
                               for i in range(n, n + 258)}
        eos = "[EOS]"
        if os.path.exists(cfg):
            with open(cfg, encoding="utf-8") as f:
                e = json.load(f).get("eos_token", eos)
            eos = e.get("content", eos) if isinstance(e, dict) else e
        self.eos_id = self.special_tokens.get(eos)  # tokenization_kimi.py's eos_id


_plain = AutoTokenizer.from_pretrained


def _from_pretrained(d, *args, **kwargs):
    if not os.path.exists(os.path.join(str(d), "tokenizer.json")) and \
            os.path.exists(os.path.join(str(d), "tiktoken.model")):
        return _TiktokenTokenizer(str(d))
    return _plain(d, *args, **kwargs)


AutoTokenizer.from_pretrained = staticmethod(_from_pretrained)
