/*
 * profile.c - device profiles: DIR/NAME.conf holds keys of a section
 * (mibs, oid subsections, version, interval...) that sections naming it
 * take as defaults. Each file is parsed once per load with the section's
 * own schema, so its mistakes are reported at its own FILE:LINE. A profile
 * never sets what makes a device itself (address, host) nor names profiles.
 */
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "xmalloc.h"

#define PROFILE_NAME_MAX 64
#define PROFILES_MAX     256 /* distinct profiles one load reads */

struct profile {
	char *name;
	cfg_t *cfg;
	int bad; /* the file had errors (reported once) */
};

struct profile_set {
	cfg_opt_t *opts;
	struct profile **v; /* each on its own: sections hold pointers while more are read */
	size_t n;
	int first_use;
};

/* Keys that make a device what it is, or would chain profiles. */
static const char *const profile_refused[] = {"address", "host", "profile", NULL};

/* libconfuse checks a list after each value and at its end: each key is refused once */
static const cfg_opt_t *profile_refused_said;

struct profile_set *profile_set_new(cfg_opt_t *opts)
{
	struct profile_set *ps = xcalloc(1, sizeof(*ps));

	ps->opts = opts;
	profile_refused_said = NULL;
	return ps;
}

void profile_set_free(struct profile_set *ps)
{
	if (ps == NULL)
		return;
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i]->name);
		if (ps->v[i]->cfg != NULL)
			cfg_free(ps->v[i]->cfg);
		free(ps->v[i]);
	}
	free(ps->v);
	free(ps);
}

int profile_set_first_use(const struct profile_set *ps)
{
	return ps->first_use;
}

static int refuse_in_profile(cfg_t *cfg, cfg_opt_t *opt)
{
	if (opt == profile_refused_said)
		return 0;
	profile_refused_said = opt;
	cfg_error(cfg, "a profile cannot set '%s': set it in the section that names the profile",
		  opt->name);
	return 0; /* reported: parsing goes on and fails at the end */
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a, b, c": the profiles DIR holds, for an error naming one it lacks. */
static void profile_known(const char *dir, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[PROFILES_MAX];
	size_t n = 0, off = 0;

	out[0] = '\0';
	if (d == NULL) {
		snprintf(out, len,
			 "cannot read %s: %s; profile_dir names the folder of the profiles: "
			 "deploy/profiles in Vakt's source, or where make install put them",
			 dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL && n < PROFILES_MAX) {
		size_t l = strlen(e->d_name);

		if (l > 5 && e->d_name[0] != '.' && strcmp(e->d_name + l - 5, ".conf") == 0)
			names[n++] = strndup(e->d_name, l - 5);
	}
	closedir(d);
	if (n == 0) {
		snprintf(out, len, "%s holds no profiles", dir);
		return;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	off = (size_t)snprintf(out, len, "known in %s: ", dir);
	for (size_t i = 0; i < n; i++) {
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, i ? ", %s" : "%s",
						names[i] ? names[i] : "?");
		free(names[i]);
	}
}

static int profile_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROFILE_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* The profile `name`, read on its first use; NULL after reporting why. */
static struct profile *profile_get(struct profile_set *ps, cfg_t *sec, const char *name,
				   const char *dir)
{
	static const char *const bounded[] = {"interval", "timeout", NULL};
	struct profile *pr;
	char *path;
	FILE *f;

	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i]->name, name) == 0)
			return ps->v[i]->bad ? NULL : ps->v[i];
	xasprintf(&path, "%s/%s.conf", dir, name);
	f = fopen(path, "r");
	if (f == NULL) {
		char known[512];

		if (errno == ENOENT) {
			profile_known(dir, known, sizeof(known));
			conf_section_error(sec, "unknown profile \"%s\" (%s)", name, known);
		} else {
			conf_section_error(sec, "profile \"%s\": cannot read %s: %s", name, path,
					   strerror(errno));
		}
		free(path);
		return NULL; /* not remembered: each section naming it says so */
	}
	fclose(f);
	if (ps->n >= PROFILES_MAX) {
		conf_section_error(sec, "profile \"%s\": more than %d profiles in one file", name,
				   PROFILES_MAX);
		free(path);
		return NULL;
	}
	if ((ps->n & (ps->n - 1)) == 0)
		ps->v = xreallocarray(ps->v, ps->n ? 2 * ps->n : 1, sizeof(*ps->v));
	pr = ps->v[ps->n++] = xcalloc(1, sizeof(*pr));
	pr->name = xstrdup(name);
	pr->cfg = cfg_init(ps->opts, CFGF_NONE);
	if (pr->cfg == NULL)
		fatalx("out of memory reading profile \"%s\"", name);
	conf_bound_ints(pr->cfg, bounded);
	for (size_t i = 0; profile_refused[i] != NULL; i++)
		cfg_set_validate_func(pr->cfg, profile_refused[i], refuse_in_profile);
	/*
	 * Its errors are printed at its own lines, once. It is freed only with
	 * the set: cfg_free() also ends libconfuse's lexer, which the parse
	 * that is reading the section naming the profile still uses.
	 */
	pr->bad = conf_parse_file(pr->cfg, path) < 0;
	free(path);
	return pr->bad ? NULL : pr;
}

static int in_list(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static int has_str(cfg_opt_t *o, const char *s)
{
	for (unsigned i = 0; i < cfg_opt_size(o); i++)
		if (strcmp(cfg_opt_getnstr(o, i), s) == 0)
			return 1;
	return 0;
}

/* dst takes src's values (after its own when `append`; a string it holds is not added twice). */
static void copy_values(cfg_opt_t *dst, cfg_opt_t *src, int append)
{
	if (!append)
		cfg_free_value(dst);
	for (unsigned i = 0; i < cfg_opt_size(src); i++) {
		unsigned at = cfg_opt_size(dst);

		if (!(dst->flags & CFGF_LIST))
			at = 0;
		switch (src->type) {
		case CFGT_INT:
			cfg_opt_setnint(dst, cfg_opt_getnint(src, i), at);
			break;
		case CFGT_FLOAT:
			cfg_opt_setnfloat(dst, cfg_opt_getnfloat(src, i), at);
			break;
		case CFGT_BOOL:
			cfg_opt_setnbool(dst, cfg_opt_getnbool(src, i), at);
			break;
		case CFGT_STR:
			if (!append || !has_str(dst, cfg_opt_getnstr(src, i)))
				cfg_opt_setnstr(dst, cfg_opt_getnstr(src, i), at);
			break;
		default:
			break; /* no such keys in a section's schema */
		}
	}
}

/*
 * The subsections of `src` join `sec`'s. The first `nown` of them are the
 * section's own (cfg_addtsec appends, cfg_rmtsec keeps the order of the
 * rest): one of those is kept as it is.
 */
static void merge_sections(cfg_t *sec, cfg_opt_t *dst, cfg_opt_t *src, unsigned nown)
{
	for (unsigned i = 0; i < cfg_opt_size(src); i++) {
		cfg_t *from = cfg_opt_getnsec(src, i);
		const char *title = cfg_title(from);
		int mine = 0;
		cfg_t *to;

		for (unsigned k = 0; k < nown && !mine; k++)
			mine = strcmp(cfg_title(cfg_opt_getnsec(dst, k)), title) == 0;
		if (mine)
			continue;
		/* an earlier profile's of the same title is replaced whole, as the section's would
		 * be */
		if (cfg_gettsec(sec, src->name, title) != NULL)
			cfg_rmtsec(sec, src->name, title);
		if ((to = cfg_addtsec(sec, src->name, title)) == NULL)
			fatalx("out of memory merging profile subsections");
		for (cfg_opt_t *o = from->opts; o->name != NULL; o++)
			if ((o->flags & CFGF_MODIFIED) && o->type != CFGT_SEC)
				copy_values(cfg_getopt(to, o->name), o, 0);
	}
}

int profile_apply(struct profile_set *ps, cfg_t *sec, const char *dir, const char *const *merged)
{
	unsigned n = cfg_size(sec, "profile"), nopts = 0;
	struct profile *use[16];
	unsigned *own; /* per key: set by the section (for a subsection: how many) */
	int bad = 0;

	if (n == 0)
		return 0;
	if (ps->first_use == 0)
		ps->first_use = sec->line;
	if (n > sizeof(use) / sizeof(use[0])) {
		conf_section_error(sec, "profile names %u profiles, at most %zu allowed", n,
				   sizeof(use) / sizeof(use[0]));
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *name = cfg_getnstr(sec, "profile", i);

		use[i] = NULL;
		if (!profile_name_ok(name)) {
			conf_section_error(sec,
					   "profile \"%.64s\": a profile's name is 1..%d letters, "
					   "digits, '-' or '_'",
					   name, PROFILE_NAME_MAX);
			bad = 1;
			continue;
		}
		for (unsigned k = 0; k < i; k++)
			if (strcmp(cfg_getnstr(sec, "profile", k), name) == 0) {
				conf_section_error(sec, "profile \"%s\" is named twice", name);
				bad = 1;
			}
		if ((use[i] = profile_get(ps, sec, name, dir)) == NULL)
			bad = 1;
	}
	if (bad)
		return -1;

	/* what the section sets itself, before any profile adds to it */
	for (cfg_opt_t *o = sec->opts; o->name != NULL; o++)
		nopts++;
	own = xcalloc(nopts ? nopts : 1, sizeof(*own));
	for (unsigned k = 0; k < nopts; k++)
		own[k] = sec->opts[k].type == CFGT_SEC ? cfg_opt_size(&sec->opts[k])
						       : (sec->opts[k].flags & CFGF_MODIFIED) != 0;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < nopts; k++) {
			cfg_opt_t *dst = &sec->opts[k];
			cfg_opt_t *src = cfg_getopt(use[i]->cfg, dst->name);

			if (src == NULL || !(src->flags & CFGF_MODIFIED))
				continue;
			if (dst->type == CFGT_SEC)
				merge_sections(sec, dst, src, own[k]);
			else if (in_list(merged, dst->name))
				copy_values(dst, src, 1);
			else if (!own[k])
				copy_values(dst, src, 0);
		}
	}
	free(own);
	return 0;
}
