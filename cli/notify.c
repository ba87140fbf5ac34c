/* cli/notify.c - sd_notify for the services (see notify.h). */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

/*
 * sd_notify() returns 0 without NOTIFY_SOCKET and a negative errno when the socket is gone;
 * either way the service goes on: readiness is a courtesy to the service manager, and a
 * failure to report it must not stop HQ or a device from serving.
 */
void cli_notify_ready(const char *status)
{
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void cli_notify_stopping(const char *status)
{
	(void)sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}

void cli_notify_status(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)sd_notifyf(0, "STATUS=%s", text);
}
