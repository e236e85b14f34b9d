/*
 * ops/admin.c - ping, status and debug-level.
 *
 * ping and status may be asked by anyone (status shows nothing that is not
 * already visible to a local user: version, uptime, config path, realm and
 * counters).  debug-level changes what the helper logs and is root only; the
 * dispatch table in server.c enforces that before these handlers run.
 */
#include <string.h>
#include <unistd.h>

#include "ops/ops.h"
#include "clock.h"
#include "log.h"
#include "server/server.h"
#include "sessions/sessions.h"

static int op_ping(struct sectx_request *req)
{
	sectx_request_reply_status(req, SECTX_OK, NULL);
	return 0;
}

static void count_session(void *arg, const struct sectx_session_info *si)
{
	(void)arg;
	(void)si;
}

static int op_status(struct sectx_request *req)
{
	struct sectxd_ctx *hctx = req->hctx;
	struct sectx_server_stats st;
	struct sectx_wbuf w;
	int64_t up = (sectx_now_ms() - hctx->started_ms) / 1000;

	if (sectx_request_reply_begin(req, 2048, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	sectx_server_get_stats(hctx->srv, &st);
	sectx_put_string(&w, SECTX_TAG_VERSION_STR, PACKAGE_VERSION);
	sectx_put_u32(&w, SECTX_TAG_PID, (uint32_t)getpid());
	sectx_put_u64(&w, SECTX_TAG_UPTIME, up > 0 ? (uint64_t)up : 0);
	sectx_put_string(&w, SECTX_TAG_CONFIG_FILE, hctx->config_path);
	sectx_put_string(&w, SECTX_TAG_REALM, hctx->realm);
	sectx_put_u32(&w, SECTX_TAG_LOG_LEVEL, (uint32_t)sectx_log_get_level());
	sectx_put_u32(&w, SECTX_TAG_CONN_NSS, st.conn_nss);
	sectx_put_u32(&w, SECTX_TAG_CONN_PAM, st.conn_pam);
	sectx_put_u64(&w, SECTX_TAG_REQUESTS, st.requests);
	sectx_put_u64(&w, SECTX_TAG_CONN_REFUSED, st.refused);
	sectx_put_u32(&w, SECTX_TAG_LOGIN_HANDLES, (uint32_t)sectx_handles_count(hctx));
	sectx_put_u32(&w, SECTX_TAG_SESSIONS_OPEN,
		      (uint32_t)sectx_sessions_list(hctx, count_session, NULL));
	for (size_t i = 0; i < hctx->n_subsystems; i++) {
		if (hctx->subsystems[i] != NULL && hctx->subsystems[i]->status != NULL) {
			hctx->subsystems[i]->status(hctx, &w);
		}
	}
	sectx_request_reply(req, &w);
	return 0;
}

static int op_debug_level(struct sectx_request *req)
{
	uint32_t level;
	int ret;

	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_LOG_LEVEL, &level);
	if (ret != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, sectx_strerror(ret));
		return 0;
	}
	if (level > SECTX_LOG_LEVEL_MAX) {
		sectx_request_reply_status(req, SECTX_E_INVAL,
					   "log level must be 0 (error) to 4 (trace)");
		return 0;
	}
	sectx_log_set_level((int)level);
	SECTX_INFO("log level set to %s by uid %u pid %d", sectx_log_level_name((int)level),
		   (unsigned)req->uid, (int)req->pid);
	sectx_request_reply_status(req, SECTX_OK, NULL);
	return 0;
}

static const struct sectx_op_def admin_ops[] = {
    {SECTX_OP_PING, SECTX_SOCK_NSS | SECTX_SOCK_PAM, false, op_ping},
    {SECTX_OP_STATUS, SECTX_SOCK_PAM, false, op_status},
    {SECTX_OP_DEBUG_LEVEL, SECTX_SOCK_PAM, true, op_debug_level},
};
const struct sectx_op_table sectxd_admin_ops = SECTX_OP_TABLE(admin_ops);
