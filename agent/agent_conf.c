/*
 * agent_conf.c - the agent's configuration: schema, validation, and the
 * checks it declares. All-or-nothing: any error and nothing is returned.
 * Every message names FILE:LINE; check kinds validate their own sections.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "log.h"
#include "profile.h"
#include "rrdpath.h"
#include "xmalloc.h"

#define MAX_OPTS 64

/*
 * The load in progress: libconfuse validators have no user pointer. The
 * indexes (check name -> check, "kind\nhost" -> check) keep the duplicate
 * checks O(1) per section, so a file of n checks loads in O(n).
 */
static struct agent_conf *loading;
static struct conf_index *loading_names, *loading_hosts, *loading_paths;
static struct profile_set *loading_profiles;

/* Where profiles are read when the file does not say (set by the build). */
#ifndef VAKT_PROFILE_DIR
#define VAKT_PROFILE_DIR "/usr/local/share/vakt/profiles"
#endif
/* Lists a profile adds to instead of replacing: `profile = {"linux", "ups"}` polls both groups. */
static const char *const profile_lists_add[] = {"mibs", NULL};

/* Bounds of queue_size: below a few frames the queue holds nothing useful. */
#define QUEUE_SIZE_MIN (1LL << 20)
#define QUEUE_SIZE_MAX (64LL << 30)

static int validate_queue_size(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	long long v = conf_parse_size(s);

	if (v < 0)
		cfg_error(cfg, "queue_size must be a size such as \"64M\" or \"2G\", got \"%s\"",
			  s);
	else if (v < QUEUE_SIZE_MIN || v > QUEUE_SIZE_MAX)
		cfg_error(cfg, "queue_size must be 1M..64G, got \"%s\"", s);
	return 0; /* reported: parsing goes on and fails at the end */
}

/* The line of the first collector, for an error after parsing. */
static int collector_line;
/* The collectors read so far, while a file loads: one address may have one section. */
static struct {
	char *name, *address;
} *loading_collectors;
static size_t nloading_collectors;

/* Bounds of spool_size: below a few segments the spool holds nothing useful. */
#define SPOOL_SIZE_MIN  (64LL << 10)
#define SPOOL_SIZE_MAX  (1LL << 40)
#define SPOOL_FSYNC_MAX 3600

static int validate_spool_size(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	long long v = conf_parse_size(s);

	if (v < 0)
		cfg_error(cfg, "spool_size must be a size such as \"256M\" or \"2G\", got \"%s\"",
			  s);
	else if (v < SPOOL_SIZE_MIN || v > SPOOL_SIZE_MAX)
		cfg_error(cfg, "spool_size must be 64k..1T, got \"%s\"", s);
	return 0; /* reported: parsing goes on and fails at the end */
}

static int validate_spool_fsync(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);

	if (v < 0 || v > SPOOL_FSYNC_MAX)
		cfg_error(cfg, "spool_fsync must be 0..%d s (0: every batch), got %ld",
			  SPOOL_FSYNC_MAX, v);
	return 0; /* reported: parsing goes on and fails at the end */
}

static int validate_failback(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);

	if (v < 0 || v > CONF_INTERVAL_MAX)
		cfg_error(cfg, "failback must be 0..%d s (0: never), got %ld", CONF_INTERVAL_MAX,
			  v);
	return 0; /* reported: parsing goes on and fails at the end */
}

static int validate_spool_dir(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);

	if (s == NULL || s[0] != '/')
		cfg_error(cfg, "spool_dir must be an absolute path, got \"%s\"", s ? s : "");
	else if (loading != NULL)
		loading->spool_dir_line = cfg->line;
	return 0; /* reported: parsing goes on and fails at the end */
}

/* A relative profile_dir is taken from the config file's own directory. */
static int validate_profile_dir(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	const char *slash;

	if (s == NULL || *s == '\0') {
		cfg_error(cfg, "profile_dir must not be empty");
		return 0; /* reported: parsing goes on and fails at the end */
	}
	if (loading == NULL)
		return 0;
	if (loading_profiles != NULL && profile_set_first_use(loading_profiles) != 0) {
		cfg_error(cfg,
			  "profile_dir must come before the first section that names a profile "
			  "(line %d)",
			  profile_set_first_use(loading_profiles));
		return 0; /* reported: parsing goes on and fails at the end */
	}
	free(loading->profile_dir);
	slash = strrchr(loading->path, '/');
	if (s[0] == '/' || slash == NULL)
		loading->profile_dir = xstrdup(s);
	else
		xasprintf(&loading->profile_dir, "%.*s/%s", (int)(slash - loading->path),
			  loading->path, s);
	return 0;
}

static int validate_collector(cfg_t *cfg, cfg_opt_t *opt)
{
	static const char *const req[] = {"address", NULL};
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);

	if (collector_line == 0)
		collector_line = cfg->line;
	if (!conf_had_errors(sec))
		conf_require(sec, req);
	/* a second section for one collector would make failover try it twice, silently */
	if (cfg_getstr(sec, "address") == NULL)
		return 0;
	for (size_t i = 0; i < nloading_collectors; i++)
		if (strcasecmp(loading_collectors[i].address, cfg_getstr(sec, "address")) == 0) {
			cfg_error(cfg,
				  "collector \"%s\": address \"%s\" is that of collector \"%s\" "
				  "already: give each collector one section",
				  cfg_title(sec), cfg_getstr(sec, "address"),
				  loading_collectors[i].name);
			return 0;
		}
	loading_collectors = xreallocarray(loading_collectors, nloading_collectors + 1,
					   sizeof(*loading_collectors));
	loading_collectors[nloading_collectors].name = xstrdup(cfg_title(sec));
	loading_collectors[nloading_collectors++].address = xstrdup(cfg_getstr(sec, "address"));
	return 0;
}

static const cfg_opt_t common_check_opts[] = {
    CFG_INT("interval", 60, CFGF_NONE),
    CFG_INT("timeout", 2000, CFGF_NONE),
    CFG_STR("host", NULL, CFGF_NODEFAULT),
};
#define NCOMMON (sizeof(common_check_opts) / sizeof(common_check_opts[0]))

static int opt_in(const cfg_opt_t *opts, const char *name)
{
	for (; opts->name != NULL; opts++)
		if (strcmp(opts->name, name) == 0)
			return 1;
	return 0;
}

/* Builds the option list of one section: common keys + the kinds' own keys. */
static void build_section_opts(cfg_opt_t *out, const char *section)
{
	size_t n = 0;

	for (size_t i = 0; i < NCOMMON; i++)
		out[n++] = common_check_opts[i];
	if (strcmp(section, "probe") == 0)
		out[n++] = (cfg_opt_t)CFG_STR("kind", NULL, CFGF_NODEFAULT);
	for (size_t k = 0; check_kinds[k] != NULL; k++) {
		if (strcmp(check_kinds[k]->section, section) != 0)
			continue;
		for (const cfg_opt_t *o = check_kinds[k]->opts; o->name != NULL; o++) {
			int dup = 0;

			for (size_t j = 0; j < n; j++)
				dup |= strcmp(out[j].name, o->name) == 0;
			if (!dup && n < MAX_OPTS - 1)
				out[n++] = *o;
		}
	}
	out[n] = (cfg_opt_t)CFG_END();
}

/* A key set in `sec` that neither the common keys nor `kind` know. */
static const char *foreign_key(cfg_t *sec, const struct check_kind *kind)
{
	for (cfg_opt_t *o = sec->opts; o->name != NULL; o++) {
		int common = strcmp(o->name, "kind") == 0;

		for (size_t i = 0; i < NCOMMON; i++)
			common |= strcmp(common_check_opts[i].name, o->name) == 0;
		if (!common && cfg_size(sec, o->name) > 0 && (o->flags & CFGF_MODIFIED) &&
		    !opt_in(kind->opts, o->name))
			return o->name;
	}
	return NULL;
}

/*
 * Two checks whose names differ only on disk ("Gi0/1" and "Gi0_1", "Tromsø"
 * and "Tromso") are kept apart by the collector's series index, but one of
 * them gets a suffixed file name that an operator reading data_dir can
 * mistake: say so while the config is checked. Not an error.
 */
static void warn_same_file(cfg_t *cfg, const struct check_kind *kind, const struct check *c)
{
	const char *check = kind->result_check != NULL ? kind->result_check : c->name;
	char path[RRDPATH_REL_MAX];
	struct check *other;

	if (rrdpath_file(path, sizeof(path), "site", c->host, check, "", 1) < 0)
		return;
	other = conf_index_gets(loading_paths, path);
	if (other == NULL) {
		conf_index_puts(loading_paths, path, (void *)c);
		return;
	}
	fprintf(conf_error_stream(),
		"%s:%d: warning: %s \"%s\" (host \"%s\") and \"%s\" (host \"%s\") both "
		"become %s on disk; the collector keeps them apart, but one file gets a "
		"\"~2\" suffix\n",
		cfg->filename ? cfg->filename : "?", cfg->line, kind->section, c->name, c->host,
		other->name, other->host, path + strlen("site/"));
}

static int validate_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *title = cfg_title(sec);
	const struct check_kind *kind;
	const char *bad;
	struct check *c, *other;
	char hostkey[512];

	if (conf_had_errors(sec))
		return 0;
	if (strcmp(cfg_name(sec), "probe") == 0) {
		const char *k = cfg_getstr(sec, "kind");

		if (k == NULL) {
			conf_section_error(sec, "missing required key 'kind'");
			return 0; /* reported: go on, add no check */
		}
		kind = check_kind_find(k);
		if (kind == NULL || strcmp(kind->section, "probe") != 0) {
			conf_section_error(sec, "unknown probe kind \"%s\"", k);
			return 0; /* reported: go on, add no check */
		}
	} else {
		kind = check_kind_find(cfg_name(sec));
	}
	/* a profile's keys are the section's defaults, interval and timeout too */
	if (opt_in(kind->opts, "profile") &&
	    profile_apply(loading_profiles, sec, loading->profile_dir, profile_lists_add) < 0)
		return 0; /* reported: go on, add no check */
	if ((bad = foreign_key(sec, kind)) != NULL) {
		conf_section_error(sec, "key '%s' does not apply to kind \"%s\"", bad, kind->name);
		return 0; /* reported: go on, add no check */
	}
	if (conf_index_gets(loading_names, title) != NULL) {
		conf_section_error(sec, "duplicate check name \"%s\"", title);
		return 0; /* reported: go on, add no check */
	}
	if (cfg_getint(sec, "timeout") >= cfg_getint(sec, "interval") * 1000) {
		conf_section_error(sec, "timeout (%ld ms) must be shorter than interval (%ld s)",
				   cfg_getint(sec, "timeout"), cfg_getint(sec, "interval"));
		return 0; /* reported: go on, add no check */
	}
	c = xcalloc(1, sizeof(*c));
	c->kind = kind;
	c->name = xstrdup(title);
	c->interval = (unsigned)cfg_getint(sec, "interval");
	c->timeout_ms = (unsigned)cfg_getint(sec, "timeout");
	if (cfg_getstr(sec, "host") != NULL) {
		c->host = xstrdup(cfg_getstr(sec, "host"));
	} else if (strcmp(cfg_name(sec), "probe") == 0 && cfg_getstr(sec, "address") != NULL) {
		/* a probe belongs to the host it probes */
		char host[256];
		unsigned port;
		const char *why;

		if (conf_split_hostport(cfg_getstr(sec, "address"), host, sizeof(host), &port, 1,
					&why) == 0)
			c->host = xstrdup(host);
	}
	if (c->host == NULL)
		c->host = xstrdup(title);
	snprintf(hostkey, sizeof(hostkey), "%s\n%s", kind->name, c->host);
	if (kind->one_per_host && (other = conf_index_gets(loading_hosts, hostkey)) != NULL) {
		conf_section_error(sec, "host \"%s\" is already polled by %s \"%s\"", c->host,
				   kind->name, other->name);
		check_free(c);
		return 0; /* reported: go on, add no check */
	}
	if (kind->parse_config(c, sec) < 0) {
		check_free(c);
		return 0; /* reported: go on, add no check */
	}
	warn_same_file(cfg, kind, c);
	/* the array doubles at each power of two: linear in all */
	if ((loading->nchecks & (loading->nchecks - 1)) == 0)
		loading->checks = xreallocarray(
		    loading->checks, loading->nchecks ? 2 * loading->nchecks : 1, sizeof(c));
	loading->checks[loading->nchecks++] = c;
	conf_index_puts(loading_names, c->name, c);
	if (kind->one_per_host)
		conf_index_puts(loading_hosts, hostkey, c);
	return 0;
}

struct agent_conf *agent_conf_load(const char *path)
{
	static cfg_opt_t snmp_opts[MAX_OPTS], probe_opts[MAX_OPTS];
	cfg_opt_t collector_opts[] = {
	    CFG_STR("address", NULL, CFGF_NODEFAULT),
	    CFG_STR("server_name", NULL, CFGF_NODEFAULT),
	    CFG_END(),
	};
	cfg_opt_t tls_opts[] = {
	    CFG_STR("ca", NULL, CFGF_NODEFAULT),
	    CFG_STR("cert", NULL, CFGF_NODEFAULT),
	    CFG_STR("key", NULL, CFGF_NODEFAULT),
	    CFG_END(),
	};
	cfg_opt_t opts[] = {
	    CFG_STR("site", NULL, CFGF_NODEFAULT),
	    CFG_STR("name", NULL, CFGF_NODEFAULT),
	    CFG_SEC("collector", collector_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_INT("batch_ms", 250, CFGF_NONE),
	    CFG_INT("queue_batches", 4096, CFGF_NONE),
	    CFG_STR("queue_size", "64M", CFGF_NONE),
	    CFG_STR("spool_dir", NULL, CFGF_NODEFAULT),
	    CFG_STR("spool_size", "256M", CFGF_NONE),
	    CFG_INT("spool_fsync", 1, CFGF_NONE),
	    CFG_INT("failback", 30, CFGF_NONE),
	    CFG_INT("max_frame", 1048576, CFGF_NONE),
	    CFG_INT("snmp_in_flight", 256, CFGF_NONE),
	    CFG_INT("max_session_series", 1000000, CFGF_NONE),
	    CFG_STR("profile_dir", NULL, CFGF_NODEFAULT),
	    CFG_BOOL("insecure", cfg_false, CFGF_NONE),
	    CFG_SEC("tls", tls_opts, CFGF_NODEFAULT),
	    CFG_SEC("snmp", snmp_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_SEC("probe", probe_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_END(),
	};
	static const char *const ints[] = {
	    "batch_ms",       "queue_batches", "max_frame",      "snmp|interval",  "snmp|timeout",
	    "probe|interval", "probe|timeout", "snmp_in_flight", "snmp|in_flight",
	    "max_session_series", NULL};
	struct agent_conf *conf = xcalloc(1, sizeof(*conf));
	cfg_t *cfg;
	int ok;

	build_section_opts(snmp_opts, "snmp");
	build_section_opts(probe_opts, "probe");
	cfg = cfg_init(opts, CFGF_NONE);
	cfg_set_validate_func(cfg, "site", conf_validate_name);
	cfg_set_validate_func(cfg, "name", conf_validate_name);
	conf_bound_ints(cfg, ints);
	cfg_set_validate_func(cfg, "collector", validate_collector);
	cfg_set_validate_func(cfg, "queue_size", validate_queue_size);
	cfg_set_validate_func(cfg, "spool_dir", validate_spool_dir);
	cfg_set_validate_func(cfg, "spool_size", validate_spool_size);
	cfg_set_validate_func(cfg, "spool_fsync", validate_spool_fsync);
	cfg_set_validate_func(cfg, "failback", validate_failback);
	cfg_set_validate_func(cfg, "profile_dir", validate_profile_dir);
	cfg_set_validate_func(cfg, "collector|address", conf_validate_hostport);
	cfg_set_validate_func(cfg, "collector|server_name", conf_validate_name);
	conf_transport_validate(cfg, 0);
	cfg_set_validate_func(cfg, "snmp|host", conf_validate_name);
	cfg_set_validate_func(cfg, "probe|host", conf_validate_name);
	cfg_set_validate_func(cfg, "snmp|address", conf_validate_address);
	cfg_set_validate_func(cfg, "probe|address", conf_validate_address);
	cfg_set_validate_func(cfg, "snmp", validate_check);
	cfg_set_validate_func(cfg, "probe", validate_check);

	conf->path = xstrdup(path);
	conf->profile_dir = xstrdup(VAKT_PROFILE_DIR);
	loading = conf;
	loading_profiles = profile_set_new(snmp_opts);
	loading_names = conf_index_new();
	loading_hosts = conf_index_new();
	loading_paths = conf_index_new();
	collector_line = 0;
	conf_transport_reset();
	ok = conf_parse_file(cfg, path) == 0;
	for (size_t i = 0; i < nloading_collectors; i++) {
		free(loading_collectors[i].name);
		free(loading_collectors[i].address);
	}
	free(loading_collectors);
	loading_collectors = NULL;
	nloading_collectors = 0;
	conf_index_free(loading_names);
	conf_index_free(loading_hosts);
	conf_index_free(loading_paths);
	profile_set_free(loading_profiles);
	loading_profiles = NULL;
	loading_paths = NULL;
	loading_names = loading_hosts = NULL;
	loading = NULL;
	if (ok && cfg_getstr(cfg, "site") == NULL) {
		fprintf(conf_error_stream(), "%s: missing required key 'site'\n", path);
		ok = 0;
	}
	if (ok && cfg_size(cfg, "collector") == 0) {
		fprintf(conf_error_stream(), "%s: at least one collector section is required\n",
			path);
		ok = 0;
	}
	if (ok &&
	    conf_transport_check(cfg, path, collector_line,
				 "add tls { ca = \"ca.crt\", cert = \"SITE.crt\", key = "
				 "\"SITE.key\" } to reach the collector over TLS, or insecure = "
				 "yes to send in plaintext") < 0)
		ok = 0;
	if (ok && conf->nchecks == 0)
		log_warnx("%s: no snmp or probe sections: the agent has nothing to do", path);
	if (!ok) {
		cfg_free(cfg);
		agent_conf_free(conf);
		return NULL;
	}
	conf->site = xstrdup(cfg_getstr(cfg, "site"));
	if (cfg_getstr(cfg, "name") != NULL) {
		conf->name = xstrdup(cfg_getstr(cfg, "name"));
	} else {
		char hn[HOST_NAME_MAX + 1] = "agent";

		gethostname(hn, sizeof(hn));
		hn[sizeof(hn) - 1] = '\0';
		conf->name = xstrdup(hn);
	}
	conf->ncollectors = cfg_size(cfg, "collector");
	conf->collectors = xcalloc(conf->ncollectors, sizeof(*conf->collectors));
	for (size_t i = 0; i < conf->ncollectors; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "collector", i);

		conf->collectors[i].name = xstrdup(cfg_title(sec));
		conf->collectors[i].address = xstrdup(cfg_getstr(sec, "address"));
		if (cfg_getstr(sec, "server_name") != NULL) {
			conf->collectors[i].server_name = xstrdup(cfg_getstr(sec, "server_name"));
		} else {
			char host[256];
			unsigned port;
			const char *why;

			/* validated above: the address splits */
			conf_split_hostport(conf->collectors[i].address, host, sizeof(host), &port,
					    0, &why);
			conf->collectors[i].server_name = xstrdup(host);
		}
	}
	conf->insecure = cfg_getbool(cfg, "insecure");
	if (cfg_size(cfg, "tls") > 0) {
		cfg_t *t = cfg_getsec(cfg, "tls");

		conf->tls_ca = xstrdup(cfg_getstr(t, "ca"));
		conf->tls_cert = xstrdup(cfg_getstr(t, "cert"));
		conf->tls_key = xstrdup(cfg_getstr(t, "key"));
		conf->tls_line = conf_transport_tls_line();
	}
	conf->batch_ms = (unsigned)cfg_getint(cfg, "batch_ms");
	conf->queue_batches = (unsigned)cfg_getint(cfg, "queue_batches");
	conf->queue_bytes = (unsigned long long)conf_parse_size(cfg_getstr(cfg, "queue_size"));
	conf->max_frame = (unsigned)cfg_getint(cfg, "max_frame");
	conf->snmp_in_flight = (unsigned)cfg_getint(cfg, "snmp_in_flight");
	conf->max_session_series = (unsigned)cfg_getint(cfg, "max_session_series");
	if (cfg_getstr(cfg, "spool_dir") != NULL)
		conf->spool_dir = xstrdup(cfg_getstr(cfg, "spool_dir"));
	conf->spool_size = (unsigned long long)conf_parse_size(cfg_getstr(cfg, "spool_size"));
	conf->spool_fsync = (unsigned)cfg_getint(cfg, "spool_fsync");
	conf->failback_s = (unsigned)cfg_getint(cfg, "failback");
	cfg_free(cfg);
	return conf;
}

void agent_conf_free(struct agent_conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->nchecks; i++)
		check_free(conf->checks[i]);
	free(conf->checks);
	for (size_t i = 0; i < conf->ncollectors; i++) {
		free(conf->collectors[i].name);
		free(conf->collectors[i].address);
		free(conf->collectors[i].server_name);
	}
	free(conf->tls_ca);
	free(conf->tls_cert);
	free(conf->tls_key);
	free(conf->collectors);
	free(conf->site);
	free(conf->name);
	free(conf->spool_dir);
	free(conf->profile_dir);
	free(conf->path);
	free(conf);
}
