/*
 * conf.c - libconfuse glue: FILE:LINE errors and common validators.
 * Validators run while the option is parsed, so cfg->line is the option's line.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static FILE *conf_err;

/*
 * Errors of the parse in progress. Validators report and let parsing go on,
 * so one run of --check-config shows every problem; the sections that had
 * one are remembered so that their own checks do not pile derived errors on.
 */
#define CONF_ERR_SECTIONS 64
static unsigned conf_nerrors;
static const cfg_t *conf_err_secs[CONF_ERR_SECTIONS];
static unsigned conf_nerr_secs;

/* libconfuse runs a list's validator after each value and again at the list's
 * end: remember the last value checked so that none is reported twice */
static const cfg_opt_t *conf_last_opt;
static unsigned conf_last_n;

static int seen_before(const cfg_opt_t *opt)
{
	unsigned n = cfg_opt_size((cfg_opt_t *)opt);

	if (!(opt->flags & CFGF_LIST))
		return 0; /* a scalar set twice is checked twice */
	if (opt == conf_last_opt && n == conf_last_n)
		return 1;
	conf_last_opt = opt;
	conf_last_n = n;
	return 0;
}

void conf_set_error_stream(FILE *f)
{
	conf_err = f;
}
FILE *conf_error_stream(void)
{
	return conf_err ? conf_err : stderr;
}

static void conf_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	FILE *f = conf_error_stream();

	conf_nerrors++;
	if (cfg != NULL && conf_nerr_secs < CONF_ERR_SECTIONS)
		conf_err_secs[conf_nerr_secs++] = cfg;
	if (cfg != NULL && cfg->filename != NULL)
		fprintf(f, "%s:%d: ", cfg->filename, cfg->line);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

size_t conf_strip_comments(char *buf, size_t len)
{
	enum { CODE, DQUOTE, SQUOTE, LINE, BLOCK } st = CODE;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';

		switch (st) {
		case CODE:
			if (c == '#' || (c == '/' && next == '/')) {
				st = LINE;
				continue;
			}
			if (c == '/' && next == '*') {
				st = BLOCK;
				i++;
				continue;
			}
			if (c == '"')
				st = DQUOTE;
			else if (c == '\'')
				st = SQUOTE;
			break;
		case DQUOTE:
		case SQUOTE:
			if (c == '\\' && next != '\0') {
				buf[o++] = c;
				c = buf[++i];
			} else if ((st == DQUOTE && c == '"') || (st == SQUOTE && c == '\'')) {
				st = CODE;
			}
			break;
		case LINE:
			if (c != '\n')
				continue;
			st = CODE;
			break;
		case BLOCK:
			if (c == '*' && next == '/') {
				st = CODE;
				i++;
			}
			if (c != '\n')
				continue;
			break;
		}
		buf[o++] = c;
	}
	return o;
}

int conf_parse_file(cfg_t *cfg, const char *path)
{
	FILE *f = fopen(path, "r"), *mem;
	char *buf;
	size_t len;
	int r;

	if (f == NULL) {
		fprintf(conf_error_stream(), "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(CONF_FILE_MAX + 1);
	len = buf ? fread(buf, 1, CONF_FILE_MAX + 1, f) : 0;
	if (buf == NULL || ferror(f) || len > CONF_FILE_MAX) {
		fprintf(conf_error_stream(), "%s: cannot read: %s\n", path,
			len > CONF_FILE_MAX ? "larger than 4 MiB" : strerror(errno));
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/*
	 * libconfuse 3.3 counts a comment's line more than once, so every line
	 * number after a comment would be wrong. Comments are removed here,
	 * newlines kept, and the file is parsed from memory under its own name.
	 */
	len = conf_strip_comments(buf, len);
	mem = fmemopen(buf, len ? len : 1, "r");
	if (mem == NULL) {
		fprintf(conf_error_stream(), "%s: cannot read: %s\n", path, strerror(errno));
		free(buf);
		return -1;
	}
	if (len == 0)
		buf[0] = '\n';
	cfg_set_error_function(cfg, conf_errfunc);
	free(cfg->filename);
	cfg->filename = strdup(path);
	conf_nerrors = 0;
	conf_nerr_secs = 0;
	conf_last_opt = NULL;
	r = cfg_parse_fp(cfg, mem);
	fclose(mem);
	free(buf);
	return r == CFG_SUCCESS && conf_nerrors == 0 ? 0 : -1;
}

int conf_had_errors(const cfg_t *sec)
{
	for (unsigned i = 0; i < conf_nerr_secs; i++)
		if (conf_err_secs[i] == sec)
			return 1;
	return 0;
}

void conf_section_error(cfg_t *sec, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cfg_title(sec) != NULL)
		cfg_error(sec, "%s \"%s\": %s", cfg_name(sec), cfg_title(sec), msg);
	else
		cfg_error(sec, "%s: %s", cfg_name(sec), msg);
}

/*
 * The bounds of every integer key, in one table (Redis' config table): the
 * section it belongs to ("root" for the top level, "*" for any section),
 * its range and its unit. The first matching row wins.
 */
static const struct conf_bound {
	const char *section, *name;
	long lo, hi;
	const char *unit;
} conf_bounds[] = {
    {"*", "interval", 1, CONF_INTERVAL_MAX, " s"},
    {"*", "timeout", 1, 600000, " ms"},
    {"root", "batch_ms", 10, 60000, " ms"},
    {"root", "queue_batches", 1, 1000000, ""},
    {"root", "max_frame", 4096, 16 * 1024 * 1024, " bytes"},
    {"root", "step", 1, 3600, " s"},
    {"root", "store_queue", 1, 1000000, ""},
    {"root", "quarantine_retry", 1, 86400, " s"},
    {"root", "max_series_per_site", 0, 100000000, " series (0: no limit)"},
    {"root", "max_new_files_per_minute", 0, 1000000, " files (0: no limit)"},
    {"root", "max_sessions", 1, 1000000, ""},
    {"root", "max_clock_skew", 1, 3600, " s"},
    {"watch", "heartbeat", 1, 3600, " s"},
    {"watch", "agent_down", 0, 7 * 86400, " s"},
    {"watch", "no_data", 0, 1000, " intervals"},
    {"watch", "unreachable", 0, 1000, " runs"},
};

int conf_validate_int(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);

	if (seen_before(opt))
		return 0;
	for (size_t i = 0; i < sizeof(conf_bounds) / sizeof(conf_bounds[0]); i++) {
		const struct conf_bound *b = &conf_bounds[i];

		if (strcmp(b->name, opt->name) != 0 ||
		    (strcmp(b->section, "*") != 0 && strcmp(b->section, cfg->name) != 0))
			continue;
		if (v < b->lo || v > b->hi) {
			cfg_error(cfg, "%s must be %ld..%ld%s, got %ld", opt->name, b->lo, b->hi,
				  b->unit, v);
			return 0; /* reported: go on */
		}
		return 0;
	}
	return 0;
}

void conf_bound_ints(cfg_t *cfg, const char *const *paths)
{
	for (; *paths != NULL; paths++)
		cfg_set_validate_func(cfg, *paths, conf_validate_int);
}

int conf_validate_name(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);

	if (seen_before(opt))
		return 0;
	if (s == NULL || *s == '\0') {
		cfg_error(cfg, "%s must not be empty", opt->name);
		return 0; /* reported: go on */
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			cfg_error(cfg, "%s must not contain control characters", opt->name);
			return 0; /* reported: go on */
		}
	if (strlen(s) > 128) {
		cfg_error(cfg, "%s must be at most 128 characters", opt->name);
		return 0; /* reported: go on */
	}
	return 0;
}

int conf_split_hostport(const char *s, char *host, size_t hostsz, unsigned *port, unsigned defport,
			const char **why)
{
	const char *colon, *h = s, *hend;
	char *end;
	unsigned long p = defport;

	if (s == NULL || *s == '\0') {
		*why = "empty address";
		return -1;
	}
	if (*s == '[') {
		hend = strchr(s, ']');
		if (hend == NULL) {
			*why = "missing ']' after IPv6 address";
			return -1;
		}
		h = s + 1;
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] != '\0' && colon == NULL) {
			*why = "expected ':port' after ']'";
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon) {
			*why = "IPv6 addresses must be written as [addr]:port";
			return -1;
		}
		hend = colon ? colon : s + strlen(s);
	}
	if (hend == h) {
		*why = "missing host";
		return -1;
	}
	if ((size_t)(hend - h) >= hostsz) {
		*why = "host name too long";
		return -1;
	}
	if (colon != NULL) {
		errno = 0;
		p = strtoul(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0) {
			*why = "port must be a number";
			return -1;
		}
		if (p < 1 || p > 65535) {
			*why = "port must be 1..65535";
			return -1;
		}
	} else if (defport == 0) {
		*why = "missing ':port'";
		return -1;
	}
	memcpy(host, h, hend - h);
	host[hend - h] = '\0';
	*port = (unsigned)p;
	return 0;
}

static int validate_address(cfg_t *cfg, cfg_opt_t *opt, unsigned defport)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	char host[256];
	unsigned port;
	const char *why;

	if (seen_before(opt))
		return 0;
	if (conf_split_hostport(s, host, sizeof(host), &port, defport, &why) < 0) {
		cfg_error(cfg, "%s \"%s\": %s", opt->name, s ? s : "", why);
		return 0; /* reported: go on */
	}
	return 0;
}

int conf_validate_hostport(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_address(cfg, opt, 0);
}

/* The port may be left out (the check kind supplies its default). */
int conf_validate_address(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_address(cfg, opt, 1);
}

int conf_check_title(cfg_t *sec, size_t max)
{
	const char *name = cfg_title(sec);

	if (name == NULL || *name == '\0') {
		conf_section_error(sec, "name must not be empty");
		return -1;
	}
	if (strlen(name) > max) {
		conf_section_error(sec, "name must be at most %zu characters", max);
		return -1;
	}
	return 0;
}

int conf_require(cfg_t *sec, const char *const *keys)
{
	int bad = 0;

	for (; *keys; keys++)
		if (cfg_size(sec, *keys) == 0) {
			conf_section_error(sec, "missing required key '%s'", *keys);
			bad = 1;
		}
	return bad ? -1 : 0;
}

long long conf_parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		return v;
	case 'K':
		v <<= 10;
		break;
	case 'M':
		v <<= 20;
		break;
	case 'G':
		v <<= 30;
		break;
	default:
		return -1;
	}
	return end[1] == '\0' || (toupper((unsigned char)end[1]) == 'B' && end[2] == '\0') ? v : -1;
}
