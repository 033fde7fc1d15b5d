/* Prints mirror/ollama_templates.c's rows as JSON (name, go, stop) for check-templates.sh. */
#include "mirror/mirror.h"

#include <stdio.h>

static void str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		const unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			printf("\\n");
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int main(void)
{
	const struct fy_ollama_template *t;
	printf("[");
	for (size_t i = 0; (t = fy_ollama_template_at(i)) != NULL; i++) {
		printf("%s{\"name\": ", i ? ",\n" : "");
		str(t->name);
		printf(", \"go\": ");
		str(t->go);
		printf(", \"stop\": [");
		for (size_t k = 0; k < FY_OLLAMA_STOPS && t->stop[k] != NULL; k++) {
			printf("%s", k ? ", " : "");
			str(t->stop[k]);
		}
		printf("]}");
	}
	printf("]\n");
	return 0;
}
