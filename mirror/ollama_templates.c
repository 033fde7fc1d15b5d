/*
 * Ollama's prompt templates for the chat formats ferry recognises (docs/OCI.md).
 *
 * Ollama renders a conversation with a Go text/template (the manifest's
 * application/vnd.ollama.image.template layer) over .Messages (each .Role and .Content; a system
 * prompt is the first message) and stops generating at the params layer's "stop" strings. A GGUF
 * carries its model's chat template as Jinja (tokenizer.chat_template), which Ollama cannot run:
 * the format is recognised by the special tokens its Jinja writes, and the row gives the same
 * format as a Go template. One row per format; the first row whose markers all occur wins, so a
 * row whose markers are a subset of another's comes after it. A chat template no row matches
 * gets no template layer (Ollama then uses its own detection, or the bare prompt).
 *
 * The renderings were checked with Go's text/template against the conversations Ollama's own
 * tests use (docs/OCI.md says how).
 */
#include "mirror/mirror_private.h"

#include <string.h>

static const struct fy_ollama_template templates[] = {
	{ "llama3-instruct",
	  { "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL },
	  "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n"
	  "\n"
	  "{{ .Content }}<|eot_id|>\n"
	  "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n"
	  "\n",
	  { "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL } },
	{ "kimi",
	  { "<|im_assistant|>", "<|im_middle|>", NULL },
	  "{{- range .Messages }}<|im_{{ .Role }}|>{{ .Role }}<|im_middle|>{{ .Content }}"
	  "<|im_end|>\n"
	  "{{- end }}<|im_assistant|>assistant<|im_middle|>",
	  { "<|im_end|>", "<|im_user|>", NULL } },
	{ "chatml",
	  { "<|im_start|>", "<|im_end|>", NULL },
	  "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
	  "{{ .Content }}<|im_end|>\n"
	  "{{ end }}<|im_start|>assistant\n",
	  { "<|im_start|>", "<|im_end|>", NULL } },
	{ "gemma-instruct",
	  { "<start_of_turn>", "<end_of_turn>", NULL },
	  /* no system turn: the system prompt opens the next user turn */
	  "{{- $open := false }}\n"
	  "{{- range $i, $m := .Messages }}\n"
	  "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
	  "{{- if eq $m.Role \"system\" }}<start_of_turn>user\n"
	  "{{ $m.Content }}\n"
	  "{{- $open = true }}\n"
	  "{{- else if eq $m.Role \"user\" }}{{ if $open }}\n"
	  "{{ else }}<start_of_turn>user\n"
	  "{{ end }}{{ $m.Content }}<end_of_turn>\n"
	  "{{ $open = false }}\n"
	  "{{- else if eq $m.Role \"assistant\" }}<start_of_turn>model\n"
	  "{{ $m.Content }}<end_of_turn>\n"
	  "{{ end }}\n"
	  "{{- if and $last (ne $m.Role \"assistant\") }}{{ if $open }}<end_of_turn>\n"
	  "{{ end }}<start_of_turn>model\n"
	  "{{ end }}\n"
	  "{{- end }}",
	  { "<start_of_turn>", "<end_of_turn>", NULL } },
	{ "deepseek",
	  { "<\xef\xbd\x9cUser\xef\xbd\x9c>",
	    "<\xef\xbd\x9c"
	    "Assistant\xef\xbd\x9c>",
	    NULL },
	  "{{- range .Messages }}\n"
	  "{{- if eq .Role \"system\" }}{{ .Content }}\n"
	  "{{- else if eq .Role \"user\" }}<\xef\xbd\x9cUser\xef\xbd\x9c>{{ .Content }}"
	  "<\xef\xbd\x9c"
	  "Assistant\xef\xbd\x9c>\n"
	  "{{- else if eq .Role \"assistant\" }}{{ .Content }}"
	  "<\xef\xbd\x9c"
	  "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>\n"
	  "{{- end }}\n"
	  "{{- end }}",
	  { "<\xef\xbd\x9c"
	    "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
	    "<\xef\xbd\x9c"
	    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
	    "<\xef\xbd\x9cUser\xef\xbd\x9c>",
	    "<\xef\xbd\x9c"
	    "Assistant\xef\xbd\x9c>",
	    NULL } },
	{ "glm4",
	  { "[gMASK]", "<sop>", "<|assistant|>", NULL },
	  /* GLM-4.5 to 4.7: no newline after a turn's text or the generation prompt */
	  "[gMASK]<sop>\n"
	  "{{- range .Messages }}<|{{ .Role }}|>\n"
	  "{{ .Content }}\n"
	  "{{- end }}<|assistant|>",
	  { "<|user|>", "<|observation|>", "<|endoftext|>", NULL } },
	{ "phi-3",
	  { "<|end|>", "<|assistant|>", "<|user|>", NULL },
	  "{{- range .Messages }}<|{{ .Role }}|>\n"
	  "{{ .Content }}<|end|>\n"
	  "{{ end }}<|assistant|>\n",
	  { "<|end|>", "<|system|>", "<|user|>", "<|assistant|>" } },
	{ "minimax-m2",
	  { "]~b]", "[e~[", NULL },
	  "]~!b[\n"
	  "{{- range .Messages }}]~b]{{ if eq .Role \"assistant\" }}ai{{ else }}{{ .Role }}{{ end "
	  "}}\n"
	  "{{ .Content }}[e~[\n"
	  "{{ end }}]~b]ai\n"
	  "<think>\n",
	  { "[e~[", NULL } },
	{ "mistral-instruct",
	  { "[INST]", "[/INST]", NULL },
	  /* the system prompt opens the next user turn */
	  "{{- $sys := \"\" }}\n"
	  "{{- range .Messages }}\n"
	  "{{- if eq .Role \"system\" }}{{ $sys = .Content }}\n"
	  "{{- else if eq .Role \"user\" }}[INST] {{ if $sys }}{{ $sys }}\n"
	  "\n"
	  "{{ end }}{{ .Content }}[/INST]{{ $sys = \"\" }}\n"
	  "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s>\n"
	  "{{- end }}\n"
	  "{{- end }}",
	  { "[INST]", "[/INST]", NULL } },
};

const struct fy_ollama_template *fy_ollama_template_for(const char *jinja, size_t n)
{
	if (jinja == NULL || n == 0)
		return NULL;
	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
		const struct fy_ollama_template *t = &templates[i];
		bool all = true;
		for (size_t k = 0; all && k < FY_OLLAMA_MARKERS && t->markers[k] != NULL; k++)
			all = memmem(jinja, n, t->markers[k], strlen(t->markers[k])) != NULL;
		if (all)
			return t;
	}
	return NULL;
}

const struct fy_ollama_template *fy_ollama_template_at(size_t i)
{
	return i < sizeof(templates) / sizeof(templates[0]) ? &templates[i] : NULL;
}
