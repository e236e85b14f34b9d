/*
 * sectxctl/doctor.h - what doctor's files share: the run's state and the
 * steps each file provides.
 *
 * doctor walks the path of a login in order and stops at the first FAIL,
 * with its reason and its fix.  Every step reads files or asks sectxd or
 * the KDC; none changes anything.  --root DIR (or SECTX_DOCTOR_ROOT) is put
 * in front of the /etc paths it reads (nsswitch.conf, pam.d, krb5.conf,
 * shells), so that a broken setup can be checked outside /etc.
 */
#ifndef SECTXCTL_DOCTOR_H
#define SECTXCTL_DOCTOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "sectxctl.h"

enum doctor_result { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL, DOCTOR_SKIP };

struct doctor {
	struct ctl *ctl;
	struct out o;
	bool json;
	const char *root; /* "" or the prefix of /etc paths */
	const char *user; /* NULL: the user steps are skipped */
	struct sectx_config *cfg;
	char realm[SECTX_NAME_MAX + 1];
	char failed_step[64]; /* the step that failed, "" if none */
	/* the Kerberos steps share the host's TGT (doctor_krb5.c) */
	void *krb5;
};

/* Report a step: name, result, what was found, and for FAIL/WARN the fix
 * (NULL if none).  Returns true if the walk goes on (not FAIL). */
bool doctor_report(struct doctor *d, const char *step, enum doctor_result r, const char *fix,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* root + path into out; -1 if too long. */
int doctor_path(const struct doctor *d, const char *path, char *out, size_t outsz);

/* doctor_pam.c: nsswitch.conf and the PAM service files. */
bool doctor_nsswitch(struct doctor *d);
bool doctor_pam_services(struct doctor *d);

/* doctor_krb5.c: krb5.conf, the KDC, clocks, keytab, validation, FAST. */
bool doctor_krb5(struct doctor *d);
void doctor_krb5_free(struct doctor *d);

#endif /* SECTXCTL_DOCTOR_H */
