/*
 * collector_conf.c - the collector's configuration: listeners, storage,
 * notification channels and alert rules. All-or-nothing, FILE:LINE errors.
 */
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "collector.h"
#include "conf.h"
#include "decode.h"
#include "log.h"
#include "notify.h"
#include "series_wire.h"
#include "xmalloc.h"

/* Lines of the rule sections of the load in progress, for post-parse checks. */
struct rule_line {
	cfg_t *sec;
	int line;
};
static struct rule_line *rule_lines;
static size_t nrule_lines;

/* Where the paths are set, for --check-config's messages. */
static int path_lines[2];

static int note_path_line(cfg_t *cfg, cfg_opt_t *opt)
{
	path_lines[strcmp(opt->name, "data_dir") == 0 ? 0 : 1] = cfg->line;
	return 0;
}

/* Lines of listen, insecure and the tls section, for errors after parsing. */
static int listen_line;

static int validate_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	listen_line = cfg->line;
	return conf_validate_listen(cfg, opt);
}

int collector_site_known(const struct collector_conf *conf, const char *site)
{
	if (conf->sites == NULL)
		return 1;
	for (size_t i = 0; i < conf->nsites; i++)
		if (strcmp(conf->sites[i], site) == 0)
			return 1;
	return 0;
}

static int validate_channel(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);

	if (!conf_had_errors(sec))
		notify_channel_validate(sec);
	return 0; /* errors are counted: parsing goes on */
}

static int validate_rule(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);

	if (conf_had_errors(sec) || alert_rule_validate(sec) < 0)
		return 0; /* errors are counted: parsing goes on */
	/* doubled at each power of two: linear over thousands of rules */
	if ((nrule_lines & (nrule_lines - 1)) == 0)
		rule_lines = xreallocarray(rule_lines, nrule_lines ? 2 * nrule_lines : 1,
					   sizeof(*rule_lines));
	rule_lines[nrule_lines].sec = sec;
	rule_lines[nrule_lines].line = cfg->line;
	nrule_lines++;
	return 0;
}

/* "64M": a size within 1 MiB..64 GiB, so that a batch of any frame fits. */
static int validate_queue_size(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	long long n = conf_parse_size(v);

	if (n < 1024 * 1024 || n > 64LL * 1024 * 1024 * 1024)
		cfg_error(cfg, "%s must be a size of 1M..64G (\"64M\"), got \"%s\"", opt->name, v);
	return 0; /* reported: go on */
}

/* Lines of series_size and max_session_series (0: not set), for the check of the two. */
static int series_lines[2];

static int validate_series_size(cfg_t *cfg, cfg_opt_t *opt)
{
	series_lines[0] = cfg->line;
	return validate_queue_size(cfg, opt);
}

/*
 * At least SERIES_WIRE_MAX_DEFAULT: an agent before HelloAck.max_series
 * defines that many ids whatever the collector says. (An agent's own
 * max_session_series may be lower; the two share the bounds' table row.)
 */
static int validate_session_series(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	series_lines[1] = cfg->line;
	if (v < SERIES_WIRE_MAX_DEFAULT)
		cfg_error(cfg, "%s must be at least %d series (agents before HelloAck's "
			       "max_series define as many), got %ld",
			  opt->name, SERIES_WIRE_MAX_DEFAULT, v);
	else
		conf_validate_int(cfg, opt);
	return 0; /* reported: go on */
}

/* series_size must hold what one session may define, or that session could never finish. */
static int check_series_size(cfg_t *cfg, const char *path)
{
	long long size = conf_parse_size(cfg_getstr(cfg, "series_size"));
	long ids = cfg_getint(cfg, "max_session_series");
	size_t need = decode_series_bytes((uint32_t)ids);

	if (size < 0 || ids < 1 || (size_t)size >= need)
		return 0; /* a bad value of either is reported already */
	fprintf(conf_error_stream(),
		"%s:%d: series_size %s cannot hold the series of one session: "
		"max_session_series = %ld needs %zuM (%d bytes each); raise series_size or "
		"lower max_session_series\n",
		path, series_lines[0] ? series_lines[0] : series_lines[1],
		cfg_getstr(cfg, "series_size"), ids, (need + (1 << 20) - 1) >> 20,
		DECODE_SERIES_BYTES_PER_ID);
	return -1;
}

/* Line of archives (0: the default), for its check after parsing. */
static int archives_line;

static int note_archives_line(cfg_t *cfg, cfg_opt_t *opt)
{
	archives_line = cfg->line;
	return 0;
}

/* "90", "90s", "5m", "1h", "2d", "1w", "1y" (365 d): seconds; 0 if malformed or over 100 years. */
static unsigned long parse_duration(const char *s, const char **end)
{
	static const struct {
		char unit;
		unsigned long secs;
	} units[] = {{'s', 1},     {'m', 60},        {'h', 3600},
		     {'d', 86400}, {'w', 7 * 86400}, {'y', 365 * 86400}};
	unsigned long v = 0, mult = 1;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && v <= 100UL * 365 * 86400)
		v = v * 10 + (unsigned long)(*p++ - '0');
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (p > s && *p == units[i].unit) {
			mult = units[i].secs;
			p++;
			break;
		}
	*end = p;
	if (p == s || v == 0 || v > 100UL * 365 * 86400 / mult)
		return 0;
	return v * mult;
}

/*
 * archives: "ROW:SPAN" each, as Graphite's retentions ("5m:14d": rows of 5
 * minutes for 14 days), each of at least one row at the step, and at most
 * ARCHIVE_ROWS_MAX rows in all: a row takes 24 bytes a data source (AVERAGE,
 * MIN, MAX), so that a typo cannot make a data source of every new file take
 * more than 240 MB (eight archives of that many rows each took 1.9 GB).
 */
#define ARCHIVE_ROWS_MAX 10000000UL
static int load_archives(cfg_t *cfg, const char *path, struct store_rra *rras, size_t *nrras)
{
	unsigned n = cfg_size(cfg, "archives");
	unsigned step = (unsigned)cfg_getint(cfg, "step");
	unsigned long total = 0;
	int bad = 0;

	if (n == 0 || n > STORE_RRA_MAX) {
		/* libconfuse validates no empty list: the file says where it is */
		fprintf(conf_error_stream(), "%s:%d: archives: 1..%d archives, got %u\n", path,
			n == 0 ? conf_key_line(path, "archives") : archives_line, STORE_RRA_MAX, n);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *v = cfg_getnstr(cfg, "archives", i), *end;
		struct store_rra *r = &rras[i];
		unsigned long rows;

		r->row_secs = (unsigned)parse_duration(v, &end);
		r->span = *end == ':' ? parse_duration(end + 1, &end) : 0;
		if (r->row_secs == 0 || r->span == 0 || *end != '\0') {
			fprintf(conf_error_stream(),
				"%s:%d: archives \"%s\": expected ROW:SPAN, two durations "
				"such as \"5m:14d\" (s, m, h, d, w, y)\n",
				path, archives_line, v);
			bad = 1;
			continue;
		}
		rows = store_rra_rows(r, step);
		if (rows < 1 || rows > ARCHIVE_ROWS_MAX) {
			fprintf(conf_error_stream(),
				"%s:%d: archives \"%s\": %lu rows at step %u s, not 1..%lu\n", path,
				archives_line, v, rows, step, ARCHIVE_ROWS_MAX);
			bad = 1;
		}
		total += rows;
	}
	if (!bad && total > ARCHIVE_ROWS_MAX) {
		fprintf(conf_error_stream(),
			"%s:%d: archives: %lu rows in all at step %u s, more than %lu: each data "
			"source of every new file would take %lu MB\n",
			path, archives_line, total, step, ARCHIVE_ROWS_MAX, total * 24 / 1000000);
		bad = 1;
	}
	*nrras = n;
	return bad ? -1 : 0;
}

/* An empty listen would make a collector that takes no agent, and says nothing of it. */
static int check_listen(cfg_t *cfg, const char *path)
{
	if (cfg_size(cfg, "listen") > 0)
		return 0;
	fprintf(conf_error_stream(),
		"%s:%d: listen: no address to accept agents on; give at least one, such as "
		"{\"0.0.0.0:7060\"}\n",
		path, conf_key_line(path, "listen"));
	return -1;
}

/*
 * Every channel a rule names must exist, wherever in the file it is declared.
 * The channels are indexed once: a lookup per name keeps this linear.
 */
static int check_rule_channels(cfg_t *cfg, const char *path)
{
	struct conf_index *channels = conf_index_new();
	int bad = 0;

	conf_index_puts(channels, "log", cfg);
	for (unsigned i = 0; i < cfg_size(cfg, "channel"); i++)
		conf_index_puts(channels, cfg_title(cfg_getnsec(cfg, "channel", i)), cfg);
	for (size_t i = 0; i < nrule_lines; i++) {
		cfg_t *rule = rule_lines[i].sec;

		for (unsigned j = 0; j < cfg_size(rule, "channels"); j++) {
			const char *ch = cfg_getnstr(rule, "channels", j);

			if (conf_index_gets(channels, ch) == NULL) {
				fprintf(conf_error_stream(),
					"%s:%d: rule \"%s\": unknown channel \"%s\"\n", path,
					rule_lines[i].line, cfg_title(rule), ch);
				bad = 1;
			}
		}
	}
	/* the same for the channels of the collector's own alerts */
	for (unsigned j = 0; j < cfg_size(cfg_getsec(cfg, "watch"), "channels"); j++) {
		cfg_t *w = cfg_getsec(cfg, "watch");
		const char *ch = cfg_getnstr(w, "channels", j);

		if (conf_index_gets(channels, ch) == NULL) {
			fprintf(conf_error_stream(), "%s:%d: watch: unknown channel \"%s\"\n", path,
				w->line, ch);
			bad = 1;
		}
	}
	conf_index_free(channels);
	return bad ? -1 : 0;
}

struct collector_conf *collector_conf_load(const char *path)
{
	/* the collector's own alerts about silence; defaults that work unconfigured */
	cfg_opt_t watch_opts[] = {
	    CFG_INT("heartbeat", 10, CFGF_NONE),
	    CFG_INT("agent_down", 60, CFGF_NONE),
	    CFG_INT("no_data", 3, CFGF_NONE),
	    CFG_INT("unreachable", 2, CFGF_NONE),
	    CFG_STR_LIST("channels", NULL, CFGF_NODEFAULT),
	    CFG_END(),
	};
	cfg_opt_t tls_opts[] = {
	    CFG_STR("ca", NULL, CFGF_NODEFAULT),
	    CFG_STR("cert", NULL, CFGF_NODEFAULT),
	    CFG_STR("key", NULL, CFGF_NODEFAULT),
	    CFG_STR("crl", NULL, CFGF_NODEFAULT),
	    CFG_END(),
	};
	cfg_opt_t opts[] = {
	    CFG_STR_LIST("listen", "{0.0.0.0:7060}", CFGF_NONE),
	    CFG_STR("data_dir", "/var/lib/vakt/rrd", CFGF_NONE),
	    CFG_INT("step", 60, CFGF_NONE),
	    CFG_STR_LIST("archives", "{1s:2d, 5m:14d, 1h:396d, 1d:3650d}", CFGF_NONE),
	    CFG_INT("max_frame", 1048576, CFGF_NONE),
	    CFG_INT("store_queue", 1024, CFGF_NONE),
	    CFG_STR("store_queue_size", "64M", CFGF_NONE),
	    CFG_INT("quarantine_retry", 60, CFGF_NONE),
	    CFG_INT("cache_flush_age", 300, CFGF_NONE),
	    CFG_INT("cache_max_values", 360, CFGF_NONE),
	    CFG_INT("store_writers", 2, CFGF_NONE),
	    CFG_STR("cache_size", "64M", CFGF_NONE),
	    CFG_INT("max_series_per_site", 1000000, CFGF_NONE),
	    CFG_INT("max_new_files_per_minute", 1000, CFGF_NONE),
	    CFG_INT("max_ds_per_file", 64, CFGF_NONE),
	    CFG_INT("max_agents_per_site", 64, CFGF_NONE),
	    CFG_INT("max_sessions", 1024, CFGF_NONE),
	    CFG_INT("max_sessions_per_address", 64, CFGF_NONE),
	    CFG_INT("log_lines_per_address", 10, CFGF_NONE), /* PEER_LOG_BURST */
	    CFG_INT("log_lines_window", 60, CFGF_NONE),      /* PEER_LOG_WINDOW */
	    CFG_INT("hello_timeout", 10, CFGF_NONE),
	    CFG_INT("frame_timeout", 30, CFGF_NONE),
	    CFG_STR("input_buffer_size", "64M", CFGF_NONE),
	    CFG_STR("series_size", "1G", CFGF_NONE),
	    CFG_INT("max_session_series", 1000000, CFGF_NONE),
	    CFG_INT("max_inflight", 64, CFGF_NONE),
	    CFG_STR("max_inflight_size", "16M", CFGF_NONE),
	    CFG_INT("fd_reserve", 64, CFGF_NONE),
	    CFG_STR("control_socket", "/run/vakt/collector.sock", CFGF_NONE),
	    CFG_INT("max_clock_skew", 10, CFGF_NONE),
	    CFG_INT("crl_check_interval", 30, CFGF_NONE),
	    CFG_INT("stats_interval", 60, CFGF_NONE),
	    CFG_BOOL("insecure", cfg_false, CFGF_NONE),
	    CFG_SEC("tls", tls_opts, CFGF_NODEFAULT),
	    CFG_STR_LIST("sites", NULL, CFGF_NODEFAULT),
	    CFG_SEC("watch", watch_opts, CFGF_NONE),
	    CFG_SEC("channel", notify_channel_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_SEC("rule", alert_rule_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_END(),
	};
	static const char *const ints[] = {"step",
					   "max_frame",
					   "store_queue",
					   "quarantine_retry",
					   "cache_flush_age",
					   "cache_max_values",
					   "store_writers",
					   "max_series_per_site",
					   "max_new_files_per_minute",
					   "max_ds_per_file",
					   "max_agents_per_site",
					   "max_sessions",
					   "max_sessions_per_address",
					   "log_lines_per_address",
					   "log_lines_window",
					   "hello_timeout",
					   "frame_timeout",
					   "max_inflight",
					   "fd_reserve",
					   "max_clock_skew",
					   "crl_check_interval",
					   "stats_interval",
					   "watch|heartbeat",
					   "watch|agent_down",
					   "watch|no_data",
					   "watch|unreachable",
					   NULL};
	cfg_t *w;
	struct store_rra rras[STORE_RRA_MAX];
	size_t nrras = 0;
	struct collector_conf *conf;
	cfg_t *cfg = cfg_init(opts, CFGF_NONE);
	int ok;

	cfg_set_validate_func(cfg, "listen", validate_listen);
	conf_transport_validate(cfg, 1);
	cfg_set_validate_func(cfg, "sites", conf_validate_name);
	listen_line = 0;
	conf_transport_reset();
	cfg_set_validate_func(cfg, "store_queue_size", validate_queue_size);
	cfg_set_validate_func(cfg, "input_buffer_size", validate_queue_size);
	cfg_set_validate_func(cfg, "series_size", validate_series_size);
	cfg_set_validate_func(cfg, "max_session_series", validate_session_series);
	series_lines[0] = series_lines[1] = 0;
	cfg_set_validate_func(cfg, "max_inflight_size", validate_queue_size);
	cfg_set_validate_func(cfg, "cache_size", validate_queue_size);
	conf_bound_ints(cfg, ints);
	cfg_set_validate_func(cfg, "archives", note_archives_line);
	archives_line = 0;
	cfg_set_validate_func(cfg, "data_dir", note_path_line);
	cfg_set_validate_func(cfg, "control_socket", note_path_line);
	path_lines[0] = path_lines[1] = 0;
	cfg_set_validate_func(cfg, "channel", validate_channel);
	cfg_set_validate_func(cfg, "rule", validate_rule);

	ok = conf_parse_file(cfg, path) == 0 && check_listen(cfg, path) == 0 &&
	     check_rule_channels(cfg, path) == 0 &&
	     check_series_size(cfg, path) == 0 && load_archives(cfg, path, rras, &nrras) == 0 &&
	     conf_transport_check(
		 cfg, path, listen_line,
		 "add tls { ca = \"ca.crt\", cert = \"collector.crt\", key = "
		 "\"collector.key\", crl = \"crl.pem\" } to accept agents over TLS, "
		 "or insecure = yes to accept them in plaintext") == 0;
	free(rule_lines);
	rule_lines = NULL;
	nrule_lines = 0;
	if (!ok) {
		cfg_free(cfg);
		return NULL;
	}
	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(path);
	conf->nlisten = cfg_size(cfg, "listen");
	conf->listen = xcalloc(conf->nlisten, sizeof(char *));
	for (size_t i = 0; i < conf->nlisten; i++)
		conf->listen[i] = xstrdup(cfg_getnstr(cfg, "listen", i));
	conf->data_dir = xstrdup(cfg_getstr(cfg, "data_dir"));
	conf->step = (unsigned)cfg_getint(cfg, "step");
	memcpy(conf->rras, rras, nrras * sizeof(*rras));
	conf->nrras = nrras;
	conf->max_frame = (unsigned)cfg_getint(cfg, "max_frame");
	conf->store_queue = (unsigned)cfg_getint(cfg, "store_queue");
	conf->store_queue_size = (size_t)conf_parse_size(cfg_getstr(cfg, "store_queue_size"));
	conf->quarantine_retry = (unsigned)cfg_getint(cfg, "quarantine_retry");
	conf->cache_flush_age = (unsigned)cfg_getint(cfg, "cache_flush_age");
	conf->cache_max_values = (unsigned)cfg_getint(cfg, "cache_max_values");
	conf->store_writers = (unsigned)cfg_getint(cfg, "store_writers");
	conf->cache_size = (size_t)conf_parse_size(cfg_getstr(cfg, "cache_size"));
	conf->max_series_per_site = (unsigned)cfg_getint(cfg, "max_series_per_site");
	conf->max_ds_per_file = (unsigned)cfg_getint(cfg, "max_ds_per_file");
	conf->max_agents_per_site = (unsigned)cfg_getint(cfg, "max_agents_per_site");
	conf->max_new_files_per_minute = (unsigned)cfg_getint(cfg, "max_new_files_per_minute");
	conf->max_sessions = (unsigned)cfg_getint(cfg, "max_sessions");
	conf->max_sessions_per_address = (unsigned)cfg_getint(cfg, "max_sessions_per_address");
	conf->log_lines_per_address = (unsigned)cfg_getint(cfg, "log_lines_per_address");
	conf->log_lines_window = (unsigned)cfg_getint(cfg, "log_lines_window");
	conf->hello_timeout = (unsigned)cfg_getint(cfg, "hello_timeout");
	conf->frame_timeout = (unsigned)cfg_getint(cfg, "frame_timeout");
	conf->input_buffer_size = (size_t)conf_parse_size(cfg_getstr(cfg, "input_buffer_size"));
	conf->series_size = (size_t)conf_parse_size(cfg_getstr(cfg, "series_size"));
	conf->max_session_series = (unsigned)cfg_getint(cfg, "max_session_series");
	conf->max_inflight = (unsigned)cfg_getint(cfg, "max_inflight");
	conf->max_inflight_size = (size_t)conf_parse_size(cfg_getstr(cfg, "max_inflight_size"));
	conf->fd_reserve = (unsigned)cfg_getint(cfg, "fd_reserve");
	conf->control_socket = xstrdup(cfg_getstr(cfg, "control_socket"));
	conf->max_clock_skew = (unsigned)cfg_getint(cfg, "max_clock_skew");
	conf->crl_check_interval = (unsigned)cfg_getint(cfg, "crl_check_interval");
	conf->stats_interval = (unsigned)cfg_getint(cfg, "stats_interval");
	w = cfg_getsec(cfg, "watch");
	conf->heartbeat = (unsigned)cfg_getint(w, "heartbeat");
	conf->agent_down = (unsigned)cfg_getint(w, "agent_down");
	conf->no_data = (unsigned)cfg_getint(w, "no_data");
	conf->unreachable = (unsigned)cfg_getint(w, "unreachable");
	conf->nalert_channels = cfg_size(w, "channels");
	if (conf->nalert_channels > 0) {
		conf->alert_channels = xcalloc(conf->nalert_channels, sizeof(char *));
		for (size_t i = 0; i < conf->nalert_channels; i++)
			conf->alert_channels[i] = xstrdup(cfg_getnstr(w, "channels", i));
	}
	conf->insecure = cfg_getbool(cfg, "insecure");
	if (cfg_size(cfg, "tls") > 0) {
		cfg_t *t = cfg_getsec(cfg, "tls");

		conf->tls_ca = xstrdup(cfg_getstr(t, "ca"));
		conf->tls_cert = xstrdup(cfg_getstr(t, "cert"));
		conf->tls_key = xstrdup(cfg_getstr(t, "key"));
		if (cfg_getstr(t, "crl") != NULL)
			conf->tls_crl = xstrdup(cfg_getstr(t, "crl"));
		conf->tls_line = conf_transport_tls_line();
	}
	if (cfg_size(cfg, "sites") > 0) {
		conf->nsites = cfg_size(cfg, "sites");
		conf->sites = xcalloc(conf->nsites, sizeof(char *));
		for (size_t i = 0; i < conf->nsites; i++)
			conf->sites[i] = xstrdup(cfg_getnstr(cfg, "sites", i));
	}
	conf->data_dir_line = path_lines[0];
	conf->control_socket_line = path_lines[1];
	conf->cfg = cfg;
	return conf;
}

void collector_conf_free(struct collector_conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->nlisten; i++)
		free(conf->listen[i]);
	free(conf->listen);
	for (size_t i = 0; i < conf->nalert_channels; i++)
		free(conf->alert_channels[i]);
	free(conf->alert_channels);
	for (size_t i = 0; i < conf->nsites; i++)
		free(conf->sites[i]);
	free(conf->sites);
	free(conf->tls_ca);
	free(conf->tls_cert);
	free(conf->tls_key);
	free(conf->tls_crl);
	free(conf->data_dir);
	free(conf->control_socket);
	free(conf->path);
	cfg_free(conf->cfg);
	free(conf);
}
