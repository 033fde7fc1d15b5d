"""Compares Go renderings of ferry's Ollama templates (render.go's output, on stdin) with the
formats they stand for: the fixtures' own Jinja chat templates rendered by jinja2 (as
transformers renders them, add_generation_prompt on, no BOS: llama.cpp adds it) and, for the
formats without a fixture, the conversation as the format writes it. Exit 1 on a difference."""
import json
import sys

import jinja2

DATA = sys.argv[1]  # tests/data/models
SYS, U1 = "You are a helpful assistant.", "Hello, how are you?"
A1, U2 = "I'm doing great. How can I help you today?", "I'd like to show off how chat templating works!"
CONVS = {
    "user": [("user", U1)],
    "user-assistant-user": [("user", U1), ("assistant", A1), ("user", U2)],
    "system-user-assistant-user": [("system", SYS), ("user", U1), ("assistant", A1), ("user", U2)],
}
FIXTURE = {"chatml": "qwen3-tiny", "deepseek": "deepseek-v3-tiny", "kimi": "kimi-k2-tiny",
           "glm4": "glm4-tiny"}


def llama3(msgs):
    return "".join(f"<|start_header_id|>{r}<|end_header_id|>\n\n{c}<|eot_id|>" for r, c in msgs) + \
        "<|start_header_id|>assistant<|end_header_id|>\n\n"


def phi3(msgs):
    return "".join(f"<|{r}|>\n{c}<|end|>\n" for r, c in msgs) + "<|assistant|>\n"


def gemma(msgs):
    out, sys_ = "", ""
    for r, c in msgs:
        if r == "system":
            sys_ = c + "\n"
        elif r == "user":
            out += f"<start_of_turn>user\n{sys_}{c}<end_of_turn>\n"
            sys_ = ""
        else:
            out += f"<start_of_turn>model\n{c}<end_of_turn>\n"
    return out + "<start_of_turn>model\n"


def mistral(msgs):
    out, sys_ = "", ""
    for r, c in msgs:
        if r == "system":
            sys_ = c + "\n\n"
        elif r == "user":
            out += f"[INST] {sys_}{c}[/INST]"
            sys_ = ""
        else:
            out += f" {c}</s>"
    return out


def minimax(msgs):
    # MiniMax-M2's own template ends every turn with "[e~[\n" (the fixture's shortened Jinja trims
    # that newline) and opens the answer with a think block
    return "]~!b[" + "".join(f"]~b]{'ai' if r == 'assistant' else r}\n{c}[e~[\n" for r, c in msgs) + \
        "]~b]ai\n<think>\n"


RULES = {"minimax-m2": minimax, "llama3-instruct": llama3, "phi-3": phi3, "gemma-instruct": gemma,
         "mistral-instruct": mistral}


def jinja(model, msgs):
    cfg = json.load(open(f"{DATA}/{model}/tokenizer_config.json"))
    t = cfg["chat_template"]
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(t).render(messages=[{"role": r, "content": c} for r, c in msgs],
                                     add_generation_prompt=True, bos_token="", eos_token="")


got = json.load(sys.stdin)
bad = 0
for name, convs in sorted(got.items()):
    for conv, text in sorted(convs.items()):
        msgs = CONVS[conv]
        want = jinja(FIXTURE[name], msgs) if name in FIXTURE else RULES[name](msgs)
        same = text == want
        bad += not same
        print(f"{'ok  ' if same else 'DIFF'} {name:17} {conv}" + ("" if same else f"\n  go:    {text!r}\n  want:  {want!r}"))
missing = set(got) - set(FIXTURE) - set(RULES)
if missing:
    print("no reference for", sorted(missing))
    bad += 1
sys.exit(1 if bad else 0)
