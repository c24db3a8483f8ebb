/*
 * conf.c - libconfuse glue: FILE:LINE errors and common validators.
 * Validators run while the option is parsed, so cfg->line is the option's line.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/util.h>

#include "xmalloc.h"

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

/*
 * An index from keys (strings or any bytes) to pointers: open addressing,
 * doubled at half full, so n insertions and lookups cost O(n) together.
 * It keeps duplicate checks over thousands of sections linear.
 */
struct conf_index {
	struct conf_slot {
		void *key;
		size_t len;
		void *val;
	} * slots;
	size_t cap, n;
};

static uint64_t index_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

struct conf_index *conf_index_new(void)
{
	struct conf_index *ix = xcalloc(1, sizeof(*ix));

	ix->cap = 64;
	ix->slots = xcalloc(ix->cap, sizeof(*ix->slots));
	return ix;
}

void conf_index_free(struct conf_index *ix)
{
	if (ix == NULL)
		return;
	for (size_t i = 0; i < ix->cap; i++)
		free(ix->slots[i].key);
	free(ix->slots);
	free(ix);
}

static struct conf_slot *index_slot(struct conf_slot *slots, size_t cap, const void *key,
				    size_t len)
{
	size_t i = index_hash(key, len) & (cap - 1);

	while (slots[i].key != NULL && (slots[i].len != len || memcmp(slots[i].key, key, len) != 0))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

void *conf_index_get(const struct conf_index *ix, const void *key, size_t len)
{
	return index_slot(ix->slots, ix->cap, key, len)->val;
}

void conf_index_put(struct conf_index *ix, const void *key, size_t len, void *val)
{
	struct conf_slot *sl;

	if (2 * (ix->n + 1) > ix->cap) {
		size_t cap = ix->cap * 2;
		struct conf_slot *slots = xcalloc(cap, sizeof(*slots));

		for (size_t i = 0; i < ix->cap; i++)
			if (ix->slots[i].key != NULL)
				*index_slot(slots, cap, ix->slots[i].key, ix->slots[i].len) =
				    ix->slots[i];
		free(ix->slots);
		ix->slots = slots;
		ix->cap = cap;
	}
	sl = index_slot(ix->slots, ix->cap, key, len);
	if (sl->key == NULL) {
		sl->key = xmalloc(len ? len : 1);
		memcpy(sl->key, key, len);
		sl->len = len;
		ix->n++;
	}
	sl->val = val;
}

void *conf_index_gets(const struct conf_index *ix, const char *key)
{
	return conf_index_get(ix, key, strlen(key));
}

void conf_index_puts(struct conf_index *ix, const char *key, void *val)
{
	conf_index_put(ix, key, strlen(key), val);
}

/* A character libconfuse takes as part of an unquoted value (its lexer.l). */
static int word_char(char c)
{
	return c != '\0' && strchr(" \t\r\n#\"'={}()+,*", c) == NULL;
}

#define CONF_ENV_MSG                                                                               \
	"'${' would be replaced with an environment variable of the daemon when the file is "      \
	"read: write $NAME, or \\${ for a literal '${'"

/*
 * What libconfuse's lexer would take from a value without a word, outside
 * quotes at buf[i]: a '*' or a '+' not in '+=' it drops, ${NAME} it
 * replaces with the daemon's environment, and a number with a leading zero
 * it reads as octal (`interval = 010` is 8 s). Prints FILE:LINE and
 * returns 1 for such a character.
 */
static int dropped(const char *buf, size_t len, size_t i, char prev, const char *path, int line,
		   FILE *ef)
{
	char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';
	size_t j;

	if (c == '*' && next == '/') {
		fprintf(ef, "%s:%d: '*/' closes no comment\n", path, line);
		return 1;
	}
	if (c == '*' || (c == '+' && next != '=')) {
		fprintf(ef,
			"%s:%d: '%c' outside quotes%s is dropped when the file is read: put the "
			"value in quotes\n",
			path, line, c, c == '+' ? " (other than '+=')" : "");
		return 1;
	}
	if (c == '$' && next == '{') {
		fprintf(ef, "%s:%d: %s\n", path, line, CONF_ENV_MSG);
		return 1;
	}
	if (c == '0' && !word_char(prev) && next >= '0' && next <= '9') {
		for (j = i + 1; j < len && buf[j] >= '0' && buf[j] <= '9'; j++)
			;
		if (j < len && word_char(buf[j]))
			return 0; /* a word such as 0123abc: a string, never a number */
		fprintf(ef,
			"%s:%d: '%.*s' would be read as an octal number: write it without the "
			"leading zero, or in quotes\n",
			path, line, (int)(j - i), buf + i);
		return 1;
	}
	return 0;
}

/*
 * Removes '#', '//' and C-style comments outside quoted strings, keeping
 * every newline so that line numbers stay true, and reports (as FILE:LINE)
 * what libconfuse would otherwise take silently: a comment or a string
 * never closed (the rest of the file would vanish), and '#', '//' or a
 * block comment glued to an unquoted value, where libconfuse ends the value
 * ("http://x" would become "http:"). A comment therefore starts at the start
 * of a line, after white space, after one of = { } ( ) , or after a quote.
 * Works in place; returns the new length, or -1 after printing every error.
 */
static long strip_comments(char *buf, size_t len, const char *path)
{
	enum { CODE, DQUOTE, SQUOTE, LINE, BLOCK } st = CODE;
	FILE *ef = conf_error_stream();
	size_t o = 0;
	int line = 1, opened = 0, bad = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';
		char prev = i > 0 ? buf[i - 1] : '\n';

		switch (st) {
		case CODE:
			if (c == '#' || (c == '/' && (next == '/' || next == '*'))) {
				if (word_char(prev) && !(prev == '/' && c == '/')) {
					fprintf(
					    ef,
					    "%s:%d: '%s' right after an unquoted value: put "
					    "the value in quotes, or a space before a comment\n",
					    path, line,
					    c == '#'      ? "#"
					    : next == '/' ? "//"
							  : "/*");
					bad = 1;
				}
				opened = line;
				st = c == '/' && next == '*' ? BLOCK : LINE;
				if (st == BLOCK)
					i++;
				continue;
			}
			if (c == '"' || c == '\'') {
				opened = line;
				st = c == '"' ? DQUOTE : SQUOTE;
			}
			if (dropped(buf, len, i, prev, path, line, ef))
				bad = 1;
			break;
		case DQUOTE:
		case SQUOTE:
			if (c == '\\' && next != '\0') {
				buf[o++] = c;
				c = buf[++i];
			} else if (st == DQUOTE && c == '$' && next == '{') {
				fprintf(ef, "%s:%d: %s\n", path, line, CONF_ENV_MSG);
				bad = 1;
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
		if (c == '\n')
			line++;
		buf[o++] = c;
	}
	if (st == BLOCK)
		fprintf(ef, "%s:%d: comment opened here is never closed\n", path, opened);
	else if (st == DQUOTE || st == SQUOTE)
		fprintf(ef, "%s:%d: quoted string opened here is never closed\n", path, opened);
	return bad || st == BLOCK || st == DQUOTE || st == SQUOTE ? -1 : (long)o;
}

/*
 * Every validator of the schema goes through one of these two, installed by
 * conf_parse_file in place of the schema's own (kept in conf_wrapped, found
 * by section and key name: libconfuse copies the options of each section).
 *
 * A scalar key set twice in one section would silently keep the second
 * value: scalar_once reports it, with the line of the first.
 *
 * libconfuse looks for a section's title among all the sections of that
 * name parsed so far, so n sections cost O(n^2) string compares (32,000
 * took seconds). section_done moves each top-level titled section out of
 * libconfuse's array once it is parsed and validated, so that search never
 * sees more than one; duplicates are found here through an index, and the
 * sections are put back, in order, when the parse ends.
 */
struct conf_wrapped {
	const char *section, *name;
	cfg_validate_callback_t orig;
};
struct conf_parked {
	cfg_opt_t *opt;
	cfg_value_t **values;
	unsigned n, cap;
	struct conf_index *titles;
};
static struct conf_state {
	struct conf_wrapped *wrapped;
	size_t nwrapped;
	struct conf_parked *parked;
	size_t nparked;
	struct conf_index *first_line; /* cfg_opt_t * of a scalar set -> its line */
	cfg_t *root;
} conf_p;

static cfg_validate_callback_t wrapped_orig(const cfg_t *cfg, const cfg_opt_t *opt)
{
	for (size_t i = 0; i < conf_p.nwrapped; i++)
		if (strcmp(conf_p.wrapped[i].section, cfg->name) == 0 &&
		    strcmp(conf_p.wrapped[i].name, opt->name) == 0)
			return conf_p.wrapped[i].orig;
	return NULL;
}

static int scalar_once(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_validate_callback_t orig = wrapped_orig(cfg, opt);
	intptr_t first = (intptr_t)conf_index_get(conf_p.first_line, &opt, sizeof(opt));

	if (first != 0) {
		if (cfg_title(cfg) != NULL)
			cfg_error(cfg, "'%s' set twice in %s \"%s\" (first on line %d)", opt->name,
				  cfg_name(cfg), cfg_title(cfg), (int)first);
		else if (cfg != conf_p.root)
			cfg_error(cfg, "'%s' set twice in %s (first on line %d)", opt->name,
				  cfg_name(cfg), (int)first);
		else
			cfg_error(cfg, "'%s' set twice (first on line %d)", opt->name, (int)first);
		return 0; /* reported: go on */
	}
	conf_index_put(conf_p.first_line, &opt, sizeof(opt), (void *)(intptr_t)cfg->line);
	return orig != NULL ? orig(cfg, opt) : 0;
}

static int section_done(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_validate_callback_t orig = wrapped_orig(cfg, opt);
	struct conf_parked *pk = NULL;
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	int r = 0;

	if (cfg_title(sec) != NULL) {
		for (size_t i = 0; i < conf_p.nparked && pk == NULL; i++)
			if (conf_p.parked[i].opt == opt)
				pk = &conf_p.parked[i];
		if (pk == NULL) {
			conf_p.parked = xreallocarray(conf_p.parked, conf_p.nparked + 1,
						      sizeof(*conf_p.parked));
			pk = &conf_p.parked[conf_p.nparked++];
			memset(pk, 0, sizeof(*pk));
			pk->opt = opt;
			pk->titles = conf_index_new();
		}
		if (conf_index_gets(pk->titles, cfg_title(sec)) != NULL) {
			conf_section_error(sec, "defined twice");
			goto park; /* reported: go on, without its own checks */
		}
		conf_index_puts(pk->titles, cfg_title(sec), sec);
	}
	if (orig != NULL)
		r = orig(cfg, opt);
	if (pk == NULL)
		return r;
park:
	if (pk->n == pk->cap) {
		pk->cap = pk->cap ? 2 * pk->cap : 64;
		pk->values = xreallocarray(pk->values, pk->cap, sizeof(*pk->values));
	}
	pk->values[pk->n++] = opt->values[--opt->nvalues];
	return r;
}

/* Puts the parked sections back into libconfuse's arrays, in file order. */
static void unpark_sections(void)
{
	for (size_t i = 0; i < conf_p.nparked; i++) {
		struct conf_parked *pk = &conf_p.parked[i];
		cfg_opt_t *opt = pk->opt;
		unsigned n = opt->nvalues + pk->n;

		/* a section cut short by a syntax error is still in opt->values */
		opt->values = xreallocarray(opt->values, n ? n : 1, sizeof(*opt->values));
		memmove(opt->values + pk->n, opt->values, opt->nvalues * sizeof(*opt->values));
		memcpy(opt->values, pk->values, pk->n * sizeof(*opt->values));
		opt->nvalues = n;
		free(pk->values);
		conf_index_free(pk->titles);
	}
	free(conf_p.parked);
	conf_p.parked = NULL;
	conf_p.nparked = 0;
}

static void wrap_validators(cfg_opt_t *opts, const char *section, int top)
{
	for (cfg_opt_t *o = opts; o->name != NULL; o++) {
		int titled = o->type == CFGT_SEC && (o->flags & CFGF_MULTI) &&
			     (o->flags & CFGF_TITLE) && top;

		if (o->type == CFGT_SEC)
			wrap_validators(o->subopts, o->name, 0);
		if (o->validcb == scalar_once || o->validcb == section_done)
			continue; /* already wrapped (a section seen twice) */
		if (!titled && (o->type == CFGT_SEC || (o->flags & CFGF_LIST)))
			continue;
		conf_p.wrapped =
		    xreallocarray(conf_p.wrapped, conf_p.nwrapped + 1, sizeof(*conf_p.wrapped));
		conf_p.wrapped[conf_p.nwrapped++] =
		    (struct conf_wrapped){section, o->name, o->validcb};
		o->validcb = titled ? section_done : scalar_once;
	}
}

/* The state of one parse, saved while a file read from inside it (a profile) is parsed. */
struct conf_saved {
	unsigned nerrors, nerr_secs, last_n;
	const cfg_t *err_secs[CONF_ERR_SECTIONS];
	const cfg_opt_t *last_opt;
	struct conf_state p;
};

static void conf_save(struct conf_saved *s)
{
	s->nerrors = conf_nerrors;
	s->nerr_secs = conf_nerr_secs;
	memcpy(s->err_secs, conf_err_secs, sizeof(s->err_secs));
	s->last_opt = conf_last_opt;
	s->last_n = conf_last_n;
	s->p = conf_p;
}

/* Back to the outer parse, which fails too if the inner one had errors. */
static void conf_restore(const struct conf_saved *s)
{
	conf_nerrors += s->nerrors;
	conf_nerr_secs = s->nerr_secs;
	memcpy(conf_err_secs, s->err_secs, sizeof(conf_err_secs));
	conf_last_opt = s->last_opt;
	conf_last_n = s->last_n;
	conf_p = s->p;
}

/* A file that cannot be parsed at all: a nested parse's outer one fails too. */
static int early_failure(int nested)
{
	if (nested)
		conf_nerrors++;
	return -1;
}

/*
 * The whole file, sized by the file (a pipe's by doubling): a buffer of
 * CONF_FILE_MAX made for every file, however small, raised malloc's mmap
 * threshold to 4 MiB for the life of the daemon once freed, and the large
 * arrays made after it then stayed in the heap, leaving holes when they
 * grew (0.5 MB of an agent polling 1,000 switches). NULL when out of
 * memory; *len > CONF_FILE_MAX when the file is larger.
 */
static char *read_all(FILE *f, size_t *len)
{
	struct stat st;
	size_t cap = 4096, n = 0;
	char *buf, *nbuf;

	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (uintmax_t)st.st_size < CONF_FILE_MAX ? (size_t)st.st_size + 1
							    : CONF_FILE_MAX + 1;
	buf = malloc(cap);
	while (buf != NULL) {
		n += fread(buf + n, 1, cap - n, f);
		/* short: the end (or an error, which the caller asks ferror about) */
		if (n < cap || cap > CONF_FILE_MAX)
			break;
		cap = cap > CONF_FILE_MAX / 2 ? CONF_FILE_MAX + 1 : cap * 2;
		nbuf = realloc(buf, cap);
		if (nbuf == NULL)
			free(buf);
		buf = nbuf;
	}
	*len = n;
	return buf;
}

int conf_parse_file(cfg_t *cfg, const char *path)
{
	FILE *f = fopen(path, "r"), *mem;
	struct conf_saved outer;
	char *buf;
	size_t len;
	long slen;
	int r, nested = conf_p.root != NULL;

	if (f == NULL) {
		fprintf(conf_error_stream(), "%s: cannot read: %s\n", path, strerror(errno));
		return early_failure(nested);
	}
	buf = read_all(f, &len);
	if (buf == NULL || ferror(f) || len > CONF_FILE_MAX) {
		fprintf(conf_error_stream(), "%s: cannot read: %s\n", path,
			len > CONF_FILE_MAX ? "larger than 4 MiB" : strerror(errno));
		fclose(f);
		free(buf);
		return early_failure(nested);
	}
	fclose(f);
	/*
	 * libconfuse 3.3 counts a comment's line more than once, so every line
	 * number after a comment would be wrong. Comments are removed here,
	 * newlines kept, and the file is parsed from memory under its own name.
	 * A file whose words cannot be told apart is not parsed further.
	 */
	slen = strip_comments(buf, len, path);
	if (slen < 0) {
		free(buf);
		return early_failure(nested);
	}
	len = (size_t)slen;
	mem = fmemopen(buf, len ? len : 1, "r");
	if (mem == NULL) {
		fprintf(conf_error_stream(), "%s: cannot read: %s\n", path, strerror(errno));
		free(buf);
		return early_failure(nested);
	}
	if (len == 0)
		buf[0] = '\n';
	if (nested) {
		conf_save(&outer);
		memset(&conf_p, 0, sizeof(conf_p));
	}
	cfg_set_error_function(cfg, conf_errfunc);
	free(cfg->filename);
	cfg->filename = strdup(path);
	conf_nerrors = 0;
	conf_nerr_secs = 0;
	conf_last_opt = NULL;
	conf_p.root = cfg;
	conf_p.first_line = conf_index_new();
	wrap_validators(cfg->opts, cfg->name, 1);
	r = cfg_parse_fp(cfg, mem);
	unpark_sections();
	conf_index_free(conf_p.first_line);
	free(conf_p.wrapped);
	memset(&conf_p, 0, sizeof(conf_p));
	fclose(mem);
	free(buf);
	r = r == CFG_SUCCESS && conf_nerrors == 0 ? 0 : -1;
	if (nested)
		conf_restore(&outer);
	return r;
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
    {"root", "snmp_in_flight", 1, 100000, " requests"},
    {"root", "max_session_series", 100, 10000000, " series"},
    {"snmp", "in_flight", 1, 64, " requests"},
    {"root", "step", 1, 3600, " s"},
    {"root", "store_queue", 1, 1000000, ""},
    {"root", "quarantine_retry", 1, 86400, " s"},
    {"root", "cache_flush_age", 0, 86400, " s (0: write at once)"},
    {"root", "cache_max_values", 1, 100000, " values"},
    {"root", "store_writers", 1, 4, " writers"},
    {"root", "max_series_per_site", 0, 100000000, " series (0: no limit)"},
    {"root", "max_new_files_per_minute", 0, 1000000, " files (0: no limit)"},
    {"root", "max_ds_per_file", 1, 1000, " data sources"},
    {"root", "max_agents_per_site", 1, 10000, " agents"},
    {"root", "max_sessions", 1, 1000000, ""},
    {"root", "max_sessions_per_address", 1, 1000000, ""},
    {"root", "log_lines_per_address", 1, 100000, " lines"},
    {"root", "log_lines_window", 10, 3600, " s"},
    {"root", "hello_timeout", 1, 600, " s"},
    {"root", "frame_timeout", 1, 3600, " s"},
    {"root", "max_inflight", 1, 100000, " batches"},
    {"root", "fd_reserve", 8, 100000, " descriptors"},
    {"root", "max_clock_skew", 1, 3600, " s"},
    {"root", "crl_check_interval", 1, 3600, " s"},
    {"root", "stats_interval", 1, 86400, " s"},
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

int conf_validate_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char host[256];
	unsigned port;
	const char *why;

	if (seen_before(opt))
		return 0;
	if (conf_split_hostport(s, host, sizeof(host), &port, 0, &why) < 0) {
		cfg_error(cfg, "%s \"%s\": %s", opt->name, s ? s : "", why);
		return 0; /* reported: go on */
	}
	/* the daemon binds with this very call; it resolves no names */
	if (evutil_parse_sockaddr_port(s, (struct sockaddr *)&ss, &sslen) < 0)
		cfg_error(cfg, "%s \"%s\": not a numeric address:port (names are not resolved)",
			  opt->name, s);
	return 0; /* reported: go on */
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

int conf_key_line(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char buf[1024];
	size_t klen = strlen(key);
	int line = 0, found = 0, starts = 1;

	if (f == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		const char *p = buf;
		int start = starts;

		/* a line longer than buf comes in pieces: only the first may hold its key */
		starts = strchr(buf, '\n') != NULL;
		if (!start)
			continue;
		line++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, key, klen) != 0 || word_char(p[klen]))
			continue;
		p += klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '=' || (p[0] == '+' && p[1] == '='))
			found = line; /* libconfuse keeps the last */
	}
	fclose(f);
	return found;
}

long long conf_parse_size(const char *s)
{
	char *end;
	long long v;
	int shift;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		return v;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	/* too large to say in bytes: malformed, not wrapped round to a size that passes */
	if (v > LLONG_MAX >> shift)
		return -1;
	v <<= shift;
	return end[1] == '\0' || (toupper((unsigned char)end[1]) == 'B' && end[2] == '\0') ? v : -1;
}

/* The lines of insecure and of the tls section, noted while one file is parsed. */
static int transport_insecure_line, transport_tls_line;

static int note_insecure_line(cfg_t *cfg, cfg_opt_t *opt)
{
	transport_insecure_line = cfg->line;
	return 0;
}

static int validate_tls_key(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);

	if (transport_tls_line == 0)
		transport_tls_line = cfg->line;
	if (v == NULL || v[0] == '\0')
		cfg_error(cfg, "tls: %s must name a file", opt->name);
	return 0; /* reported: go on */
}

static int validate_tls(cfg_t *cfg, cfg_opt_t *opt)
{
	static const char *const req[] = {"ca", "cert", "key", NULL};
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);

	if (!conf_had_errors(sec))
		conf_require(sec, req);
	return 0;
}

void conf_transport_validate(cfg_t *cfg, int with_crl)
{
	cfg_set_validate_func(cfg, "insecure", note_insecure_line);
	cfg_set_validate_func(cfg, "tls", validate_tls);
	cfg_set_validate_func(cfg, "tls|ca", validate_tls_key);
	cfg_set_validate_func(cfg, "tls|cert", validate_tls_key);
	cfg_set_validate_func(cfg, "tls|key", validate_tls_key);
	if (with_crl)
		cfg_set_validate_func(cfg, "tls|crl", validate_tls_key);
}

void conf_transport_reset(void)
{
	transport_insecure_line = transport_tls_line = 0;
}

int conf_transport_tls_line(void)
{
	return transport_tls_line;
}

/*
 * The transport is TLS unless the file says insecure = yes, and never
 * both: a site's data must not travel in plaintext by omission.
 */
int conf_transport_check(cfg_t *cfg, const char *path, int line, const char *hint)
{
	int has_tls = cfg_size(cfg, "tls") > 0, insecure = cfg_getbool(cfg, "insecure");

	if (has_tls && insecure) {
		fprintf(conf_error_stream(),
			"%s:%d: insecure = yes and a tls section (line %d): remove one\n", path,
			transport_insecure_line, transport_tls_line);
		return -1;
	}
	if (!has_tls && !insecure) {
		if (line > 0)
			fprintf(conf_error_stream(), "%s:%d: no tls section: %s\n", path, line,
				hint);
		else
			fprintf(conf_error_stream(), "%s: no tls section: %s\n", path, hint);
		return -1;
	}
	return 0;
}
