# helper/ops/local.mk - the operation groups: one file per group and per PAM group.
sectxd_SOURCES += \
	helper/ops/ops.h \
	helper/ops/admin.c \
	helper/ops/nss.c \
	helper/ops/ctx_int.h helper/ops/ctx.c helper/ops/ctx_policy.c helper/ops/ctx_state.c \
	helper/ops/pam_int.h helper/ops/pam.c helper/ops/pam_common.c \
	helper/ops/pam_auth.c helper/ops/pam_account.c helper/ops/pam_password.c \
	helper/ops/pam_session.c \
	helper/ops/pam_tickets.c

