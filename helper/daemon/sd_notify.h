/*
 * daemon/sd_notify.h - tell systemd about readiness, reloads and stopping.
 *
 * A minimal implementation of the sd_notify protocol (one datagram to the
 * AF_UNIX socket named by $NOTIFY_SOCKET), so sectxd does not link
 * libsystemd.  Without $NOTIFY_SOCKET every call is a no-op.
 */
#ifndef SECTX_SD_NOTIFY_H
#define SECTX_SD_NOTIFY_H

/* Send state (e.g. "READY=1") to the service manager.  Returns 0 when sent or
 * not under systemd, -errno otherwise (callers log and carry on). */
int sectx_sd_notify(const char *state);

#endif
