/*
 * fuzz_ccw.c - libFuzzer harness for the ccache writer's private messages
 * (helper/ccache_writer/wire.c): the job (helper -> writer) and the outcome
 * (child -> writer -> helper).  An outcome is written by a process running
 * as the user, so its decoder faces a hostile peer; the job decoder is held
 * to the same standard.
 *
 * The first byte picks a mode:
 *   0  a job frame of arbitrary bytes: ccw_job_ids and ccw_job_decode must
 *      not crash; a job it accepts must be within every bound, and encoding
 *      it again must give a frame that decodes to the same job;
 *   1  an outcome frame of arbitrary bytes, for the op and reqid its header
 *      names (or others): the same, through ccw_outcome_encode;
 *   2  a job built from fields the input gives: what ccw_job_encode writes,
 *      ccw_job_decode takes back unchanged, and ccw_job_size is its size;
 *   3  an outcome built from fields: the same for the outcome's pair.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "ccache_writer/ccache_writer_int.h"

static uint8_t buf[WRITER_JOB_MAX + 64];
static uint8_t buf2[WRITER_JOB_MAX + 64];
static struct job j1, j2;
static struct outcome o1, o2;
static gid_t groups[SECTX_WRITER_MAX_GROUPS + 2];
static krb5_data cred_data[SECTX_WRITER_MAX_CREDS + 2];
static krb5_data *cred_ptrs[SECTX_WRITER_MAX_CREDS + 2];

static size_t bounded_strlen(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	FUZZ_CHECK(nul != NULL); /* a decoded string is always terminated in its buffer */
	return (size_t)(nul - s);
}

static void check_job_bounds(const struct job *j)
{
	size_t i;

	FUZZ_CHECK(j->op == WOP_STORE || j->op == WOP_DESTROY || j->op == WOP_READ);
	FUZZ_CHECK(j->n_groups <= SECTX_WRITER_MAX_GROUPS);
	FUZZ_CHECK(j->n_creds <= SECTX_WRITER_MAX_CREDS);
	FUZZ_CHECK(j->op != WOP_STORE || j->n_creds > 0);
	FUZZ_CHECK(j->op == WOP_STORE || j->n_creds == 0);
	FUZZ_CHECK(bounded_strlen(j->user, sizeof(j->user)) <= SECTX_NAME_MAX);
	FUZZ_CHECK(bounded_strlen(j->tmpl, sizeof(j->tmpl)) <= WRITER_CCNAME_MAX);
	FUZZ_CHECK(bounded_strlen(j->principal, sizeof(j->principal)) <= SECTX_STRING_MAX);
	FUZZ_CHECK(j->deadline >= 0);
	for (i = 0; i < j->n_creds; i++) {
		const struct sectx_field *f = &j->creds[i];

		FUZZ_CHECK(f->tag == WT_CRED);
		FUZZ_CHECK(f->value >= j->frame && f->value + f->len <= j->frame + j->frame_len);
	}
}

/* Encode j (as decoded) into out; 0 and *len or the encoder's error. */
static int encode_job(const struct job *j, uint8_t *out, size_t cap, size_t *len, size_t *size)
{
	struct sectx_writer_user who = {.uid = j->uid,
					.gid = j->gid,
					.groups = j->groups,
					.n_groups = j->n_groups,
					.name = j->user};
	struct job_msg m = {.op = j->op,
			    .reqid = j->reqid,
			    .who = &who,
			    .ccache = j->tmpl,
			    .deadline = (uint64_t)j->deadline,
			    .replace = j->replace,
			    .want_tgt = j->want_tgt,
			    .principal = j->op == WOP_DESTROY ? j->principal : NULL,
			    .creds = cred_ptrs,
			    .n_creds = j->n_creds};
	size_t i;

	for (i = 0; i < j->n_creds; i++) {
		cred_data[i].data = (char *)j->creds[i].value;
		cred_data[i].length = j->creds[i].len;
		cred_ptrs[i] = &cred_data[i];
	}
	*size = ccw_job_size(&m);
	return ccw_job_encode(&m, out, cap, len);
}

static void check_same_job(const struct job *a, const struct job *b)
{
	size_t i;

	FUZZ_CHECK(a->op == b->op && a->reqid == b->reqid && a->uid == b->uid && a->gid == b->gid);
	FUZZ_CHECK(a->n_groups == b->n_groups);
	FUZZ_CHECK(memcmp(a->groups, b->groups, a->n_groups * sizeof(a->groups[0])) == 0);
	FUZZ_CHECK(strcmp(a->user, b->user) == 0 && strcmp(a->tmpl, b->tmpl) == 0);
	FUZZ_CHECK(strcmp(a->principal, b->principal) == 0);
	FUZZ_CHECK(a->deadline == b->deadline);
	FUZZ_CHECK(a->want_tgt == b->want_tgt && a->replace == b->replace);
	FUZZ_CHECK(a->n_creds == b->n_creds);
	for (i = 0; i < a->n_creds; i++) {
		FUZZ_CHECK(a->creds[i].len == b->creds[i].len);
		FUZZ_CHECK(a->creds[i].len == 0 ||
			   memcmp(a->creds[i].value, b->creds[i].value, a->creds[i].len) == 0);
	}
}

/* Decode a job that was just encoded (len bytes in b) into j2: it must be
 * accepted and equal a. */
static void redecode_job(const struct job *a, uint8_t *b, size_t len)
{
	memset(&j2, 0, sizeof(j2));
	memset(&o2, 0, sizeof(o2));
	FUZZ_CHECK(ccw_job_decode(b, len, &j2, &o2) == 0);
	check_job_bounds(&j2);
	check_same_job(a, &j2);
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
			return false;
		}
	}
	return true;
}

static void check_outcome_bounds(const struct outcome *o, uint16_t op)
{
	FUZZ_CHECK(o->err >= 0 && o->err <= 4095);
	FUZZ_CHECK(bounded_strlen(o->ccache, sizeof(o->ccache)) <= WRITER_CCNAME_MAX);
	FUZZ_CHECK(bounded_strlen(o->msg, sizeof(o->msg)) < WRITER_MSG_MAX);
	FUZZ_CHECK(bounded_strlen(o->principal, sizeof(o->principal)) <= SECTX_STRING_MAX);
	FUZZ_CHECK(o->cred_len <= sizeof(o->cred));
	if (op != WOP_READ) {
		FUZZ_CHECK(o->principal[0] == '\0' && o->cred_len == 0);
	}
}

/* Encode o as the answer to op/reqid and decode it again: the same
 * outcome, its message reduced to printable ASCII. */
static void outcome_round_trip(const struct outcome *o, uint16_t op, uint32_t reqid)
{
	size_t len = 0, i;
	int ret;

	ret = ccw_outcome_encode(buf2, WRITER_REPLY_MAX, op, reqid, o, &len);
	if (ret != 0) {
		/* only a string the codec will not send is refused */
		FUZZ_CHECK(ret == SECTX_ERR_BADSTR);
		return;
	}
	FUZZ_CHECK(len <= WRITER_REPLY_MAX);
	FUZZ_CHECK(ccw_outcome_decode(buf2, len, op, reqid, &o2) == 0);
	check_outcome_bounds(&o2, op);
	FUZZ_CHECK(o2.err == o->err && strcmp(o2.ccache, o->ccache) == 0);
	if (op == WOP_READ) {
		FUZZ_CHECK(strcmp(o2.principal, o->principal) == 0 && o2.cred_len == o->cred_len);
		FUZZ_CHECK(o->cred_len == 0 || memcmp(o2.cred, o->cred, o->cred_len) == 0);
	}
	FUZZ_CHECK(strlen(o2.msg) == strlen(o->msg));
	for (i = 0; o->msg[i] != '\0'; i++) {
		unsigned char c = (unsigned char)o->msg[i];

		FUZZ_CHECK(o2.msg[i] == (c >= 0x20 && c < 0x7f ? (char)c : '?'));
	}
	if (printable(o->msg)) {
		FUZZ_CHECK(strcmp(o2.msg, o->msg) == 0);
	}
	/* a reply to another request is refused */
	FUZZ_CHECK(ccw_outcome_decode(buf2, len, op, reqid + 1, &o2) == SECTX_ERR_BADFRAME);
}

static void mode_job_bytes(const uint8_t *data, size_t size)
{
	uint16_t op = 0xffff;
	uint32_t reqid = 0xffffffff;
	size_t len = 0, size2 = 0;
	int ret;

	if (size > sizeof(buf)) {
		size = sizeof(buf);
	}
	memcpy(buf, data, size);
	ccw_job_ids(buf, size, &op, &reqid);
	memset(&j1, 0, sizeof(j1));
	memset(&o1, 0, sizeof(o1));
	ret = ccw_job_decode(buf, size, &j1, &o1);
	if (ret != 0) {
		FUZZ_CHECK(ret < 0 && o1.err == -ret);
		FUZZ_CHECK(bounded_strlen(o1.msg, sizeof(o1.msg)) < WRITER_MSG_MAX);
		return;
	}
	FUZZ_CHECK(j1.op == op && j1.reqid == reqid);
	check_job_bounds(&j1);
	ret = encode_job(&j1, buf2, sizeof(buf2), &len, &size2);
	if (ret != 0) {
		/* a job with more bytes than a frame holds cannot be re-sent whole
		 * only if it was not one frame to begin with: it was */
		FUZZ_CHECK(ret != -EINVAL);
		FUZZ_CHECK(ret == SECTX_ERR_TOOBIG && size2 > WRITER_JOB_MAX);
		return;
	}
	FUZZ_CHECK(len == size2);
	redecode_job(&j1, buf2, len);
}

static void mode_outcome_bytes(struct fz *in)
{
	uint8_t how = fz_u8(in);
	uint16_t op = how & 3;
	uint32_t reqid = fz_u32(in);
	size_t size = in->n;
	struct sectx_hdr h;
	int ret;

	if (size > sizeof(buf)) {
		size = sizeof(buf);
	}
	memcpy(buf, in->p, size);
	if ((how & 4) && sectx_hdr_decode(buf, size, &h) != SECTX_ERR_SHORT) {
		/* answer what the frame says it answers */
		op = (uint16_t)(h.op & ~SECTX_OP_REPLY);
		reqid = h.reqid;
	}
	ret = ccw_outcome_decode(buf, size, op, reqid, &o1);
	if (ret != 0) {
		FUZZ_CHECK(ret <= SECTX_ERR_SHORT && ret >= SECTX_ERR_VERSION);
		return;
	}
	check_outcome_bounds(&o1, op);
	outcome_round_trip(&o1, op, reqid);
}

static void mode_job_fields(struct fz *in)
{
	static char user[SECTX_NAME_MAX + 2], ccache[WRITER_CCNAME_MAX + 2];
	static char principal[SECTX_STRING_MAX + 2];
	struct sectx_writer_user who = {.groups = groups, .name = user};
	struct job_msg m = {.who = &who, .ccache = ccache, .creds = cred_ptrs};
	size_t len = 0, size, i, got;
	uint16_t pick;
	int ret;

	m.op = fz_u8(in) % 5;
	m.reqid = fz_u32(in);
	who.uid = fz_u32(in);
	who.gid = fz_u32(in);
	/* a few groups, or (rarely: each costs the codec a field) about the bound */
	pick = fz_u16(in);
	who.n_groups = pick & 0x8000 ? SECTX_WRITER_MAX_GROUPS - 2 + pick % 4 : pick % 64;
	for (i = 0; i < who.n_groups; i++) {
		groups[i] = fz_u32(in);
	}
	fz_str(in, user, SECTX_NAME_MAX + 1);
	fz_str(in, ccache, WRITER_CCNAME_MAX + 1);
	fz_str(in, principal, SECTX_STRING_MAX + 1);
	m.principal = fz_u8(in) & 1 ? principal : NULL;
	m.deadline = fz_u64(in);
	m.replace = fz_u8(in) & 1;
	m.want_tgt = fz_u8(in) & 1;
	m.n_creds = fz_u8(in) % (SECTX_WRITER_MAX_CREDS + 2);
	for (i = 0; i < m.n_creds; i++) {
		cred_data[i].data = (char *)fz_bytes(in, fz_u16(in), &got);
		cred_data[i].length = (unsigned)got;
		cred_ptrs[i] = &cred_data[i];
	}
	/* as requests.c builds a job: a destroy always names its principal
	 * (ccw_job_size reads it), the other ops may leave it NULL */
	if (m.op == WOP_DESTROY && m.principal == NULL) {
		FUZZ_CHECK(ccw_job_encode(&m, buf, sizeof(buf), &len) == -EINVAL);
		return;
	}
	size = ccw_job_size(&m);
	ret = ccw_job_encode(&m, buf, sizeof(buf), &len);
	if (ret != 0) {
		FUZZ_CHECK(ret == -EINVAL || ret == SECTX_ERR_TOOBIG || ret == SECTX_ERR_BADSTR);
		if (ret == SECTX_ERR_TOOBIG) {
			FUZZ_CHECK(size > WRITER_JOB_MAX ||
				   who.n_groups > SECTX_WRITER_MAX_GROUPS ||
				   m.n_creds > SECTX_WRITER_MAX_CREDS);
		}
		return;
	}
	FUZZ_CHECK(len == size && len <= WRITER_JOB_MAX);
	memset(&j1, 0, sizeof(j1));
	memset(&o1, 0, sizeof(o1));
	ret = ccw_job_decode(buf, len, &j1, &o1);
	if (ret != 0) {
		/* the encoder checks strings against the codec's bound; the
		 * decoder holds the user name to SECTX_NAME_MAX */
		FUZZ_CHECK(ret == -EPROTO && strlen(user) > SECTX_NAME_MAX);
		return;
	}
	check_job_bounds(&j1);
	FUZZ_CHECK(j1.op == m.op && j1.reqid == m.reqid && j1.uid == who.uid && j1.gid == who.gid);
	FUZZ_CHECK(j1.n_groups == who.n_groups &&
		   memcmp(j1.groups, groups, who.n_groups * sizeof(gid_t)) == 0);
	FUZZ_CHECK(strcmp(j1.user, user) == 0 && strcmp(j1.tmpl, ccache) == 0);
	FUZZ_CHECK(j1.deadline == (m.deadline > INT64_MAX ? INT64_MAX : (int64_t)m.deadline));
	FUZZ_CHECK(m.op != WOP_DESTROY || strcmp(j1.principal, principal) == 0);
	FUZZ_CHECK(j1.replace == (m.op == WOP_STORE && m.replace));
	FUZZ_CHECK(j1.want_tgt == (m.op == WOP_READ && m.want_tgt));
	FUZZ_CHECK(j1.n_creds == (m.op == WOP_STORE ? m.n_creds : 0));
	for (i = 0; i < j1.n_creds; i++) {
		FUZZ_CHECK(j1.creds[i].len == cred_data[i].length);
		FUZZ_CHECK(cred_data[i].length == 0 ||
			   memcmp(j1.creds[i].value, cred_data[i].data, cred_data[i].length) == 0);
	}
}

static void mode_outcome_fields(struct fz *in)
{
	uint16_t op = fz_u8(in) % 4;
	uint32_t reqid = fz_u32(in);
	size_t got;
	const uint8_t *p;

	memset(&o1, 0, sizeof(o1));
	o1.err = (int)(fz_u16(in) % 4200);
	fz_str(in, o1.ccache, WRITER_CCNAME_MAX);
	fz_str(in, o1.msg, WRITER_MSG_MAX - 1);
	if (op == WOP_READ) {
		fz_str(in, o1.principal, SECTX_STRING_MAX);
		p = fz_bytes(in, fz_u16(in), &got);
		memcpy(o1.cred, p, got < sizeof(o1.cred) ? got : sizeof(o1.cred));
		o1.cred_len = got < sizeof(o1.cred) ? got : sizeof(o1.cred);
	}
	if (o1.err > 4095) {
		size_t len = 0;

		/* an errno the decoder refuses: the pair must agree */
		if (ccw_outcome_encode(buf2, WRITER_REPLY_MAX, op, reqid, &o1, &len) == 0) {
			FUZZ_CHECK(ccw_outcome_decode(buf2, len, op, reqid, &o2) ==
				   SECTX_ERR_BADLEN);
		}
		return;
	}
	outcome_round_trip(&o1, op, reqid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};

	switch (fz_u8(&in) % 4) {
	case 0:
		mode_job_bytes(in.p, in.n);
		break;
	case 1:
		mode_outcome_bytes(&in);
		break;
	case 2:
		mode_job_fields(&in);
		break;
	default:
		mode_outcome_fields(&in);
		break;
	}
	return 0;
}
