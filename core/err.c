/* Status codes and struct fy_err. */
#include "core/core.h"

#undef fy_err_set /* the analyzer-only models of core.h: here are the definitions */
#undef fy_err_sys

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void fy_err_clear(struct fy_err *err)
{
	if (err == NULL)
		return;
	err->code = FY_OK;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}

__attribute__((format(printf, 4, 0))) static int err_vset(struct fy_err *err, int code, int sys,
							  const char *fmt, va_list ap)
{
	size_t n;

	if (err == NULL)
		return code;
	err->code = code;
	err->sys_errno = sys;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (sys != 0) {
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(sys));
	}
	return code;
}

int fy_err_set(struct fy_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int fy_err_sys(struct fy_err *err, int code, const char *fmt, ...)
{
	int sys = errno;
	va_list ap;

	va_start(ap, fmt);
	code = err_vset(err, code, sys, fmt, ap);
	va_end(ap);
	return code;
}

int fy_err_prefix(struct fy_err *err, const char *fmt, ...)
{
	char joined[2 * FY_ERR_MSG_MAX + 2];
	size_t n;
	va_list ap;

	if (err == NULL)
		return FY_EINVAL;
	va_start(ap, fmt);
	vsnprintf(joined, FY_ERR_MSG_MAX, fmt, ap);
	va_end(ap);
	n = strlen(joined);
	memcpy(joined + n, ": ", 2); /* NOLINT(bugprone-not-null-terminated-result) */
	memcpy(joined + n + 2, err->msg, strnlen(err->msg, FY_ERR_MSG_MAX - 1) + 1);
	snprintf(err->msg, sizeof(err->msg), "%.*s", FY_ERR_MSG_MAX - 1, joined);
	return err->code;
}

const char *fy_status_name(int code)
{
	static const char *const names[] = {
		"ok",  "invalid",     "nomem",	  "io",	    "format",	"hash",
		"net", "unsupported", "notfound", "exists", "canceled",
	};
	int i = -code;

	if (i < 0 || i >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[i];
}
