/*
 * ops/pam.c - the PAM operations of sectxd (protocol in common/proto.h): the
 * op table only.  Each PAM group is a file of its own: pam_auth.c
 * (authenticate), pam_account.c (account), pam_password.c (password
 * change), pam_session.c (credentials and sessions), with what they share in
 * pam_common.c (pam_int.h); authentication by existing tickets is
 * pam_tickets.c, a table of its own.
 *
 * Who can reach this: any local process, through pam.sock.  Every operation
 * is served on pam.sock only and open to every uid: each handler authorises
 * the caller for the user it names (sectx_pam_authorise).  An
 * operation not in this table is not a PAM operation.
 */
#include "ops/ops.h"
#include "ops/pam_int.h"
#include "server/server.h"

static const struct sectx_op_def pam_ops[] = {
    {SECTX_OP_PAM_AUTHENTICATE, SECTX_SOCK_PAM, false, sectx_pam_op_authenticate},
    {SECTX_OP_PAM_ACCT_MGMT, SECTX_SOCK_PAM, false, sectx_pam_op_acct_mgmt},
    {SECTX_OP_PAM_CHAUTHTOK, SECTX_SOCK_PAM, false, sectx_pam_op_chauthtok},
    {SECTX_OP_PAM_SETCRED, SECTX_SOCK_PAM, false, sectx_pam_op_setcred},
    {SECTX_OP_PAM_OPEN_SESSION, SECTX_SOCK_PAM, false, sectx_pam_op_open_session},
    {SECTX_OP_PAM_CLOSE_SESSION, SECTX_SOCK_PAM, false, sectx_pam_op_close_session},
};
const struct sectx_op_table sectxd_pam_ops = SECTX_OP_TABLE(pam_ops);
