/*
 * cli/notify.h - tell systemd how a long-running command is doing (sd_notify(3)): READY=1
 * once it serves, STOPPING=1 when it begins to stop, STATUS= lines in between, for a unit of
 * Type=notify.  Without NOTIFY_SOCKET (not started by systemd) every call does nothing.
 */
#ifndef FIELDSYNC_CLI_NOTIFY_H
#define FIELDSYNC_CLI_NOTIFY_H

/* The service is ready: READY=1 and STATUS=<status>. */
void cli_notify_ready(const char *status);

/* The service stops: STOPPING=1 and STATUS=<status>. */
void cli_notify_stopping(const char *status);

/* A STATUS= line (printf format) for `systemctl status`. */
void cli_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
