/*
 * config.c - reads sectx.conf into struct sectx_config, driven by the schema.
 *
 * A small INI parser: [section] headers, "key = value" lines, full-line '#'
 * and ';' comments, no continuations, no inline comments.  Every key and its
 * type come from config_schema.c; nothing here knows a key by name.  The text
 * is untrusted until checked: sizes are bounded, a NUL byte or invalid UTF-8
 * is an error, and any file text quoted in a message is escaped.  This file
 * must never log, exit or stop at the first problem: it reports them all,
 * each with file and line, and hands back a config only if there were none.
 */
#include "config.h"
#include "config_int.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the error list --------------------------------------------------------- */

struct parser {
	struct sectx_config_errors *errs; /* child of the caller's tmp_ctx */
	const char *file;		  /* child of errs */
	bool stopped;			  /* hit SECTX_CONFIG_MAX_ERRORS */

	struct sectx_config *cfg;
	unsigned *key_line; /* per schema row: line it was set on, 0 = unset */
	struct svc_state {
		unsigned line;	    /* of its header */
		unsigned *key_line; /* as above, for rows of section "service" */
	} * svc;

	const struct sectx_config_section *sect; /* NULL: before any header */
	bool ignore;				 /* in a section already reported as bad */
	size_t service;				 /* index into cfg->services when sect->named */
};

static int add_error(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append one problem to p->errs; after SECTX_CONFIG_MAX_ERRORS, append a last
 * one saying so and set p->stopped.  0 or -ENOMEM. */
static int add_error(struct parser *p, unsigned line, const char *fmt, ...)
{
	struct sectx_config_errors *errs = p->errs;
	struct sectx_config_error *items;
	char *msg;
	va_list ap;

	if (p->stopped) {
		return 0;
	}
	items = talloc_realloc(errs, errs->items, struct sectx_config_error, errs->count + 1);
	if (items == NULL) {
		return -ENOMEM;
	}
	errs->items = items;
	if (errs->count == SECTX_CONFIG_MAX_ERRORS) {
		msg = talloc_asprintf(items, "too many errors; stopped after %u",
				      SECTX_CONFIG_MAX_ERRORS);
		p->stopped = true;
	} else {
		va_start(ap, fmt);
		msg = talloc_vasprintf(items, fmt, ap);
		va_end(ap);
	}
	if (msg == NULL) {
		return -ENOMEM;
	}
	items[errs->count].file = p->file;
	items[errs->count].line = line;
	items[errs->count].message = msg;
	errs->count++;
	return 0;
}

/* --- lines ------------------------------------------------------------------ */

static const char *section_label(struct parser *p, char *buf, size_t bufsz)
{
	if (p->sect->named) {
		snprintf(buf, bufsz, "%s/%s", p->sect->name, p->cfg->services[p->service].name);
	} else {
		snprintf(buf, bufsz, "%s", p->sect->name);
	}
	return buf;
}

static int add_service(struct parser *p, unsigned lineno, const struct sectx_config_section *sect,
		       const char *name)
{
	struct sectx_config *cfg = p->cfg;
	struct sectx_config_service *services;
	struct svc_state *svc;
	size_t i;

	for (i = 0; i < cfg->n_services; i++) {
		if (strcmp(cfg->services[i].name, name) == 0) {
			return add_error(p, lineno, "duplicate section [%s/%s] (first on line %u)",
					 sect->name, name, p->svc[i].line);
		}
	}
	if (cfg->n_services == SECTX_CONFIG_MAX_SERVICES) {
		return add_error(p, lineno, "too many [%s/...] sections (at most %u)", sect->name,
				 SECTX_CONFIG_MAX_SERVICES);
	}
	services =
	    talloc_realloc(cfg, cfg->services, struct sectx_config_service, cfg->n_services + 1);
	if (services == NULL) {
		return -ENOMEM;
	}
	cfg->services = services;
	svc = talloc_realloc(p->errs, p->svc, struct svc_state, cfg->n_services + 1);
	if (svc == NULL) {
		return -ENOMEM;
	}
	p->svc = svc;
	memset(&services[cfg->n_services], 0, sizeof(services[0]));
	services[cfg->n_services].name = talloc_strdup(services, name);
	svc[cfg->n_services].line = lineno;
	svc[cfg->n_services].key_line = talloc_zero_array(svc, unsigned, sectx_config_n_keys);
	if (services[cfg->n_services].name == NULL || svc[cfg->n_services].key_line == NULL) {
		return -ENOMEM;
	}
	p->service = cfg->n_services++;
	p->sect = sect;
	p->ignore = false;
	return 0;
}

/* "[...]" with line the trimmed text: switch section, or report why not. */
static int parse_header(struct parser *p, unsigned lineno, char *line)
{
	char sbuf[SHOW_BUF];
	char hint[SHOW_BUF + 128];
	size_t len = strlen(line);
	const struct sectx_config_section *best = NULL;
	size_t best_d = SIZE_MAX;
	const char *slash;
	char *name;
	size_t i;

	p->ignore = true; /* until a good header: keys below are not checked */
	if (len < 2 || line[len - 1] != ']') {
		return add_error(p, lineno, "malformed section header '%s' (expected [name])",
				 cfg_show(line, sbuf, sizeof(sbuf)));
	}
	line[len - 1] = '\0';
	name = cfg_trim(line + 1);
	slash = strchr(name, '/');

	for (i = 0; i < sectx_config_n_sections; i++) {
		const struct sectx_config_section *s = &sectx_config_sections[i];
		size_t nlen = strlen(s->name);

		if (!s->named && strcmp(name, s->name) == 0) {
			p->sect = s;
			p->ignore = false;
			return 0;
		}
		if (s->named && strncmp(name, s->name, nlen) == 0) {
			if (name[nlen] == '/' && cfg_service_name_valid(name + nlen + 1)) {
				return add_service(p, lineno, s, name + nlen + 1);
			}
			return add_error(p, lineno,
					 "unknown section [%s] (section [%s/...] needs a name of "
					 "1-%u characters [A-Za-z0-9._-])",
					 cfg_show(name, sbuf, sizeof(sbuf)), s->name,
					 SECTX_CONFIG_SERVICE_NAME_MAX);
		}
	}

	/* did you mean: a section within SUGGEST_DISTANCE, or "servce/x" */
	for (i = 0; i < sectx_config_n_sections; i++) {
		const struct sectx_config_section *s = &sectx_config_sections[i];
		char prefix[SUGGEST_NAME_MAX + 1];
		size_t d = SIZE_MAX;

		if (!s->named) {
			d = cfg_distance(name, s->name);
		} else if (slash != NULL && (size_t)(slash - name) <= SUGGEST_NAME_MAX &&
			   cfg_service_name_valid(slash + 1)) {
			memcpy(prefix, name, (size_t)(slash - name));
			prefix[slash - name] = '\0';
			d = cfg_distance(prefix, s->name);
		}
		if (d <= SUGGEST_DISTANCE && d < best_d) {
			best_d = d;
			best = s;
		}
	}
	hint[0] = '\0';
	if (best != NULL) {
		snprintf(hint, sizeof(hint), " (did you mean [%s%s%s]?)", best->name,
			 best->named ? "/" : "", best->named ? slash + 1 : "");
	}
	return add_error(p, lineno, "unknown section [%s]%s", cfg_show(name, sbuf, sizeof(sbuf)),
			 hint);
}

/* The schema row of key in the current section, or NULL. */
static const struct sectx_config_key *find_key(const char *section, const char *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < sectx_config_n_keys; i++) {
		if (strcmp(sectx_config_keys[i].section, section) == 0 &&
		    strcmp(sectx_config_keys[i].name, key) == 0) {
			*idx = i;
			return &sectx_config_keys[i];
		}
	}
	return NULL;
}

static int unknown_key(struct parser *p, unsigned lineno, const char *key)
{
	char sbuf[SHOW_BUF];
	char lbuf[SECTX_CONFIG_SERVICE_NAME_MAX + 64];
	char hint[160];
	const struct sectx_config_key *best = NULL;
	size_t best_d = SIZE_MAX;
	size_t i;

	for (i = 0; i < sectx_config_n_keys; i++) {
		const struct sectx_config_key *k = &sectx_config_keys[i];
		size_t d;

		if (strcmp(k->section, p->sect->name) != 0) {
			continue;
		}
		d = cfg_distance(key, k->name);
		if (d <= SUGGEST_DISTANCE && d < best_d) {
			best_d = d;
			best = k;
		}
	}
	hint[0] = '\0';
	if (best != NULL) {
		snprintf(hint, sizeof(hint), " (did you mean '%s'?)", best->name);
	} else {
		for (i = 0; i < sectx_config_n_keys; i++) {
			const struct sectx_config_key *k = &sectx_config_keys[i];

			if (strcmp(k->name, key) == 0 && strcmp(k->section, p->sect->name) != 0) {
				bool named = strcmp(k->section, "service") == 0;

				snprintf(hint, sizeof(hint), " (it belongs in [%s%s])", k->section,
					 named ? "/NAME" : "");
				break;
			}
		}
	}
	return add_error(p, lineno, "unknown key '%s' in [%s]%s", cfg_show(key, sbuf, sizeof(sbuf)),
			 section_label(p, lbuf, sizeof(lbuf)), hint);
}

/* "key = value" with line the trimmed text and eq its '='. */
static int parse_assignment(struct parser *p, unsigned lineno, char *line, char *eq)
{
	const struct sectx_config_key *k;
	char reason[SECTX_CONFIG_REASON_MAX];
	char lbuf[SECTX_CONFIG_SERVICE_NAME_MAX + 64];
	unsigned *key_line;
	void *base;
	char *key, *value;
	size_t idx = 0;
	int ret;

	if (p->ignore) {
		return 0; /* the header was reported; its keys would only add noise */
	}
	if (p->sect == NULL) {
		return add_error(p, lineno, "key outside any section");
	}
	*eq = '\0';
	key = cfg_trim(line);
	value = cfg_trim(eq + 1);
	if (key[0] == '\0') {
		return add_error(p, lineno, "line without a key before '='");
	}
	k = find_key(p->sect->name, key, &idx);
	if (k == NULL) {
		return unknown_key(p, lineno, key);
	}
	key_line = p->sect->named ? p->svc[p->service].key_line : p->key_line;
	if (key_line[idx] != 0) {
		return add_error(p, lineno, "duplicate key '%s' in [%s] (first set on line %u)",
				 k->name, section_label(p, lbuf, sizeof(lbuf)), key_line[idx]);
	}
	key_line[idx] = lineno;
	base = p->sect->named ? (void *)&p->cfg->services[p->service] : (void *)p->cfg;
	ret = sectx_config_value_parse(p->cfg, k, value, base, reason, sizeof(reason));
	if (ret == -EINVAL) {
		return add_error(p, lineno, "invalid value for %s: %s", k->name, reason);
	}
	return ret;
}

static int parse_line(struct parser *p, unsigned lineno, const char *text, size_t len)
{
	char buf[SECTX_CONFIG_LINE_MAX + 1];
	char *line;
	char *eq;

	if (memchr(text, '\0', len) != NULL) {
		return add_error(p, lineno, "line contains a NUL byte");
	}
	if (len > SECTX_CONFIG_LINE_MAX) {
		return add_error(p, lineno, "line is longer than %u bytes", SECTX_CONFIG_LINE_MAX);
	}
	if (!cfg_utf8_valid((const unsigned char *)text, len)) {
		return add_error(p, lineno, "line is not valid UTF-8");
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	line = cfg_trim(buf);
	if (line[0] == '\0' || line[0] == '#' || line[0] == ';') {
		return 0;
	}
	if (line[0] == '[') {
		return parse_header(p, lineno, line);
	}
	eq = strchr(line, '=');
	if (eq == NULL) {
		return add_error(p, lineno, "line without '='");
	}
	return parse_assignment(p, lineno, line, eq);
}

/* Every key not set in the text gets its default. */
static int apply_defaults(struct parser *p)
{
	char reason[SECTX_CONFIG_REASON_MAX];
	size_t i, s;
	int ret;

	for (i = 0; i < sectx_config_n_keys; i++) {
		const struct sectx_config_key *k = &sectx_config_keys[i];
		bool named = strcmp(k->section, "service") == 0;

		for (s = 0; s < (named ? p->cfg->n_services : 1); s++) {
			unsigned *key_line = named ? p->svc[s].key_line : p->key_line;
			void *base = named ? (void *)&p->cfg->services[s] : (void *)p->cfg;

			if (key_line[i] != 0) {
				continue;
			}
			ret = sectx_config_value_parse(p->cfg, k, k->def, base, reason,
						       sizeof(reason));
			if (ret == -EINVAL) {
				ret = add_error(p, 0, "internal error: default of %s in [%s]: %s",
						k->name, k->section, reason);
			}
			if (ret != 0) {
				return ret;
			}
		}
	}
	return 0;
}

/* Parse into p->cfg, collecting problems in p->errs. */
static int parse_text(struct parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	unsigned lineno = 0;
	int ret = 0;

	if (len > SECTX_CONFIG_FILE_MAX) {
		return add_error(p, 0, "file is larger than %u bytes", SECTX_CONFIG_FILE_MAX);
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		pos = 3; /* a UTF-8 byte order mark some editors write */
	}
	while (pos < len && !p->stopped) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += llen + (nl != NULL ? 1 : 0);
		lineno++;
		if (llen > 0 && line[llen - 1] == '\r') {
			llen--;
		}
		ret = parse_line(p, lineno, line, llen);
		if (ret != 0) {
			return ret;
		}
	}
	if (p->errs->count == 0) {
		ret = apply_defaults(p);
	}
	return ret;
}

/* Set up a parser whose allocations all hang off tmp_ctx. */
static int parser_init(TALLOC_CTX *tmp_ctx, const char *name, struct parser *p)
{
	memset(p, 0, sizeof(*p));
	p->errs = talloc_zero(tmp_ctx, struct sectx_config_errors);
	p->cfg = talloc_zero(tmp_ctx, struct sectx_config);
	if (p->errs == NULL || p->cfg == NULL) {
		return -ENOMEM;
	}
	p->file = talloc_strdup(p->errs, name);
	p->cfg->path = talloc_strdup(p->cfg, name);
	p->key_line = talloc_zero_array(p->errs, unsigned, sectx_config_n_keys);
	p->cfg->services = talloc_array(p->cfg, struct sectx_config_service, 0);
	if (p->file == NULL || p->cfg->path == NULL || p->key_line == NULL ||
	    p->cfg->services == NULL) {
		return -ENOMEM;
	}
	return 0;
}

/* Hand the outcome of p to the caller: the config if there was no problem,
 * else the error list.  Returns 0 or -EINVAL. */
static int parser_finish(TALLOC_CTX *mem_ctx, struct parser *p, struct sectx_config **cfg_out,
			 struct sectx_config_errors **errs_out)
{
	struct sectx_config_errors *errs = p->errs;

	if (errs->count > 0) {
		/* the bookkeeping hung off errs is not part of the answer */
		talloc_free(p->key_line);
		talloc_free(p->svc);
		p->key_line = NULL;
		p->svc = NULL;
		if (errs_out != NULL) {
			*errs_out = talloc_steal(mem_ctx, errs);
		}
		return -EINVAL;
	}
	*cfg_out = talloc_steal(mem_ctx, p->cfg);
	return 0;
}

int sectx_config_parse_buffer(TALLOC_CTX *mem_ctx, const char *name, const char *text, size_t len,
			      struct sectx_config **cfg_out, struct sectx_config_errors **errs_out)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct parser p;
	int ret;

	*cfg_out = NULL;
	if (errs_out != NULL) {
		*errs_out = NULL;
	}
	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	if (text == NULL && len != 0) {
		ret = -EINVAL;
		goto done;
	}
	ret = parser_init(tmp_ctx, name != NULL ? name : "<buffer>", &p);
	if (ret != 0) {
		goto done;
	}
	ret = parse_text(&p, text, len);
	if (ret != 0) {
		goto done;
	}
	ret = parser_finish(mem_ctx, &p, cfg_out, errs_out);
done:
	talloc_free(tmp_ctx);
	return ret;
}

int sectx_config_defaults(TALLOC_CTX *mem_ctx, struct sectx_config **cfg_out)
{
	struct sectx_config_errors *errs = NULL;
	int ret;

	ret = sectx_config_parse_buffer(mem_ctx, "<defaults>", "", 0, cfg_out, &errs);
	if (ret == -EINVAL) {
		talloc_free(errs); /* a default that does not parse: a schema bug */
	}
	return ret;
}

/* read() all of fd, at most max bytes; -EFBIG if there is more. */
static int read_all(TALLOC_CTX *mem_ctx, int fd, size_t max, char **data_out, size_t *len_out)
{
	char *buf = talloc_array(mem_ctx, char, max + 1);
	size_t len = 0;

	if (buf == NULL) {
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			int err = errno;

			talloc_free(buf);
			return -err;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
		if (len > max) {
			talloc_free(buf);
			return -EFBIG;
		}
	}
	*data_out = buf;
	*len_out = len;
	return 0;
}

int sectx_config_load_file(TALLOC_CTX *mem_ctx, const char *path, struct sectx_config **cfg_out,
			   struct sectx_config_errors **errs_out)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct parser p;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	uid_t euid = geteuid();
	int fd = -1;
	int ret;

	*cfg_out = NULL;
	if (errs_out != NULL) {
		*errs_out = NULL;
	}
	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	ret = parser_init(tmp_ctx, path, &p);
	if (ret != 0) {
		goto done;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = add_error(&p, 0, "cannot open: %s", strerror(errno));
		goto finish;
	}
	if (fstat(fd, &st) != 0) {
		ret = add_error(&p, 0, "cannot stat: %s", strerror(errno));
		goto finish;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = add_error(&p, 0, "not a regular file");
		goto finish;
	}
	if (st.st_size > (off_t)SECTX_CONFIG_FILE_MAX) {
		ret = add_error(&p, 0, "file is larger than %u bytes", SECTX_CONFIG_FILE_MAX);
		if (ret != 0) {
			goto done;
		}
	}
	if (st.st_uid != 0 && st.st_uid != euid) {
		ret = add_error(&p, 0, "owned by uid %lu (must be root or uid %lu)",
				(unsigned long)st.st_uid, (unsigned long)euid);
		if (ret != 0) {
			goto done;
		}
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		ret = add_error(&p, 0,
				"writable by group or other (mode %04o; it says who may do what, "
				"so run chmod go-w)",
				(unsigned)(st.st_mode & 07777));
		if (ret != 0) {
			goto done;
		}
	}
	if (p.errs->count > 0) {
		goto finish;
	}
	ret = read_all(tmp_ctx, fd, SECTX_CONFIG_FILE_MAX, &text, &len);
	if (ret == -EFBIG) {
		ret = add_error(&p, 0, "file is larger than %u bytes", SECTX_CONFIG_FILE_MAX);
		goto finish;
	}
	if (ret != 0 && ret != -ENOMEM) {
		ret = add_error(&p, 0, "cannot read: %s", strerror(-ret));
		goto finish;
	}
	if (ret != 0) {
		goto done;
	}
	ret = parse_text(&p, text, len);
finish:
	if (ret == 0) {
		ret = parser_finish(mem_ctx, &p, cfg_out, errs_out);
	}
done:
	if (fd >= 0) {
		close(fd);
	}
	talloc_free(tmp_ctx);
	return ret;
}

void sectx_config_print_errors(FILE *out, const struct sectx_config_errors *errs)
{
	size_t i;

	if (errs == NULL) {
		return;
	}
	for (i = 0; i < errs->count; i++) {
		const struct sectx_config_error *e = &errs->items[i];

		if (e->line == 0) {
			fprintf(out, "%s: %s\n", e->file, e->message);
		} else {
			fprintf(out, "%s:%u: %s\n", e->file, e->line, e->message);
		}
	}
}

/* --- documentation ---------------------------------------------------------- */

/* Contract in config.h. */
const struct sectx_config_key *sectx_config_section_key(const char *section, size_t *pos)
{
	while (*pos < sectx_config_n_keys) {
		const struct sectx_config_key *k = &sectx_config_keys[(*pos)++];

		if (strcmp(k->section, section) == 0) {
			return k;
		}
	}
	return NULL;
}

/* Contract in config.h. */
const char *sectx_config_type_text(const struct sectx_config_key *k, char *out, size_t outsz)
{
	char lo[32], hi[32];
	char words[512];

	switch (k->type) {
	case SECTX_CFG_STRING:
		snprintf(out, outsz, "string");
		break;
	case SECTX_CFG_PATH:
		snprintf(out, outsz, "absolute path");
		break;
	case SECTX_CFG_BOOL:
		snprintf(out, outsz, "boolean (true, false, yes, no, on, off, 1, 0)");
		break;
	case SECTX_CFG_UINT:
		snprintf(out, outsz, "whole number %s%" PRIu64 "..%" PRIu64,
			 k->zero_ok ? "0 or " : "", k->min, k->max);
		break;
	case SECTX_CFG_DURATION:
		snprintf(out, outsz,
			 "duration %s..%s (units ms, s, m, h, d; a bare number is seconds)",
			 cfg_format_duration(k->min, lo, sizeof(lo)),
			 cfg_format_duration(k->max, hi, sizeof(hi)));
		break;
	case SECTX_CFG_LOGLEVEL:
		snprintf(out, outsz, "log level (error, warning, info, debug or trace; or 0-4)");
		break;
	case SECTX_CFG_ENUM:
		cfg_format_words(k->words, words, sizeof(words));
		snprintf(out, outsz, "one of %s", words);
		break;
	case SECTX_CFG_LIST:
		snprintf(out, outsz, "list of words separated by commas");
		break;
	default:
		snprintf(out, outsz, "?");
		break;
	}
	return out;
}

void sectx_config_print_schema(FILE *out)
{
	const struct sectx_config_key *k;
	size_t s, i;

	fprintf(out, "# Keys of sectx.conf, by section (generated from the schema).\n");
	for (s = 0; s < sectx_config_n_sections; s++) {
		const struct sectx_config_section *sect = &sectx_config_sections[s];
		bool any = false;

		fprintf(out, "\n[%s%s]\n    %s\n", sect->name, sect->named ? "/NAME" : "",
			sect->doc);
		if (sect->named) {
			fprintf(out, "    NAME: 1-%u characters [A-Za-z0-9._-], each NAME once\n",
				SECTX_CONFIG_SERVICE_NAME_MAX);
		}
		i = 0;
		while ((k = sectx_config_section_key(sect->name, &i)) != NULL) {
			char type[640];

			any = true;
			fprintf(out, "%s\n    type: %s", k->name,
				sectx_config_type_text(k, type, sizeof(type)));
			fprintf(out, "\n    default: %s\n    %s\n",
				k->def[0] != '\0' ? k->def : "(empty)", k->doc);
		}
		if (!any) {
			fprintf(out, "    (no keys yet)\n");
		}
	}
}
