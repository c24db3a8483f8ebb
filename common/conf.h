/*
 * conf.h - libconfuse helpers shared by both daemons: errors printed as
 * "FILE:LINE: message", validators for the value kinds every config has.
 * Parsing is all-or-nothing: a config with one error is never half used.
 */
#ifndef VAKT_CONF_H
#define VAKT_CONF_H

#include <stdio.h>

#include <confuse.h>

#define CONF_INTERVAL_MAX 86400

/* Where FILE:LINE: messages go (stderr by default; tests redirect it). */
void conf_set_error_stream(FILE *f);
FILE *conf_error_stream(void);

#define CONF_FILE_MAX (4 * 1024 * 1024)

/*
 * Installs the FILE:LINE error function, parses `path`; 0 or -1. Besides
 * the schema's own checks it refuses what would silently change meaning: a
 * comment or string never closed, a comment glued to an unquoted value, a
 * scalar key set twice in one section, a titled section defined twice.
 * It may run inside a validator of another parse (a profile file read while
 * the section naming it is checked): the outer parse keeps its state and
 * fails too when this one had errors.
 */
int conf_parse_file(cfg_t *cfg, const char *path);

/*
 * 1 when an error was reported inside `sec` during this parse: its section
 * validator should then add nothing. Option validators report and return 0
 * so that parsing goes on and every problem is printed; conf_parse_file
 * fails when any was reported.
 */
int conf_had_errors(const cfg_t *sec);

/* cfg_error() with the section's title folded in: "snmp \"core\": msg". */
void conf_section_error(cfg_t *sec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option validators (cfg_set_validate_func); each reports through cfg_error. */
/* An integer key within the bounds conf.c's table gives it ("interval" 1..86400 s). */
int conf_validate_int(cfg_t *cfg, cfg_opt_t *opt);
/* conf_validate_int for each "section|key" path; NULL-terminated. */
void conf_bound_ints(cfg_t *cfg, const char *const *paths);
int conf_validate_hostport(cfg_t *cfg, cfg_opt_t *opt); /* "host:port" */
int conf_validate_address(cfg_t *cfg, cfg_opt_t *opt);  /* "host[:port]" */
int conf_validate_name(cfg_t *cfg, cfg_opt_t *opt);     /* non-empty, printable */
/* "addr:port" with a numeric address, parsed exactly as the daemon binds it. */
int conf_validate_listen(cfg_t *cfg, cfg_opt_t *opt);

/* Reports a section title that is empty or longer than `max`; -1 if so. */
int conf_check_title(cfg_t *sec, size_t max);

/* Reports every key of `keys` (NULL-terminated) not set in `sec`; -1 if any. */
int conf_require(cfg_t *sec, const char *const *keys);

/*
 * The transport keys both daemons share: `insecure` and a `tls { ca cert key
 * [crl] }` section. Register conf_transport_validate() for them, call
 * conf_transport_reset() before parsing a file, and conf_transport_check()
 * after: 0 when the file has exactly one of the two, else -1 with
 * "PATH:LINE: ..." printed (a missing tls section is reported at `line`,
 * with `hint` saying what to add; line 0: no line).
 */
void conf_transport_validate(cfg_t *cfg, int with_crl);
void conf_transport_reset(void);
int conf_transport_check(cfg_t *cfg, const char *path, int line, const char *hint);
/* The line of the tls section of the file just parsed (0: none). */
int conf_transport_tls_line(void);

/*
 * Splits "host:port", "[v6]:port" or a bare host (port = defport).
 * Returns 0, or -1 with *why set to a static explanation.
 */
int conf_split_hostport(const char *s, char *host, size_t hostsz, unsigned *port, unsigned defport,
			const char **why);

/* A map from keys (bytes, or strings with the *s forms) to non-NULL pointers. */
struct conf_index;
struct conf_index *conf_index_new(void);
void conf_index_free(struct conf_index *ix);
void *conf_index_get(const struct conf_index *ix, const void *key, size_t len);
void conf_index_put(struct conf_index *ix, const void *key, size_t len, void *val);
void *conf_index_gets(const struct conf_index *ix, const char *key);
void conf_index_puts(struct conf_index *ix, const char *key, void *val);

/*
 * The line of `path` where top-level `key` is last set ("key = ..." or
 * "key += ..." at the start of a line), 0 when none is: for an error about a
 * value libconfuse calls no validator for (an empty list, `key = {}`).
 */
int conf_key_line(const char *path, const char *key);

/* Parses a size such as "512M", "64k" or "1T" into bytes; -1 if malformed or past LLONG_MAX. */
long long conf_parse_size(const char *s);

#endif
