/*
 * proto.h - the sectx wire codec, shared by every client and the helper.
 *
 * A frame is a fixed 12-byte header followed by typed fields, all integers
 * big-endian:
 *
 *   header:  u32 length   whole frame including this header,
 *                         SECTX_HDR_LEN <= length <= SECTX_FRAME_MAX
 *            u16 version  protocol version of the frame
 *            u16 op       operation; a reply carries op | SECTX_OP_REPLY
 *            u32 reqid    chosen by the client, echoed in the reply
 *   field:   u16 tag, u32 length, length bytes
 *
 * Every reply starts with a SECTX_TAG_STATUS field (u32, enum sectx_status)
 * and may carry a SECTX_TAG_MESSAGE string meant for a human.
 *
 * The header layout is fixed for all versions, so any helper can answer any
 * client with at least an error it understands.  A helper answers every
 * version from SECTX_PROTO_MIN_VERSION to SECTX_PROTO_VERSION: long-lived
 * processes (PID 1, sshd) keep an old module loaded across upgrades.
 *
 * This file and proto.c are linked into the PAM and NSS modules, i.e. into
 * other people's processes: libc only, no allocation, caller-provided
 * buffers, no global state.  Everything read from a peer goes through
 * struct sectx_cur, whose getters check bounds and never trust a length.
 */
#ifndef SECTX_PROTO_H
#define SECTX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SECTX_PROTO_VERSION	1u /* newest version this build speaks */
#define SECTX_PROTO_MIN_VERSION 1u /* oldest version a helper still answers */

#define SECTX_HDR_LEN	    12u
#define SECTX_FIELD_HDR_LEN 6u
#define SECTX_FRAME_MAX	    (128u * 1024u) /* fits the largest GSS token we accept */
#define SECTX_STRING_MAX    4096u	   /* default bound for a string field */
#define SECTX_NAME_MAX	    256u	   /* user, group, principal, service names */

#define SECTX_OP_REPLY 0x8000u

/* Operations.  The numeric values are part of the wire format: never reuse.
 * 0x00xx admin, 0x01xx NSS (nss.sock), 0x02xx PAM, 0x03xx contexts. */
enum sectx_op {
	SECTX_OP_PING = 0x0001,	       /* both sockets, anyone */
	SECTX_OP_STATUS = 0x0002,      /* pam.sock, anyone */
	SECTX_OP_DEBUG_LEVEL = 0x0003, /* pam.sock, root only */
	SECTX_OP_CACHE_FLUSH = 0x0004, /* pam.sock, root only: drop cached identities */
	SECTX_OP_ID_MAP = 0x0005,      /* pam.sock, root only: list mappings and collisions */
	/* KIND (SECTX_ID_INFO_*) and NAME or UID/GID -> the entry as NSS would
	 * return it, its SOURCE and EXPIRES; for groups-of, repeated GID.
	 * pam.sock, anyone (what getpwnam already tells). */
	SECTX_OP_ID_INFO = 0x0006,
	/* [UID] -> repeated SESSION: open sessions; a non-root caller sees its
	 * own only, whatever it asks.  pam.sock, anyone. */
	SECTX_OP_TICKETS = 0x0007,
	/* SEQ -> repeated LOG_LINE logged after line SEQ, and the SEQ of the
	 * last one; without SEQ, only the SEQ of the newest line.  pam.sock,
	 * root only (log lines name users and hosts). */
	SECTX_OP_LOG_TAIL = 0x0008,
	/* -> repeated CACHE_ENTRY: auto users with their existence check's end,
	 * negative entries, offline credentials.  pam.sock, root only. */
	SECTX_OP_CACHE_LIST = 0x0009,
	/* [NAME]: forget NAME's existence check, negative entry and offline
	 * credential; without NAME every offline credential -> COUNT deleted.
	 * pam.sock, root only. */
	SECTX_OP_CACHE_DROP = 0x000a,

	/* NSS: requests carry NAME or UID/GID; replies the entry and its TTL. */
	SECTX_OP_NSS_GETPWNAM = 0x0101,
	SECTX_OP_NSS_GETPWUID = 0x0102,
	SECTX_OP_NSS_GETGRNAM = 0x0103,
	SECTX_OP_NSS_GETGRGID = 0x0104,
	SECTX_OP_NSS_INITGROUPS = 0x0105, /* NAME -> repeated GID */
	SECTX_OP_NSS_ENUM_USERS = 0x0106, /* INDEX -> the entry at INDEX, or E_NOTFOUND */
	SECTX_OP_NSS_ENUM_GROUPS = 0x0107,
	/* Sent unasked by the helper on <socket_dir>/nss-cache/cache.sock to
	 * every connection it accepts, which it then closes: op | REPLY,
	 * reqid 0, STATUS (OK, or E_BUSY while a flushed cache is being
	 * republished, E_UNAVAIL when there is none) and on OK the GENERATION
	 * of the NSS cache whose sealed read-only memfd travels with the first
	 * byte (SCM_RIGHTS).  See nss/cache_map.c. */
	SECTX_OP_NSS_CACHE_FD = 0x0108,

	/* PAM (pam.sock).  Every request carries USER and SERVICE; the reply's
	 * PAM_RESULT (enum sectx_pam_result) is what the module returns, and
	 * USER_INFO / USER_ERROR lines go to the user through the conversation.
	 * A non-root caller may act only on its own user (see pam_ops.c). */
	SECTX_OP_PAM_AUTHENTICATE = 0x0201,  /* PASSWORD [RHOST TTY] -> HANDLE */
	SECTX_OP_PAM_ACCT_MGMT = 0x0202,     /* HANDLE */
	SECTX_OP_PAM_CHAUTHTOK = 0x0203,     /* PHASE OLD_PASSWORD [NEW_PASSWORD] [HANDLE] */
	SECTX_OP_PAM_SETCRED = 0x0204,	     /* HANDLE CRED_FLAG -> CCACHE */
	SECTX_OP_PAM_OPEN_SESSION = 0x0205,  /* HANDLE -> CCACHE */
	SECTX_OP_PAM_CLOSE_SESSION = 0x0206, /* HANDLE [RETAIN] */
	/* Authentication by tickets the user already holds (sudo, su): USER
	 * SERVICE [RHOST] [REAL_UID], and the user's ccache as a descriptor
	 * passed with SCM_RIGHTS -> PAM_RESULT [HANDLE].  See
	 * helper/pam_gss_ops.c. */
	SECTX_OP_PAM_GSS_AUTH = 0x0207,

	/* Security contexts (pam.sock), see helper/ctx_ops.c.  A CTX_HANDLE
	 * belongs to the connection that created it and dies with it; the
	 * [service/NAME] named by SERVICE decides which uid may use which
	 * keytab principal and mechanisms.
	 *   accept: SERVICE [CTX_HANDLE] TOKEN
	 *   init:   first SERVICE TARGET [MECH] [CTX_FLAGS], the user's ccache
	 *           passed as a descriptor (SCM_RIGHTS) or a login HANDLE;
	 *           later CTX_HANDLE TOKEN
	 *   both -> CTX_HANDLE CTX_STATE [TOKEN], and on COMPLETE the context's
	 *           MECH CTX_FLAGS MUTUAL PEER_NAME LOCAL_NAME LIFETIME.
	 * A FAILED step replies OK with CTX_STATE FAILED and the mechanism's
	 * reason in MESSAGE; the handle is gone. */
	SECTX_OP_CTX_ACCEPT_STEP = 0x0301,
	SECTX_OP_CTX_INIT_STEP = 0x0302,
	SECTX_OP_CTX_WRAP = 0x0303,	  /* CTX_HANDLE DATA [CONF] -> TOKEN CONF */
	SECTX_OP_CTX_UNWRAP = 0x0304,	  /* CTX_HANDLE TOKEN -> DATA CONF */
	SECTX_OP_CTX_GET_MIC = 0x0305,	  /* CTX_HANDLE DATA -> TOKEN */
	SECTX_OP_CTX_VERIFY_MIC = 0x0306, /* CTX_HANDLE DATA TOKEN -> status */
	SECTX_OP_CTX_RELEASE = 0x0307,	  /* CTX_HANDLE */
};

/* The outcome of a PAM operation; pam/ maps it to the PAM_* code of the
 * same name (the numeric PAM codes are libpam's, not ours). */
enum sectx_pam_result {
	SECTX_PAM_SUCCESS = 0,
	SECTX_PAM_IGNORE = 1, /* not a sectx user / not authenticated by sectx */
	SECTX_PAM_AUTH_ERR = 2,
	SECTX_PAM_USER_UNKNOWN = 3,
	SECTX_PAM_AUTHINFO_UNAVAIL = 4, /* realm or helper unreachable */
	SECTX_PAM_CRED_INSUFFICIENT = 5,
	SECTX_PAM_MAXTRIES = 6,
	SECTX_PAM_NEW_AUTHTOK_REQD = 7, /* acct_mgmt: expired password, chauthtok next */
	SECTX_PAM_ACCT_EXPIRED = 8,
	SECTX_PAM_PERM_DENIED = 9,	     /* access rules */
	SECTX_PAM_AUTHTOK_ERR = 10,	     /* chauthtok: new password refused */
	SECTX_PAM_AUTHTOK_RECOVERY_ERR = 11, /* chauthtok: old password wrong */
	SECTX_PAM_CRED_ERR = 12,
	SECTX_PAM_SESSION_ERR = 13,
	SECTX_PAM_SYSTEM_ERR = 14,
};

/* Values of SECTX_TAG_PHASE and SECTX_TAG_CRED_FLAG. */
enum { SECTX_CHAUTHTOK_PRELIM = 1, SECTX_CHAUTHTOK_UPDATE = 2 };
enum {
	SECTX_CRED_ESTABLISH = 1,
	SECTX_CRED_REINITIALIZE = 2,
	SECTX_CRED_REFRESH = 3,
	SECTX_CRED_DELETE = 4,
};

/* Field tags.  The type of a field is fixed by its tag (noted per tag). */
enum sectx_tag {
	SECTX_TAG_STATUS = 0x0001,	/* u32 enum sectx_status (replies) */
	SECTX_TAG_MESSAGE = 0x0002,	/* string, human readable (replies) */
	SECTX_TAG_MIN_VERSION = 0x0003, /* u32, in E_VERSION replies */
	SECTX_TAG_MAX_VERSION = 0x0004, /* u32, in E_VERSION replies */

	/* status / admin */
	SECTX_TAG_VERSION_STR = 0x0010,	 /* string: package version */
	SECTX_TAG_PID = 0x0011,		 /* u32 */
	SECTX_TAG_UPTIME = 0x0012,	 /* u64 seconds */
	SECTX_TAG_CONFIG_FILE = 0x0013,	 /* string */
	SECTX_TAG_REALM = 0x0014,	 /* string */
	SECTX_TAG_LOG_LEVEL = 0x0015,	 /* u32 enum sectx_log_level */
	SECTX_TAG_CONN_NSS = 0x0016,	 /* u32 open connections on nss.sock */
	SECTX_TAG_CONN_PAM = 0x0017,	 /* u32 open connections on pam.sock */
	SECTX_TAG_REQUESTS = 0x0018,	 /* u64 requests answered since start */
	SECTX_TAG_CONN_REFUSED = 0x0019, /* u64 connections refused or evicted */

	/* NSS (0x01xx): entries.  Repeated tags form lists. */
	SECTX_TAG_NAME = 0x0101,      /* string: user or group name (request and reply) */
	SECTX_TAG_UID = 0x0102,	      /* u32 */
	SECTX_TAG_GID = 0x0103,	      /* u32; repeated in INITGROUPS replies */
	SECTX_TAG_GECOS = 0x0104,     /* string */
	SECTX_TAG_HOME = 0x0105,      /* string */
	SECTX_TAG_SHELL = 0x0106,     /* string */
	SECTX_TAG_MEMBER = 0x0107,    /* string, repeated: group members */
	SECTX_TAG_INDEX = 0x0108,     /* u32: enumeration position */
	SECTX_TAG_TTL = 0x0109,	      /* u32 seconds the answer may be cached */
	SECTX_TAG_PRINCIPAL = 0x010a, /* string: Kerberos principal of a user */
	/* 0x0110-0x01ff: further NSS and identity tags */
	SECTX_TAG_ID_RANGE = 0x0110,   /* string "MIN-MAX" (id-map replies) */
	SECTX_TAG_MAPPING = 0x0111,    /* string "UID PRINCIPAL", repeated (id-map) */
	SECTX_TAG_COLLISION = 0x0112,  /* string "UID PRINCIPAL HOLDER", repeated (id-map) */
	SECTX_TAG_ID_PROBLEM = 0x0113, /* string "FILE:LINE: reason", repeated (id-map) */
	SECTX_TAG_NEXT_INDEX = 0x0114, /* u32: id-map continues at this INDEX (absent: done) */
	SECTX_TAG_GENERATION = 0x0115, /* u64: NSS cache generation (cache flush, NSS_CACHE_FD) */
	/* 0x0120-0x012f: sectxctl's queries (ID_INFO, TICKETS, LOG_TAIL, status) */
	SECTX_TAG_ID_KIND = 0x0120,	   /* u32 SECTX_ID_INFO_* */
	SECTX_TAG_SOURCE = 0x0121,	   /* string: static, auto, directory, negative, none */
	SECTX_TAG_EXPIRES = 0x0122,	   /* u64: seconds since the epoch; 0: never */
	SECTX_TAG_SESSION = 0x0123,	   /* string "UID USER CCACHE PRINCIPAL END RENEW_TILL
					    * LAST_RENEWAL SERVICE", repeated (TICKETS) */
	SECTX_TAG_LOG_LINE = 0x0124,	   /* string, repeated (LOG_TAIL) */
	SECTX_TAG_SEQ = 0x0125,		   /* u64: log line sequence number */
	SECTX_TAG_CACHED_USERS = 0x0126,   /* u32: users the identity store serves (status) */
	SECTX_TAG_CACHED_GROUPS = 0x0127,  /* u32: groups the identity store serves (status) */
	SECTX_TAG_NEGATIVE = 0x0128,	   /* u32: negative cache entries (status) */
	SECTX_TAG_LOGIN_HANDLES = 0x0129,  /* u32: live login handles (status) */
	SECTX_TAG_NSS_CACHE_FILE = 0x012a, /* string: the published NSS cache file (status) */
	SECTX_TAG_MEMBER_GID = 0x012b,	   /* u32, repeated: supplementary groups (ID_INFO) */
	SECTX_TAG_CACHE_ENTRY = 0x012c,	   /* string "KIND TIME NAME", repeated (CACHE_LIST):
					    * KIND auto (TIME: checked until), negative
					    * (expires), offline (stored) */
	SECTX_TAG_COUNT = 0x012d,	   /* u32: entries deleted (CACHE_DROP) */
	SECTX_TAG_SESSIONS_OPEN = 0x012e,  /* u32: open sessions, renewed or not (status) */
	SECTX_TAG_STALE = 0x012f,	   /* u32 1: served past its expiry, no server answered
					      (ID_INFO) */

	/* PAM (0x02xx) */
	SECTX_TAG_USER = 0x0201,	  /* string: PAM_USER */
	SECTX_TAG_PASSWORD = 0x0202,	  /* bytes, SECRET: scrubbed by both ends */
	SECTX_TAG_SERVICE = 0x0203,	  /* string: PAM_SERVICE */
	SECTX_TAG_RHOST = 0x0204,	  /* string: PAM_RHOST (may be empty) */
	SECTX_TAG_TTY = 0x0205,		  /* string: PAM_TTY (may be empty) */
	SECTX_TAG_HANDLE = 0x0206,	  /* string: login handle, 64 hex digits */
	SECTX_TAG_PAM_RESULT = 0x0207,	  /* u32 enum sectx_pam_result */
	SECTX_TAG_USER_INFO = 0x0208,	  /* string, repeated: PAM_TEXT_INFO lines */
	SECTX_TAG_USER_ERROR = 0x0209,	  /* string, repeated: PAM_ERROR_MSG lines */
	SECTX_TAG_PHASE = 0x020a,	  /* u32 SECTX_CHAUTHTOK_* */
	SECTX_TAG_OLD_PASSWORD = 0x020b,  /* bytes, SECRET */
	SECTX_TAG_NEW_PASSWORD = 0x020c,  /* bytes, SECRET */
	SECTX_TAG_CRED_FLAG = 0x020d,	  /* u32 SECTX_CRED_* */
	SECTX_TAG_CCACHE = 0x020e,	  /* string: credential cache name (KRB5CCNAME) */
	SECTX_TAG_RETAIN = 0x020f,	  /* u32 0/1: keep the ccache at close_session */
	SECTX_TAG_KDC = 0x0210,		  /* string: the KDC that answered last (status) */
	SECTX_TAG_KDC_ERROR = 0x0211,	  /* string: the last KDC-level failure (status) */
	SECTX_TAG_REALM_STATE = 0x0212,	  /* string: "online" or "offline" (status) */
	SECTX_TAG_REALM_SINCE = 0x0213,	  /* u64: seconds the realm has been in that state */
	SECTX_TAG_NEXT_PROBE = 0x0214,	  /* u64: seconds to the next probe (offline only) */
	SECTX_TAG_OFFLINE_USERS = 0x0215, /* u32: cached credentials held (status) */
	/* 0x0216-0x021f: further realm state and offline logins (helper/realm_state.c,
	 *                helper/offline_cache.c)
	 * 0x0220-0x022f: sessions and renewal (helper/renewal.c), below
	 * 0x0230-0x023f: authentication by existing tickets (pam_gss_ops.c)
	 * 0x0240-0x02ff: further PAM tags */
	SECTX_TAG_RENEW_SESSIONS = 0x0220, /* u32: sessions whose TGT is being renewed (status) */
	SECTX_TAG_RENEW_LAST = 0x0221,	   /* string: the last renewal and its result (status) */
	SECTX_TAG_RENEW_DONE = 0x0222,	   /* u64: renewals done since start (status) */
	SECTX_TAG_RENEW_FAILED = 0x0223,   /* u64: renewal attempts failed since start (status) */
	SECTX_TAG_REAL_UID = 0x0230,	   /* u32: real uid of the PAM application, which
					    * opened (and must own) the ccache passed */
	SECTX_TAG_TIMEOUT =
	    0x0240, /* u32: ms the client waits for the reply from its
		     * connect (PAM requests; absent: SECTX_CLIENT_TIMEOUT_DEFAULT_MS) */

	/* Security contexts (0x03xx).  0x0301-0x033f: helper/ctx_ops.c */
	SECTX_TAG_CTX_HANDLE = 0x0301, /* u32: a context of this connection */
	SECTX_TAG_CTX_STATE = 0x0302,  /* u32 enum sectx_ctx_state */
	SECTX_TAG_TOKEN = 0x0303,      /* bytes: a mechanism token, MIC or wrap token */
	SECTX_TAG_DATA = 0x0304,       /* bytes: a message to protect or unprotected */
	SECTX_TAG_CONF = 0x0305,       /* u32 0/1: confidentiality asked / applied */
	SECTX_TAG_MECH = 0x0306,       /* string: krb5, spnego or ntlm */
	SECTX_TAG_CTX_FLAGS = 0x0307,  /* u32 GSS_C_*_FLAG bits (RFC 2744 values) */
	SECTX_TAG_MUTUAL = 0x0308,     /* u32 0/1, decided by the mechanism */
	SECTX_TAG_PEER_NAME = 0x0309,  /* string: authenticated peer */
	SECTX_TAG_LOCAL_NAME = 0x030a, /* string */
	SECTX_TAG_LIFETIME = 0x030b,   /* u32 seconds the context stays valid */
	SECTX_TAG_TARGET = 0x030c,     /* string: SERVICE@HOST to initiate to */
	SECTX_TAG_CTX_OPEN = 0x030d,   /* u32: security contexts open, all connections (status) */
};

#define SECTX_PASSWORD_MAX		1024u	/* bytes in a password field */
#define SECTX_CLIENT_TIMEOUT_DEFAULT_MS 10000u	/* SECTX_TAG_TIMEOUT when absent */
#define SECTX_CLIENT_TIMEOUT_MAX_MS	120000u /* a larger SECTX_TAG_TIMEOUT counts as this */
#define SECTX_HANDLE_LEN		64u	/* hex digits of a login handle (256 bits) */

/* Values of SECTX_TAG_ID_KIND. */
enum {
	SECTX_ID_INFO_USER = 1,	  /* NAME or UID */
	SECTX_ID_INFO_GROUP = 2,  /* NAME or GID */
	SECTX_ID_INFO_GROUPS = 3, /* NAME: the groups it is a member of */
};

/* Values of SECTX_TAG_CTX_STATE. */
enum sectx_ctx_state { SECTX_CTX_CONTINUE = 0, SECTX_CTX_COMPLETE = 1, SECTX_CTX_FAILED = 2 };

/* Reply status.  Part of the wire format: never renumber. */
enum sectx_status {
	SECTX_OK = 0,
	SECTX_E_PROTO = 1,    /* malformed frame */
	SECTX_E_VERSION = 2,  /* protocol version not served */
	SECTX_E_NOOP = 3,     /* unknown operation, or not served on this socket */
	SECTX_E_PERM = 4,     /* caller's uid may not do this */
	SECTX_E_BUSY = 5,     /* resource cap reached, try later */
	SECTX_E_INTERNAL = 6, /* helper-side failure, see its log */
	SECTX_E_INVAL = 7,    /* well-formed request with an invalid value */
	SECTX_E_NOTFOUND = 8,
	SECTX_E_SHUTDOWN = 9, /* helper is stopping */
	SECTX_E_TIMEOUT = 10,
	SECTX_E_UNAVAIL = 11, /* a back end (KDC, directory) cannot be reached */
};

/* Codec errors (negative errno values are used as-is). */
#define SECTX_ERR_SHORT	   (-1001) /* not enough bytes yet / truncated */
#define SECTX_ERR_TOOBIG   (-1002) /* beyond a named maximum */
#define SECTX_ERR_BADSTR   (-1003) /* NUL, invalid UTF-8 or control char */
#define SECTX_ERR_BADFRAME (-1004) /* inconsistent lengths */
#define SECTX_ERR_NOFIELD  (-1005) /* required tag absent */
#define SECTX_ERR_DUPFIELD (-1006) /* a singular tag appears twice */
#define SECTX_ERR_BADLEN   (-1007) /* field length does not fit its type */
#define SECTX_ERR_VERSION  (-1008) /* version outside what we speak */

struct sectx_hdr {
	uint32_t length;
	uint16_t version;
	uint16_t op;
	uint32_t reqid;
};

/* Read cursor over untrusted bytes.  off <= len always holds. */
struct sectx_cur {
	const uint8_t *p;
	size_t len;
	size_t off;
};

/* Writer over a caller-provided buffer.  The first error sticks in err and
 * makes every later put a no-op, so a builder checks once at the end. */
struct sectx_wbuf {
	uint8_t *data;
	size_t cap;
	size_t len;
	int err;
};

/* A parsed, validated frame: header plus a cursor over its fields.  The
 * field area points into the caller's buffer. */
struct sectx_msg {
	struct sectx_hdr hdr;
	const uint8_t *fields;
	size_t fields_len;
};

/* One field as found by a lookup: value points into the frame. */
struct sectx_field {
	uint16_t tag;
	uint32_t len;
	const uint8_t *value;
};

/* --- cursor --------------------------------------------------------------- */

/* Initialise cur over len bytes at p.  Never fails. */
void sectx_cur_init(struct sectx_cur *cur, const void *p, size_t len);
/* Bytes left to read. */
size_t sectx_cur_left(const struct sectx_cur *cur);
/* Fixed-width big-endian getters: 0, or SECTX_ERR_SHORT leaving cur unchanged. */
int sectx_cur_get_u8(struct sectx_cur *cur, uint8_t *v);
int sectx_cur_get_u16(struct sectx_cur *cur, uint16_t *v);
int sectx_cur_get_u32(struct sectx_cur *cur, uint32_t *v);
int sectx_cur_get_u64(struct sectx_cur *cur, uint64_t *v);
/* Point *out at the next n bytes (no copy) and advance: 0 or SECTX_ERR_SHORT. */
int sectx_cur_get_bytes(struct sectx_cur *cur, size_t n, const uint8_t **out);

/* --- validation ----------------------------------------------------------- */

/* Check that p[0..len) is a string a peer may send: at most max bytes, valid
 * UTF-8 (no overlongs, no surrogates), no NUL and no C0 control character
 * or DEL.  Returns 0 or SECTX_ERR_TOOBIG / SECTX_ERR_BADSTR. */
int sectx_validate_string(const uint8_t *p, size_t len, size_t max);

/* --- header --------------------------------------------------------------- */

/* Decode the first SECTX_HDR_LEN bytes of buf into *hdr and check the length
 * bound.  Returns 0; SECTX_ERR_SHORT if len < SECTX_HDR_LEN; SECTX_ERR_TOOBIG
 * if hdr->length > SECTX_FRAME_MAX; SECTX_ERR_BADFRAME if hdr->length <
 * SECTX_HDR_LEN.  The version is NOT checked here: a caller that can answer
 * must read the whole frame and reply E_VERSION (see sectx_version_ok). */
int sectx_hdr_decode(const uint8_t *buf, size_t len, struct sectx_hdr *hdr);

/* True if a helper of this build serves frames of version v. */
int sectx_version_ok(uint16_t v);

/* --- reading a frame ------------------------------------------------------ */

/* Parse a complete frame of exactly len bytes into *msg: the header checks of
 * sectx_hdr_decode, hdr.length == len, and every field header and length
 * inside the frame.  No field value is interpreted.  Returns 0 or a
 * SECTX_ERR_* code.  msg points into buf, which must outlive it. */
int sectx_msg_parse(const uint8_t *buf, size_t len, struct sectx_msg *msg);

/* Find the single field with this tag.  Returns 0 and fills *f;
 * SECTX_ERR_NOFIELD if absent; SECTX_ERR_DUPFIELD if it appears twice (a
 * singular value given twice is an ambiguity we refuse, not resolve). */
int sectx_msg_find(const struct sectx_msg *msg, uint16_t tag, struct sectx_field *f);

/* Iterate over fields with this tag (repeated tags form lists).  *pos starts
 * at 0; returns 0 and fills *f, or SECTX_ERR_NOFIELD at the end. */
int sectx_msg_next(const struct sectx_msg *msg, uint16_t tag, size_t *pos, struct sectx_field *f);

/* Typed getters for singular fields: find + length check + decode. */
int sectx_msg_get_u32(const struct sectx_msg *msg, uint16_t tag, uint32_t *v);
int sectx_msg_get_u64(const struct sectx_msg *msg, uint16_t tag, uint64_t *v);
/* Copy a validated string (see sectx_validate_string, bound max) into out,
 * NUL-terminated; out must hold max + 1 bytes or SECTX_ERR_TOOBIG is
 * returned.  On error out is set to "". */
int sectx_msg_get_string(const struct sectx_msg *msg, uint16_t tag, char *out, size_t outsz,
			 size_t max);
/* Point at the raw bytes of a singular field (no copy). */
int sectx_msg_get_bytes(const struct sectx_msg *msg, uint16_t tag, const uint8_t **p, size_t *len);
/* Decode a field found by find/next. */
int sectx_field_u32(const struct sectx_field *f, uint32_t *v);
int sectx_field_string(const struct sectx_field *f, char *out, size_t outsz, size_t max);

/* --- writing raw values: the cursor's mirror ------------------------------ */

/* Start writing into cap bytes at buf, with no frame header: for fixed
 * layouts read back with the cursor (a state file's header).  Errors stick
 * in w->err as for frames. */
void sectx_wbuf_init(struct sectx_wbuf *w, void *buf, size_t cap);
void sectx_wbuf_put_u32(struct sectx_wbuf *w, uint32_t v); /* big-endian */
void sectx_wbuf_put_u64(struct sectx_wbuf *w, uint64_t v); /* big-endian */
void sectx_wbuf_put_raw(struct sectx_wbuf *w, const void *p, size_t len);

/* --- writing a frame ------------------------------------------------------ */

/* Start a frame in the caller's buffer.  Never fails by itself: too small a
 * buffer shows up as w->err == SECTX_ERR_TOOBIG at sectx_frame_end. */
void sectx_frame_begin(struct sectx_wbuf *w, void *buf, size_t cap, uint16_t version, uint16_t op,
		       uint32_t reqid);
void sectx_put_u32(struct sectx_wbuf *w, uint16_t tag, uint32_t v);
void sectx_put_u64(struct sectx_wbuf *w, uint16_t tag, uint64_t v);
void sectx_put_bytes(struct sectx_wbuf *w, uint16_t tag, const void *p, size_t len);
/* Puts a C string after sectx_validate_string(SECTX_STRING_MAX); an invalid
 * string sets w->err = SECTX_ERR_BADSTR (we never send what we would refuse). */
void sectx_put_string(struct sectx_wbuf *w, uint16_t tag, const char *s);
/* Patch the length into the header.  Returns 0 and the frame length in
 * *len, or the first error met while building. */
int sectx_frame_end(struct sectx_wbuf *w, size_t *len);

/* Build a reply frame with status (and message if not NULL) for the request
 * header req into buf.  Returns 0 and *len, or an error code. */
int sectx_reply_status(void *buf, size_t cap, const struct sectx_hdr *req, uint32_t status,
		       const char *message, size_t *len);

/* --- names ---------------------------------------------------------------- */

/* Short names for logs and the CLI; never NULL. */
const char *sectx_op_name(uint16_t op);
const char *sectx_status_name(uint32_t status);
const char *sectx_strerror(int err); /* SECTX_ERR_* and -errno */

#endif /* SECTX_PROTO_H */
