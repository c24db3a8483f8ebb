/*
 * series_index.c - the series index in SQLite and in memory (see
 * series_index.h). Readable names come from common/rrdpath.c; this file only
 * makes them unique and remembers them. It must never hand out one path or
 * one DS name twice, nor change a mapping it has handed out.
 */
#include "series_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "hash.h"
#include "log.h"
#include "rrdpath.h"
#include "xmalloc.h"

/*
 * 1: files, series, agents, streams. 2: each file also names the agent and
 * the interval of the sample that made it, so that a restarted collector
 * watches it for no-data before any sample comes (a 1 database is upgraded).
 */
#define SCHEMA_VERSION 2

#define STR_(x)               #x
#define STR(x)                STR_(x)
#define STREAMS_PER_AGENT_STR STR(SERIES_INDEX_STREAMS_PER_AGENT)

/* A hash table of byte-string keys (names may hold any byte but NUL). */
struct hent {
	struct hent *next;
	uint64_t h;
	size_t klen;
	void *val;
	char key[];
};

struct hmap {
	struct hent **b;
	size_t nb, n;
};

static void *hmap_get(const struct hmap *m, const void *k, size_t len)
{
	uint64_t h = hash_fnv1a(k, len);

	if (m->nb == 0)
		return NULL;
	for (struct hent *e = m->b[h & (m->nb - 1)]; e != NULL; e = e->next)
		if (e->h == h && e->klen == len && memcmp(e->key, k, len) == 0)
			return e->val;
	return NULL;
}

/* Adds k (not present); returns the stored copy of the key. */
static const char *hmap_put(struct hmap *m, const void *k, size_t len, void *val)
{
	struct hent *e;

	if (m->n >= m->nb) {
		size_t nb = m->nb ? m->nb * 2 : 64;
		struct hent **b = xcalloc(nb, sizeof(*b));

		for (size_t i = 0; i < m->nb; i++)
			while (m->b[i] != NULL) {
				e = m->b[i];
				m->b[i] = e->next;
				e->next = b[e->h & (nb - 1)];
				b[e->h & (nb - 1)] = e;
			}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	e = xmalloc(sizeof(*e) + len + 1);
	e->h = hash_fnv1a(k, len);
	e->klen = len;
	e->val = val;
	memcpy(e->key, k, len);
	e->key[len] = '\0';
	e->next = m->b[e->h & (m->nb - 1)];
	m->b[e->h & (m->nb - 1)] = e;
	m->n++;
	return e->key;
}

/* Removes k if present; returns its value, NULL when absent. */
static void *hmap_del(struct hmap *m, const void *k, size_t len)
{
	uint64_t h = hash_fnv1a(k, len);
	struct hent **pp, *e;
	void *val;

	if (m->nb == 0)
		return NULL;
	for (pp = &m->b[h & (m->nb - 1)]; (e = *pp) != NULL; pp = &e->next)
		if (e->h == h && e->klen == len && memcmp(e->key, k, len) == 0) {
			*pp = e->next;
			val = e->val;
			free(e);
			m->n--;
			return val;
		}
	return NULL;
}

static void hmap_free(struct hmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->nb; i++)
		while (m->b[i] != NULL) {
			struct hent *e = m->b[i];

			m->b[i] = e->next;
			if (free_val != NULL)
				free_val(e->val);
			free(e);
		}
	free(m->b);
}

/* The file and site structs with the storage behind their names. */
struct file_rec {
	struct series_file f;
	int64_t id;       /* 0 until committed */
	char *names;      /* site, host, check, instance, path, agent: one allocation */
	char *agent;      /* the agent when set after the file was loaded (schema 1's) */
	int origin_dirty; /* agent and interval set since the last commit */
};

struct ds_rec {
	struct series_ds d;
	char *names; /* metric, ds */
};

struct series_index {
	sqlite3 *db;
	char *db_path;
	struct hmap sites;  /* site name -> struct series_site */
	struct hmap files;  /* site\0host\0check\0instance -> struct file_rec */
	struct hmap paths;  /* relative path -> struct file_rec */
	struct hmap series; /* (file, metric) -> struct ds_rec */
	struct hmap dsname; /* (file, ds) -> struct ds_rec */
	struct hmap agents; /* site\0agent -> NULL: agents that ever sent data */
	size_t nseries;
	/* added since the last commit, in order */
	struct file_rec **new_files;
	size_t nnew_files, cap_new_files;
	struct ds_rec **new_ds;
	size_t nnew_ds, cap_new_ds;
	/* files of schema 1 that took their agent and interval since the last commit */
	struct file_rec **origins;
	size_t norigins, cap_origins;
};

static size_t file_key(char *buf, size_t len, const char *site, const char *host, const char *check,
		       const char *instance)
{
	const char *part[4] = {site, host, check, instance};
	size_t n = 0;

	/* the four names with a NUL between them (none after the last): no printf per lookup */
	for (int i = 0; i < 4; i++) {
		size_t k = strlen(part[i]);

		if (n + k + 1 > len)
			return 0;
		memcpy(buf + n, part[i], k);
		n += k;
		if (i < 3)
			buf[n++] = '\0';
	}
	return n;
}

/* (file, name) as a key: the file's address, then the name. */
static size_t ds_key(char *buf, size_t len, const struct series_file *f, const char *name)
{
	size_t n = strlen(name);

	if (sizeof(f) + n > len)
		return 0;
	memcpy(buf, &f, sizeof(f));
	memcpy(buf + sizeof(f), name, n);
	return sizeof(f) + n;
}

static struct series_site *site_get(struct series_index *idx, const char *name)
{
	struct series_site *s = hmap_get(&idx->sites, name, strlen(name));

	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->name = hmap_put(&idx->sites, name, strlen(name), s);
	}
	return s;
}

static struct file_rec *file_insert(struct series_index *idx, int64_t id, const char *site,
				    const char *host, const char *check, const char *instance,
				    const char *path, const char *agent, unsigned interval)
{
	char key[4 * 512];
	size_t klen = file_key(key, sizeof(key), site, host, check, instance);
	size_t ls = strlen(site) + 1, lh = strlen(host) + 1, lc = strlen(check) + 1;
	size_t li = strlen(instance) + 1, lp = strlen(path) + 1, la = strlen(agent) + 1;
	struct file_rec *r;

	if (klen == 0)
		return NULL; /* names are at most 128 bytes on the wire: not reached */
	r = xcalloc(1, sizeof(*r));
	r->id = id;
	r->names = xmalloc(ls + lh + lc + li + lp + la);
	r->f.site = memcpy(r->names, site, ls);
	r->f.host = memcpy(r->names + ls, host, lh);
	r->f.check = memcpy(r->names + ls + lh, check, lc);
	r->f.instance = memcpy(r->names + ls + lh + lc, instance, li);
	r->f.path = memcpy(r->names + ls + lh + lc + li, path, lp);
	r->f.agent = memcpy(r->names + ls + lh + lc + li + lp, agent, la);
	r->f.interval = interval;
	r->f.s = site_get(idx, site);
	hmap_put(&idx->files, key, klen, r);
	hmap_put(&idx->paths, path, lp - 1, r);
	return r;
}

static struct ds_rec *ds_insert(struct series_index *idx, struct series_file *f, const char *metric,
				const char *ds)
{
	char key[sizeof(void *) + 512];
	size_t lm = strlen(metric) + 1, ld = strlen(ds) + 1, klen;
	struct ds_rec *r = xcalloc(1, sizeof(*r));

	r->names = xmalloc(lm + ld);
	r->d.f = f;
	r->d.metric = memcpy(r->names, metric, lm);
	r->d.ds = memcpy(r->names + lm, ds, ld);
	klen = ds_key(key, sizeof(key), f, metric);
	hmap_put(&idx->series, key, klen, r);
	klen = ds_key(key, sizeof(key), f, ds);
	hmap_put(&idx->dsname, key, klen, r);
	f->nds++;
	f->s->nseries++;
	idx->nseries++;
	return r;
}

static int exec(struct series_index *idx, const char *sql, char *why, size_t whylen)
{
	char *err = NULL;

	if (sqlite3_exec(idx->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		snprintf(why, whylen, "%s: %s", idx->db_path, err ? err : sqlite3_errmsg(idx->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

struct id_file {
	int64_t id;
	struct file_rec *r;
};

static int load(struct series_index *idx, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	struct id_file *byid = NULL;
	size_t n = 0, cap = 0, lo, hi;
	int rc;

	/* rowids ascend: the files come sorted by id, for the series' lookups below */
	if (sqlite3_prepare_v2(idx->db,
			       "SELECT id, site, host, check_name, instance, path, agent, interval "
			       "FROM rrd_file ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t interval = sqlite3_column_int64(st, 7);
		struct file_rec *r =
		    file_insert(idx, sqlite3_column_int64(st, 0), col(st, 1), col(st, 2),
				col(st, 3), col(st, 4), col(st, 5), col(st, 6),
				interval > 0 && interval <= UINT32_MAX ? (unsigned)interval : 0);

		if (r == NULL)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			byid = xreallocarray(byid, cap, sizeof(*byid));
		}
		byid[n].id = r->id;
		byid[n++].r = r;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(idx->db, "SELECT file, metric, ds FROM rrd_series", -1, &st, NULL) !=
	    SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);

		lo = 0;
		hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (byid[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && byid[lo].id == id)
			ds_insert(idx, &byid[lo].r->f, col(st, 1), col(st, 2));
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	free(byid);
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(st);
	free(byid);
	return -1;
}

static size_t agent_key(char *buf, size_t len, const char *site, const char *agent)
{
	size_t a = strlen(site), b = strlen(agent);

	if (a + b + 2 > len)
		return 0;
	memcpy(buf, site, a + 1);
	memcpy(buf + a + 1, agent, b + 1);
	return a + b + 2;
}

/*
 * The value of every entry of the agents' map: hmap_get answers NULL for a
 * key it lacks, so a NULL value would make each batch add its agent again.
 */
static char agent_known;

static int load_agents(struct series_index *idx, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	char key[1024];
	int rc;

	if (sqlite3_prepare_v2(idx->db, "SELECT site, agent FROM agent", -1, &st, NULL) !=
	    SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t klen = agent_key(key, sizeof(key), col(st, 0), col(st, 1));

		if (klen && hmap_get(&idx->agents, key, klen) == NULL)
			hmap_put(&idx->agents, key, klen, &agent_known);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(st);
	return -1;
}

int series_index_note_agent(struct series_index *idx, const char *site, const char *agent,
			    char *why, size_t whylen)
{
	char key[1024];
	size_t klen = agent_key(key, sizeof(key), site, agent);
	sqlite3_stmt *st = NULL;

	if (klen == 0 || hmap_get(&idx->agents, key, klen) != NULL ||
	    idx->agents.n >= SERIES_INDEX_AGENTS_MAX)
		return 0;
	if (sqlite3_prepare_v2(
		idx->db, "INSERT OR IGNORE INTO agent (site, agent, first_seen) VALUES (?, ?, ?)",
		-1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, agent, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	hmap_put(&idx->agents, key, klen, &agent_known);
	return 1;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(st);
	return -1;
}

void series_index_foreach_file(const struct series_index *idx,
			       void (*fn)(const struct series_file *f, void *arg), void *arg)
{
	for (size_t i = 0; i < idx->files.nb; i++)
		for (const struct hent *e = idx->files.b[i]; e != NULL; e = e->next)
			fn(&((const struct file_rec *)e->val)->f, arg);
}

int series_index_forget_agent(struct series_index *idx, const char *site, const char *agent,
			      char *why, size_t whylen)
{
	static const char *const sql[] = {
	    "DELETE FROM agent WHERE site = ? AND agent = ?",
	    "DELETE FROM agent_stream WHERE site = ? AND agent = ?",
	};
	char key[1024];
	size_t klen = agent_key(key, sizeof(key), site, agent);
	sqlite3_stmt *st = NULL;
	int found = 0;

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if (sqlite3_prepare_v2(idx->db, sql[i], -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, agent, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		found |= sqlite3_changes(idx->db) > 0;
		sqlite3_finalize(st);
		st = NULL;
	}
	if (klen > 0 && hmap_del(&idx->agents, key, klen) != NULL)
		found = 1;
	return found;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(st);
	return -1;
}

void series_index_foreach_agent(const struct series_index *idx,
				void (*fn)(const char *site, const char *agent, void *arg),
				void *arg)
{
	for (size_t i = 0; i < idx->agents.nb; i++)
		for (const struct hent *e = idx->agents.b[i]; e != NULL; e = e->next)
			fn(e->key, e->key + strlen(e->key) + 1, arg);
}

struct series_index *series_index_open(const char *db_path, char *why, size_t whylen)
{
	static const char schema[] =
	    "CREATE TABLE IF NOT EXISTS rrd_file ("
	    " id INTEGER PRIMARY KEY,"
	    " site TEXT NOT NULL, host TEXT NOT NULL, check_name TEXT NOT NULL,"
	    " instance TEXT NOT NULL,"
	    " path TEXT NOT NULL UNIQUE," /* relative to data_dir */
	    " created INTEGER NOT NULL,"  /* unix seconds */
	    " agent TEXT NOT NULL DEFAULT '',"
	    " interval INTEGER NOT NULL DEFAULT 0,"
	    " UNIQUE (site, host, check_name, instance));"
	    "CREATE TABLE IF NOT EXISTS rrd_series ("
	    " file INTEGER NOT NULL REFERENCES rrd_file(id),"
	    " metric TEXT NOT NULL, ds TEXT NOT NULL,"
	    " created INTEGER NOT NULL,"
	    " PRIMARY KEY (file, metric), UNIQUE (file, ds));"
	    /* every agent that ever sent data: a restarted collector still misses the dead */
	    "CREATE TABLE IF NOT EXISTS agent ("
	    " site TEXT NOT NULL, agent TEXT NOT NULL,"
	    " first_seen INTEGER NOT NULL,"
	    " PRIMARY KEY (site, agent));"
	    /* the highest batch of each agent's stream the collector holds durably */
	    "CREATE TABLE IF NOT EXISTS agent_stream ("
	    " site TEXT NOT NULL, agent TEXT NOT NULL, stream INTEGER NOT NULL,"
	    " acked INTEGER NOT NULL,"
	    " PRIMARY KEY (site, agent, stream));";
	struct series_index *idx = xcalloc(1, sizeof(*idx));
	sqlite3_stmt *st = NULL;
	int version = 0;

	idx->db_path = xstrdup(db_path);
	if (sqlite3_open_v2(db_path, &idx->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(why, whylen, "%s: %s", db_path,
			 idx->db ? sqlite3_errmsg(idx->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(idx->db, 5000);
	/*
	 * WAL: a later reader (the web UI) never blocks the writer. NORMAL is
	 * durable across a crash of the collector; a power cut may lose the
	 * last commit, as it may lose the last RRD updates.
	 */
	if (exec(idx, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", why, whylen) < 0)
		goto fail;
	if (sqlite3_prepare_v2(idx->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		snprintf(why, whylen, "%s: schema version %d is newer than this collector's %d",
			 db_path, version, SCHEMA_VERSION);
		goto fail;
	}
	if (exec(idx, schema, why, whylen) < 0)
		goto fail;
	if (version == 1 &&
	    exec(idx,
		 "BEGIN;"
		 "ALTER TABLE rrd_file ADD COLUMN agent TEXT NOT NULL DEFAULT '';"
		 "ALTER TABLE rrd_file ADD COLUMN interval INTEGER NOT NULL DEFAULT 0;"
		 "PRAGMA user_version = 2;"
		 "COMMIT;",
		 why, whylen) < 0) {
		sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if (version != 1 && exec(idx, "PRAGMA user_version = 2", why, whylen) < 0)
		goto fail;
	if (load(idx, why, whylen) < 0 || load_agents(idx, why, whylen) < 0)
		goto fail;
	return idx;
fail:
	series_index_close(idx);
	return NULL;
}

static void free_file(void *v)
{
	struct file_rec *r = v;

	free(r->f.user);
	free(r->names);
	free(r->agent);
	free(r);
}

static void free_ds(void *v)
{
	struct ds_rec *r = v;

	free(r->names);
	free(r);
}

static void free_site(void *v)
{
	struct series_site *s = v;

	free(s->user);
	free(s);
}

void series_index_close(struct series_index *idx)
{
	if (idx == NULL)
		return;
	sqlite3_close(idx->db);
	hmap_free(&idx->dsname, NULL);
	hmap_free(&idx->agents, NULL);
	hmap_free(&idx->series, free_ds);
	hmap_free(&idx->paths, NULL);
	hmap_free(&idx->files, free_file);
	hmap_free(&idx->sites, free_site);
	free(idx->new_files);
	free(idx->new_ds);
	free(idx->origins);
	free(idx->db_path);
	free(idx);
}

struct series_site *series_index_site(struct series_index *idx, const char *site)
{
	return site_get(idx, site);
}

struct series_file *series_index_file(struct series_index *idx, const char *site, const char *host,
				      const char *check, const char *instance)
{
	char key[4 * 512];
	size_t klen = file_key(key, sizeof(key), site, host, check, instance);
	struct file_rec *r = klen ? hmap_get(&idx->files, key, klen) : NULL;

	return r ? &r->f : NULL;
}

/*
 * The collector's own files at the top of data_dir (the state database and
 * its WAL) must never be a site's directory.
 */
static int reserved(const char *path)
{
	return strncmp(path, "vakt.db", 7) == 0;
}

struct series_file *series_index_add_file(struct series_index *idx, const char *site,
					  const char *host, const char *check, const char *instance,
					  const char *agent, unsigned interval)
{
	char path[RRDPATH_REL_MAX];
	struct file_rec *r;

	for (unsigned n = 1;; n++) {
		if (rrdpath_file(path, sizeof(path), site, host, check, instance, n) < 0)
			return NULL;
		if (reserved(path)) {
			memmove(path + 1, path, strlen(path) + 1);
			path[0] = '_';
		}
		if (hmap_get(&idx->paths, path, strlen(path)) == NULL)
			break;
	}
	r = file_insert(idx, 0, site, host, check, instance, path, agent ? agent : "", interval);
	if (r == NULL)
		return NULL;
	if (idx->nnew_files == idx->cap_new_files) {
		idx->cap_new_files = idx->cap_new_files ? 2 * idx->cap_new_files : 64;
		idx->new_files =
		    xreallocarray(idx->new_files, idx->cap_new_files, sizeof(*idx->new_files));
	}
	idx->new_files[idx->nnew_files++] = r;
	return &r->f;
}

void series_index_set_origin(struct series_index *idx, struct series_file *f, const char *agent,
			     unsigned interval)
{
	struct file_rec *r = (struct file_rec *)f;

	if (interval <= f->interval || agent == NULL)
		return;
	free(r->agent);
	f->agent = r->agent = xstrdup(agent);
	f->interval = interval;
	if (r->id == 0 || r->origin_dirty)
		return; /* not written yet: its insert takes them */
	r->origin_dirty = 1;
	if (idx->norigins == idx->cap_origins) {
		idx->cap_origins = idx->cap_origins ? 2 * idx->cap_origins : 64;
		idx->origins = xreallocarray(idx->origins, idx->cap_origins, sizeof(*idx->origins));
	}
	idx->origins[idx->norigins++] = r;
}

/* The series of f under `name` in one of the two DS maps (by metric, by DS name). */
static struct series_ds *ds_lookup(const struct hmap *m, struct series_file *f, const char *name)
{
	char key[sizeof(void *) + 512];
	size_t klen = ds_key(key, sizeof(key), f, name);
	struct ds_rec *r = klen ? hmap_get(m, key, klen) : NULL;

	return r ? &r->d : NULL;
}

struct series_ds *series_index_ds(struct series_index *idx, struct series_file *f,
				  const char *metric)
{
	return ds_lookup(&idx->series, f, metric);
}

struct series_ds *series_index_ds_named(struct series_index *idx, struct series_file *f,
					const char *ds)
{
	return ds_lookup(&idx->dsname, f, ds);
}

struct series_ds *series_index_add_ds(struct series_index *idx, struct series_file *f,
				      const char *metric)
{
	char ds[RRDPATH_DS_MAX + 1], key[sizeof(void *) + 512];
	struct ds_rec *r;

	for (unsigned n = 1;; n++) {
		size_t klen;

		rrdpath_dsname(ds, sizeof(ds), metric, n);
		klen = ds_key(key, sizeof(key), f, ds);
		if (hmap_get(&idx->dsname, key, klen) == NULL)
			break;
	}
	r = ds_insert(idx, f, metric, ds);
	if (idx->nnew_ds == idx->cap_new_ds) {
		idx->cap_new_ds = idx->cap_new_ds ? 2 * idx->cap_new_ds : 64;
		idx->new_ds = xreallocarray(idx->new_ds, idx->cap_new_ds, sizeof(*idx->new_ds));
	}
	idx->new_ds[idx->nnew_ds++] = r;
	return &r->d;
}

static void bind_names(sqlite3_stmt *st, int first, const char *const *v, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_text(st, first + i, v[i], -1, SQLITE_STATIC);
}

int series_index_commit(struct series_index *idx, char *why, size_t whylen)
{
	sqlite3_stmt *fst = NULL, *dst = NULL, *ost = NULL;
	size_t i;
	int64_t now = (int64_t)time(NULL);

	if (idx->nnew_files == 0 && idx->nnew_ds == 0 && idx->norigins == 0)
		return 0;
	if (exec(idx, "BEGIN", why, whylen) < 0)
		return -1;
	if (sqlite3_prepare_v2(idx->db,
			       "INSERT INTO rrd_file (site, host, check_name, instance, path, "
			       "agent, created, interval) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &fst, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(idx->db,
			       "INSERT INTO rrd_series (file, metric, ds, created) "
			       "VALUES (?, ?, ?, ?)",
			       -1, &dst, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(idx->db, "UPDATE rrd_file SET agent = ?, interval = ? WHERE id = ?",
			       -1, &ost, NULL) != SQLITE_OK)
		goto fail;
	for (i = 0; i < idx->nnew_files; i++) {
		struct file_rec *r = idx->new_files[i];
		const char *v[] = {r->f.site,     r->f.host, r->f.check,
				   r->f.instance, r->f.path, r->f.agent};

		bind_names(fst, 1, v, 6);
		sqlite3_bind_int64(fst, 7, now);
		sqlite3_bind_int64(fst, 8, r->f.interval);
		if (sqlite3_step(fst) != SQLITE_DONE)
			goto fail;
		r->id = sqlite3_last_insert_rowid(idx->db);
		sqlite3_reset(fst);
	}
	for (i = 0; i < idx->nnew_ds; i++) {
		struct ds_rec *r = idx->new_ds[i];
		const struct file_rec *fr = (const struct file_rec *)r->d.f;
		const char *v[] = {r->d.metric, r->d.ds};

		sqlite3_bind_int64(dst, 1, fr->id);
		bind_names(dst, 2, v, 2);
		sqlite3_bind_int64(dst, 4, now);
		if (sqlite3_step(dst) != SQLITE_DONE)
			goto fail;
		sqlite3_reset(dst);
	}
	for (i = 0; i < idx->norigins; i++) {
		const struct file_rec *r = idx->origins[i];

		sqlite3_bind_text(ost, 1, r->f.agent, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ost, 2, r->f.interval);
		sqlite3_bind_int64(ost, 3, r->id);
		if (sqlite3_step(ost) != SQLITE_DONE)
			goto fail;
		sqlite3_reset(ost);
	}
	sqlite3_finalize(fst);
	sqlite3_finalize(dst);
	sqlite3_finalize(ost);
	fst = dst = ost = NULL;
	if (sqlite3_exec(idx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	idx->nnew_files = 0;
	idx->nnew_ds = 0;
	for (i = 0; i < idx->norigins; i++)
		idx->origins[i]->origin_dirty = 0;
	idx->norigins = 0;
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(fst);
	sqlite3_finalize(dst);
	sqlite3_finalize(ost);
	sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
	/* the ids handed out in the failed transaction do not exist: write them again */
	for (i = 0; i < idx->nnew_files; i++)
		idx->new_files[i]->id = 0;
	return -1;
}

void series_index_counts(const struct series_index *idx, size_t *files, size_t *series)
{
	*files = idx->files.n;
	*series = idx->nseries;
}

int series_index_load_streams(struct series_index *idx,
			      void (*fn)(const struct series_stream *st, void *arg), void *arg,
			      char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* the newest streams of each agent, oldest first (rowids grow with each insert) */
	if (sqlite3_prepare_v2(idx->db,
			       "SELECT site, agent, stream, acked FROM (SELECT *, rowid AS r, "
			       "row_number() OVER (PARTITION BY site, agent ORDER BY rowid DESC) "
			       "AS k FROM agent_stream) WHERE k <= " STREAMS_PER_AGENT_STR
			       " ORDER BY r",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct series_stream x = {col(st, 0), col(st, 1),
					  (uint64_t)sqlite3_column_int64(st, 2),
					  (uint64_t)sqlite3_column_int64(st, 3)};

		fn(&x, arg);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(st);
	return -1;
}

int series_index_save_streams(struct series_index *idx, const struct series_stream *v, size_t n,
			      char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;

	if (n == 0)
		return 0;
	/* the journal that held these goes next: this commit must survive a power cut */
	if (exec(idx, "PRAGMA synchronous=FULL; BEGIN", why, whylen) < 0)
		return -1;
	if (sqlite3_prepare_v2(idx->db,
			       "INSERT INTO agent_stream (site, agent, stream, acked) "
			       "VALUES (?, ?, ?, ?) ON CONFLICT (site, agent, stream) "
			       "DO UPDATE SET acked = max(acked, excluded.acked)",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, v[i].site, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, v[i].agent, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)v[i].stream);
		sqlite3_bind_int64(st, 4, (int64_t)v[i].acked);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* the agents' older streams go (v is in the order the streams were made) */
	if (sqlite3_exec(
		idx->db,
		"DELETE FROM agent_stream WHERE rowid IN (SELECT r FROM (SELECT rowid AS r, "
		"row_number() OVER (PARTITION BY site, agent ORDER BY rowid DESC) AS k "
		"FROM agent_stream) WHERE k > " STREAMS_PER_AGENT_STR ")",
		NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(idx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	exec(idx, "PRAGMA synchronous=NORMAL", why, whylen);
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", idx->db_path, sqlite3_errmsg(idx->db));
	sqlite3_finalize(st);
	sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(idx->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	return -1;
}
