/*
 * sessions/sessions_file.c - the sessions state file: <state_dir>/sessions,
 * the metadata of every session whose TGT is renewed, so that a restarted
 * helper picks them up (sessions_int.h).
 *
 * The body is a sequence of record frames of the common/proto codec (one per
 * session, private op RECORD_OP and tags RT_*), inside the state file
 * envelope of core/state_file.c (atomic replace, owner and mode checks).
 *
 * Who reaches this: the renewal (renewal.c, renew_cycle.c) only.  The file
 * lives in the helper's own 0700 state directory, but its bytes are read as
 * untrusted: every record is bounds-checked by the codec, and a file that
 * does not parse is moved aside, never half-loaded.
 *
 * Must never: write a ticket, a key or a login handle (only the session id,
 * a hash of the handle, and metadata), or trust a length it read.
 */
#include "sessions/sessions_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/state_file.h"
#include "log.h"

static int append_record(TALLOC_CTX *mem_ctx, uint8_t **buf, size_t *len,
			 const struct renew_session *s)
{
	size_t cap = SECTX_HDR_LEN + 12 * (SECTX_FIELD_HDR_LEN + 8) +
		     s->n_groups * (SECTX_FIELD_HDR_LEN + 4) + SESSION_ID_LEN + strlen(s->user) +
		     strlen(s->service) + strlen(s->rhost) + strlen(s->ccache) +
		     strlen(s->principal);
	struct sectx_wbuf w;
	size_t flen = 0, i;
	uint8_t *nb;

	if (cap > SECTX_FRAME_MAX) {
		return -E2BIG;
	}
	nb = talloc_realloc(mem_ctx, *buf, uint8_t, *len + cap);
	if (nb == NULL) {
		return -ENOMEM;
	}
	*buf = nb;
	sectx_frame_begin(&w, nb + *len, cap, 1, RECORD_OP, 0);
	sectx_put_string(&w, RT_ID, s->id);
	sectx_put_string(&w, RT_USER, s->user);
	sectx_put_string(&w, RT_SERVICE, s->service);
	sectx_put_string(&w, RT_RHOST, s->rhost);
	sectx_put_u32(&w, RT_UID, (uint32_t)s->uid);
	sectx_put_u32(&w, RT_GID, (uint32_t)s->gid);
	for (i = 0; i < s->n_groups; i++) {
		sectx_put_u32(&w, RT_GROUP, (uint32_t)s->groups[i]);
	}
	sectx_put_string(&w, RT_CCACHE, s->ccache);
	sectx_put_string(&w, RT_PRINCIPAL, s->principal);
	sectx_put_u64(&w, RT_ENDTIME, (uint64_t)s->endtime);
	sectx_put_u64(&w, RT_RENEW_TILL, (uint64_t)s->renew_till);
	sectx_put_u32(&w, RT_DONE, s->done ? 1 : 0);
	if (sectx_frame_end(&w, &flen) != 0) {
		return -EINVAL;
	}
	*len += flen;
	return 0;
}

int sectx_sessions_file_encode(TALLOC_CTX *mem_ctx, const struct sectxd_renewal *rn, uint8_t **body,
			       size_t *len)
{
	TALLOC_CTX *tmp = talloc_new(mem_ctx);
	const struct renew_session *s;
	uint8_t *buf = NULL;
	size_t n = 0;
	int ret = tmp != NULL ? 0 : -ENOMEM;

	for (s = rn->head; ret == 0 && s != NULL; s = s->next) {
		ret = append_record(tmp, &buf, &n, s);
	}
	if (ret == 0) {
		*body = talloc_steal(mem_ctx, buf);
		*len = n;
	}
	talloc_free(tmp);
	return ret;
}

void sectx_sessions_save(struct sectxd_renewal *rn)
{
	TALLOC_CTX *tmp;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	if (rn->dirfd < 0) {
		return;
	}
	tmp = talloc_new(rn);
	ret = tmp != NULL ? sectx_sessions_file_encode(tmp, rn, &buf, &len) : -ENOMEM;
	if (ret == 0) {
		ret = sectx_state_save(rn->dirfd, SECTX_RENEW_FILE, SECTX_RENEW_FILE_KIND,
				       SECTX_RENEW_FILE_VERSION, buf, len);
	}
	if (ret != 0) {
		SECTX_ERROR("cannot save the sessions to renew in %s: %s", SECTX_RENEW_FILE,
			    strerror(-ret));
	}
	talloc_free(tmp);
}

static int record_string(const struct sectx_msg *m, uint16_t tag, TALLOC_CTX *mem_ctx, char **out,
			 size_t max)
{
	char buf[SECTX_STRING_MAX + 1];
	int ret = sectx_msg_get_string(m, tag, buf, sizeof(buf), max);

	if (ret != 0) {
		return ret;
	}
	*out = talloc_strdup(mem_ctx, buf);
	return *out != NULL ? 0 : -ENOMEM;
}

/* One record into a new session of rn.  0, or a codec error / -errno. */
static int load_record(struct sectxd_renewal *rn, const struct sectx_msg *m)
{
	struct renew_session *s;
	struct sectx_field f;
	char id[SECTX_STRING_MAX + 1];
	uint64_t end = 0, till = 0;
	uint32_t u = 0, done = 0;
	size_t pos = 0, n = 0;
	int ret;

	if (m->hdr.op != RECORD_OP) {
		return SECTX_ERR_BADFRAME;
	}
	ret = sectx_msg_get_string(m, RT_ID, id, sizeof(id), SESSION_ID_LEN);
	if (ret == 0 && strlen(id) != SESSION_ID_LEN) {
		ret = SECTX_ERR_BADLEN;
	}
	if (ret != 0) {
		return ret;
	}
	if (sectx_renew_find_id(rn, id) != NULL || rn->n >= SECTX_RENEW_SESSIONS_MAX) {
		return SECTX_ERR_DUPFIELD;
	}
	s = sectx_renew_session_new(rn);
	if (s == NULL) {
		return -ENOMEM;
	}
	memcpy(s->id, id, SESSION_ID_LEN + 1);
	ret = record_string(m, RT_USER, s, &s->user, SECTX_NAME_MAX);
	if (ret == 0) {
		ret = record_string(m, RT_SERVICE, s, &s->service, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = record_string(m, RT_RHOST, s, &s->rhost, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = record_string(m, RT_CCACHE, s, &s->ccache, SECTX_STRING_MAX);
	}
	if (ret == 0) {
		ret = record_string(m, RT_PRINCIPAL, s, &s->principal, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(m, RT_UID, &u);
		s->uid = (uid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(m, RT_GID, &u);
		s->gid = (gid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_u64(m, RT_ENDTIME, &end);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u64(m, RT_RENEW_TILL, &till);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(m, RT_DONE, &done);
	}
	if (ret == 0 && (s->uid == 0 || s->uid == (uid_t)-1 || s->gid == (gid_t)-1 ||
			 end > INT64_MAX || till > INT64_MAX)) {
		ret = SECTX_ERR_BADLEN;
	}
	while (ret == 0 && sectx_msg_next(m, RT_GROUP, &pos, &f) == 0) {
		n++;
	}
	if (ret == 0 && n > SECTX_RENEW_GROUPS_MAX) {
		ret = SECTX_ERR_TOOBIG;
	}
	if (ret == 0 && n > 0) {
		s->groups = talloc_array(s, gid_t, n);
		ret = s->groups != NULL ? 0 : -ENOMEM;
	}
	for (pos = 0; ret == 0 && sectx_msg_next(m, RT_GROUP, &pos, &f) == 0;) {
		ret = sectx_field_u32(&f, &u);
		s->groups[s->n_groups++] = (gid_t)u;
	}
	if (ret != 0) {
		talloc_free(s);
		return ret;
	}
	s->endtime = (int64_t)end;
	s->renew_till = (int64_t)till;
	s->done = done != 0;
	return 0;
}

int sectx_sessions_file_decode(struct sectxd_renewal *rn, const uint8_t *body, size_t len,
			       size_t *bad_off)
{
	struct sectx_cur cur;
	int ret = 0;

	sectx_cur_init(&cur, body, len);
	while (sectx_cur_left(&cur) > 0) {
		struct sectx_cur peek = cur; /* the header says how long the record is */
		struct sectx_hdr h;
		struct sectx_msg m;
		const uint8_t *p = NULL;

		ret = sectx_cur_get_bytes(&peek, SECTX_HDR_LEN, &p);
		if (ret == 0) {
			ret = sectx_hdr_decode(p, SECTX_HDR_LEN, &h);
		}
		if (ret == 0) {
			ret = sectx_cur_get_bytes(&cur, h.length, &p);
		}
		if (ret == 0) {
			ret = sectx_msg_parse(p, h.length, &m);
		}
		if (ret == 0) {
			ret = load_record(rn, &m);
		}
		if (ret != 0) {
			*bad_off = cur.off;
			while (rn->head != NULL) {
				talloc_free(rn->head);
			}
			return ret;
		}
	}
	/* The file is newest first, as the list; loading at the head reversed it. */
	{
		struct renew_session *s = rn->head, *next;

		rn->head = NULL;
		for (; s != NULL; s = next) {
			next = s->next;
			s->prev = NULL;
			s->next = rn->head;
			if (rn->head != NULL) {
				rn->head->prev = s;
			}
			rn->head = s;
		}
	}
	return 0;
}

void sectx_sessions_load(struct sectxd_renewal *rn)
{
	TALLOC_CTX *tmp = talloc_new(rn);
	uint8_t *payload = NULL;
	size_t len = 0, bad_off = 0;
	uint32_t version = 0;
	int ret;

	if (tmp == NULL) {
		return;
	}
	(void)sectx_state_remove_temps(rn->dirfd, SECTX_RENEW_FILE);
	ret = sectx_state_load(tmp, rn->dirfd, SECTX_RENEW_FILE, "sessions to renew",
			       SECTX_RENEW_FILE_KIND, SECTX_RENEW_FILE_VERSION,
			       SECTX_RENEW_FILE_MAX, &payload, &len, &version);
	if (ret != 0) {
		if (ret != -ENOENT && ret != -EBADMSG) {
			SECTX_ERROR("cannot read %s in the state directory: %s; no session is "
				    "renewed until the next login",
				    SECTX_RENEW_FILE, strerror(-ret));
		}
		goto done;
	}
	ret = sectx_sessions_file_decode(rn, payload, len, &bad_off);
	if (ret != 0) {
		char why[96];

		snprintf(why, sizeof(why), "session record at offset %zu: %s", bad_off,
			 sectx_strerror(ret));
		(void)sectx_state_move_aside(rn->dirfd, SECTX_RENEW_FILE, "sessions to renew", why);
		goto done;
	}
	if (rn->n > 0) {
		SECTX_INFO("%zu session(s) to renew picked up from %s", rn->n, SECTX_RENEW_FILE);
	}
done:
	talloc_free(tmp);
}
