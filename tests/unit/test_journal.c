/*
 * test_journal.c - the collector's journal: batches read back as they were
 * appended (names, values, stream and seq), a torn or corrupt tail is cut
 * at start-up with what came before kept, a corrupt record in the middle
 * costs only itself (the batches after it were acknowledged), rotation and
 * checkpoints remove only finished files, the checksum is CRC-32, and files
 * of the versions before (samples in their long form) are still replayed.
 * A file made at its full size up front ends in zeros: replay reads them
 * as the file's clean end, silently, while damage before them is cut as
 * in a file that grew.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"
#include "sample.h"

/* A journal file's banner: "VAKTJNL3" and the file's 8-byte salt. */
#define BANNER 16

struct got {
	struct sample_batch *b[16];
	int n;
};

static void keep(struct sample_batch *b, void *arg)
{
	struct got *g = arg;

	assert_true(g->n < 16);
	g->b[g->n++] = b;
}

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		sample_batch_free(g->b[i]);
	g->n = 0;
}

/*
 * Batch seq of n samples: more metrics than the journal's ring of recent
 * names holds, a host and an instance changing now and then, two samples a
 * timestamp, and an interval and a width that change.
 */
static struct sample_batch *batch(uint64_t seq, size_t n)
{
	static const char *const metric[] = {"in", "out", "status", "speed", "errors", "drops"};
	struct sample_batch *b = sample_batch_new("rissa", "vm1", 7, seq, n);

	b->stream = 0x1234567890abcdefULL;
	for (size_t i = 0; i < n; i++) {
		struct sample *x =
		    sample_batch_add(b, i < 7 ? "sw1" : "sw2", "if", i % 2 ? "Gi0/1" : "",
				     metric[i % 5 == 4 ? 4 + (i / 5) % 2 : i % 4]);

		x->time_ms = 1700000000000LL + (int64_t)seq * 1000 + (int64_t)(i / 2);
		x->kind = i % 3 ? SAMPLE_GAUGE : SAMPLE_COUNTER;
		x->value = 0.5 + (double)i;
		x->counter = 1000 + i;
		x->interval = i < 9 ? 60 : 300;
		x->width = i % 4 ? 64 : 32;
		x->unknown = i == 4;
	}
	return b;
}

/* Whether batch b holds what batch(seq, n) made. */
static void assert_batch(const struct sample_batch *b, uint64_t seq, size_t n)
{
	struct sample_batch *want = batch(seq, n);

	assert_string_equal(b->site, "rissa");
	assert_string_equal(b->agent, "vm1");
	assert_int_equal(b->seq, seq);
	assert_true(b->stream == 0x1234567890abcdefULL);
	assert_int_equal(b->n, n);
	for (size_t k = 0; k < n; k++) {
		assert_string_equal(b->v[k].host, want->v[k].host);
		assert_string_equal(b->v[k].check, want->v[k].check);
		assert_string_equal(b->v[k].instance, want->v[k].instance);
		assert_string_equal(b->v[k].metric, want->v[k].metric);
		assert_true(b->v[k].time_ms == want->v[k].time_ms);
		assert_int_equal(b->v[k].kind, want->v[k].kind);
		assert_int_equal(b->v[k].unknown, want->v[k].unknown);
		assert_int_equal(b->v[k].interval, want->v[k].interval);
		assert_int_equal(b->v[k].width, want->v[k].width);
		if (want->v[k].kind == SAMPLE_GAUGE)
			assert_true(b->v[k].value == want->v[k].value);
		else
			assert_true(b->v[k].counter == want->v[k].counter);
	}
	sample_batch_free(want);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/vakt-test-journal.XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_rf(const char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/*
 * Appends batches 1..n, one commit each, into a journal under dir whose
 * files are made ahead at `segment` bytes (0: they grow, as an older
 * collector's did).
 */
static void write_batches(const char *dir, int n, uint64_t segment)
{
	char why[256];
	struct journal *j = journal_open(dir, segment, why, sizeof(why));

	assert_non_null(j);
	for (int i = 1; i <= n; i++) {
		struct sample_batch *b = batch((uint64_t)i, 5);

		journal_append(j, b);
		assert_int_equal(journal_commit(j, why, sizeof(why)), 0);
		sample_batch_free(b);
	}
	journal_free(j);
}

static void test_crc32_is_ieee(void **state)
{
	assert_int_equal(journal_crc32("123456789", 9), 0xcbf43926U);
	assert_int_equal(journal_crc32("", 0), 0);
}

static void test_batches_read_back_as_appended(void **state)
{
	char *d = tmpdir(), *d2 = tmpdir(), why[256];
	struct journal_replay_stats st;
	struct got g = {0}, g2 = {0};
	struct journal *j, *j2;
	struct sample_batch *big;

	write_batches(d, 3, 0);
	j = journal_open(d, 0, why, sizeof(why));
	assert_non_null(j);
	assert_int_equal(journal_replay(j, keep, &g, &st, why, sizeof(why)), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(st.records, 3);
	assert_int_equal(st.samples, 15);
	/* a batch of many samples: names from the ring, times and intervals left out */
	j2 = journal_open(d2, 0, why, sizeof(why));
	assert_non_null(j2);
	big = batch(9, 40);
	journal_append(j2, big);
	assert_int_equal(journal_commit(j2, why, sizeof(why)), 0);
	sample_batch_free(big);
	journal_free(j2);
	j2 = journal_open(d2, 0, why, sizeof(why));
	assert_int_equal(journal_replay(j2, keep, &g2, &st, why, sizeof(why)), 0);
	assert_int_equal(g2.n, 1);
	assert_batch(g2.b[0], 9, 40);
	got_free(&g2);
	journal_free(j2);
	rm_rf(d2);
	free(d2);
	assert_int_equal(st.cut_bytes, 0);
	for (int i = 0; i < 3; i++)
		assert_batch(g.b[i], (uint64_t)i + 1, 5);
	got_free(&g);
	journal_free(j);
	rm_rf(d);
	free(d);
}

/* The only journal file of dir (written by write_batches). */
static void first_file(const char *d, char *path, size_t len)
{
	snprintf(path, len, "%s/journal.0000000001", d);
}

static void test_torn_tail_is_cut_and_the_rest_kept(void **state)
{
	char *d = tmpdir(), why[256], path[512];
	struct journal_replay_stats st;
	struct got g = {0};
	struct journal *j;
	struct stat sb;

	write_batches(d, 3, 0);
	first_file(d, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	/* the last record loses its last 3 bytes, as in a crash mid-write */
	assert_int_equal(truncate(path, sb.st_size - 3), 0);
	j = journal_open(d, 0, why, sizeof(why));
	assert_int_equal(journal_replay(j, keep, &g, &st, why, sizeof(why)), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.b[1]->seq, 2);
	assert_true(st.cut_bytes > 0);
	/* cut on disk: a second start reads the same two, and cuts nothing */
	got_free(&g);
	journal_free(j);
	j = journal_open(d, 0, why, sizeof(why));
	assert_int_equal(journal_replay(j, keep, &g, &st, why, sizeof(why)), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(st.cut_bytes, 0);
	got_free(&g);
	journal_free(j);
	rm_rf(d);
	free(d);
}

/* Flips one byte of path at off. */
static void flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	c = fgetc(f);
	assert_true(c != EOF);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	assert_int_equal(fputc(c ^ 0xff, f), c ^ 0xff);
	fclose(f);
}

static long file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (long)sb.st_size;
}

/* Replays the journal under d into g, as a start does. */
static void replay(const char *d, struct got *g, struct journal_replay_stats *st)
{
	char why[256];
	struct journal *j = journal_open(d, 0, why, sizeof(why));

	assert_non_null(j);
	assert_int_equal(journal_replay(j, keep, g, st, why, sizeof(why)), 0);
	journal_free(j);
}

/* A journal of n batches in a new directory (returned); its file's path in path. */
static char *journal_with(int n, char *path, size_t len)
{
	char *d = tmpdir();

	write_batches(d, n, 0);
	first_file(d, path, len);
	return d;
}

static void journal_gone(char *d)
{
	rm_rf(d);
	free(d);
}

static void test_corrupt_record_costs_only_itself(void **state)
{
	char path[512], *d = journal_with(5, path, sizeof(path));
	struct journal_replay_stats st;
	struct got g = {0};
	long rec;

	rec = (file_size(path) - BANNER) / 5; /* the records are all alike */
	/* a byte in the middle of the second record's samples */
	flip_byte(path, BANNER + rec + rec / 2);
	for (int pass = 0; pass < 2; pass++) {
		replay(d, &g, &st);
		/* the acknowledged batches after it are all there, in order */
		assert_int_equal(g.n, 4);
		assert_int_equal(g.b[0]->seq, 1);
		assert_int_equal(g.b[1]->seq, 3);
		assert_int_equal(g.b[2]->seq, 4);
		assert_int_equal(g.b[3]->seq, 5);
		assert_int_equal(st.records, 4);
		assert_int_equal(st.skipped_bytes, rec);
		assert_int_equal(st.cut_bytes, 0);
		got_free(&g);
		/* nothing was cut: the next start finds the same */
		assert_int_equal(file_size(path), BANNER + 5 * rec);
	}
	journal_gone(d);
}

static void test_holes_and_a_corrupt_tail(void **state)
{
	char path[512], *d = journal_with(5, path, sizeof(path));
	struct journal_replay_stats st;
	struct got g = {0};
	long rec;

	rec = (file_size(path) - BANNER) / 5;
	flip_byte(path, BANNER);               /* the first record's magic */
	flip_byte(path, BANNER + 2 * rec + 5); /* the third record's length: runs past the end */
	flip_byte(path, BANNER + 5 * rec - 1); /* the last record's last sample */
	replay(d, &g, &st);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.b[0]->seq, 2);
	assert_int_equal(g.b[1]->seq, 4);
	assert_int_equal(st.skipped_bytes, 2 * rec);
	assert_int_equal(st.cut_bytes, rec);
	got_free(&g);
	assert_int_equal(file_size(path), BANNER + 4 * rec);
	journal_gone(d);
}

static void test_a_damaged_banner_loses_no_record(void **state)
{
	char path[512], *d = journal_with(3, path, sizeof(path));
	struct journal_replay_stats st;
	struct got g = {0};
	long size;

	size = file_size(path);
	flip_byte(path, 3);
	replay(d, &g, &st);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.b[2]->seq, 3);
	assert_int_equal(st.skipped_bytes, BANNER);
	assert_int_equal(st.cut_bytes, 0);
	got_free(&g);
	assert_int_equal(file_size(path), size);
	journal_gone(d);
}

/* The bytes of the journal file of 3 batches alike (write_batches): *len, each record's size *rec.
 */
static uint8_t *three_records(size_t *len, size_t *rec)
{
	char path[512], *d = tmpdir();
	uint8_t *b;
	FILE *f;

	write_batches(d, 3, 0);
	first_file(d, path, sizeof(path));
	*len = (size_t)file_size(path);
	*rec = (*len - BANNER) / 3;
	b = malloc(*len + 64);
	assert_non_null(b);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	journal_gone(d);
	return b;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * A record laid out inside damaged bytes, as an agent could inside its own
 * batch (here: the record of batch 1 as batch 99), is not replayed: the
 * agent does not know the file's salt, so its CRC does not check out.
 * Only with the salt would it.
 */
static void test_a_record_an_agent_laid_out_is_not_replayed(void **state)
{
	for (int salted = 0; salted < 2; salted++) {
		size_t len, rec, n;
		uint8_t *b = three_records(&len, &rec), *x;
		struct journal_scan sc;
		struct got g = {0};

		/* record 3 moves 12 bytes on; record 2 becomes a damaged 12-byte header and the
		 * forged record */
		memmove(b + BANNER + 2 * rec + 12, b + BANNER + 2 * rec, rec);
		x = b + BANNER + rec + 12;
		memcpy(x, b + BANNER, rec);
		memset(b + BANNER + rec, 'x', 12);
		x[20] = 99; /* its seq */
		put_le32(x + 8, salted ? journal_record_crc(b + 8, x + 12, rec - 12)
				       : journal_crc32(x + 12, rec - 12));
		n = BANNER + 3 * rec + 12;
		assert_int_equal(journal_scan(b, n, keep, &g, &sc), n);
		assert_int_equal(g.n, salted ? 3 : 2);
		assert_int_equal(g.b[0]->seq, 1);
		assert_int_equal(g.b[1]->seq, salted ? 99 : 3);
		assert_int_equal(sc.r.holes, 1);
		assert_int_equal(sc.r.hole_bytes, salted ? 12 : rec + 12);
		got_free(&g);
		free(b);
	}
}

/* Version 1 and 2's long form of a name: a 2-byte length, or 0xffff for the previous one's. */
static uint8_t *long_name(uint8_t *w, const char *s, const char *prev)
{
	size_t n = strlen(s);

	if (prev != NULL && strcmp(s, prev) == 0) {
		*w++ = 0xff;
		*w++ = 0xff;
		return w;
	}
	*w++ = (uint8_t)n;
	*w++ = (uint8_t)(n >> 8);
	memcpy(w, s, n);
	return w + n;
}

static uint8_t *long_uint(uint8_t *w, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		*w++ = (uint8_t)(v >> (8 * i));
	return w;
}

/*
 * Batch seq's record as versions 1 and 2 wrote it (every sample in the
 * long form) at w, its CRC over salt (NULL: version 1); returns its end.
 */
static uint8_t *long_record(uint8_t *w, uint64_t seq, size_t n, const uint8_t *salt)
{
	struct sample_batch *b = batch(seq, n);
	uint8_t *p = w + 12;

	p = long_uint(p, b->stream, 8);
	p = long_uint(p, b->seq, 8);
	p = long_name(p, b->site, NULL);
	*p++ = 1;
	p = long_name(p, b->agent, NULL);
	p = long_uint(p, b->n, 4);
	for (size_t i = 0; i < b->n; i++) {
		const struct sample *x = &b->v[i], *q = i ? &b->v[i - 1] : NULL;
		uint64_t bits = x->counter;

		p = long_name(p, x->host, q ? q->host : NULL);
		p = long_name(p, x->check, q ? q->check : NULL);
		p = long_name(p, x->instance, q ? q->instance : NULL);
		p = long_name(p, x->metric, q ? q->metric : NULL);
		p = long_uint(p, (uint64_t)x->time_ms, 8);
		*p++ = (uint8_t)x->kind;
		*p++ = x->unknown;
		*p++ = (uint8_t)x->width;
		p = long_uint(p, x->interval, 4);
		if (x->kind == SAMPLE_GAUGE)
			memcpy(&bits, &x->value, sizeof(bits));
		p = long_uint(p, bits, 8);
	}
	put_le32(w, 0x3152564aU);
	put_le32(w + 4, (uint32_t)(p - w - 12));
	put_le32(w + 8, salt ? journal_record_crc(salt, w + 12, (size_t)(p - w - 12))
			     : journal_crc32(w + 12, (size_t)(p - w - 12)));
	sample_batch_free(b);
	return p;
}

/*
 * Files of the versions before: 1 ("VAKTJNL1", no salt) and 2 ("VAKTJNL2"
 * and a salt), their samples in the long form, left by an older collector,
 * are replayed as they were written.
 */
static void test_files_of_versions_1_and_2_are_replayed(void **state)
{
	for (int v = 1; v <= 2; v++) {
		uint8_t *b = calloc(1, 4096), *w = b;
		const uint8_t *salt = NULL;
		struct journal_scan sc;
		struct got g = {0};

		assert_non_null(b);
		memcpy(w, v == 1 ? "VAKTJNL1" : "VAKTJNL2", 8);
		w += 8;
		if (v == 2) {
			memcpy(w, "saltsalt", 8);
			salt = w;
			w += 8;
		}
		for (uint64_t seq = 1; seq <= 3; seq++)
			w = long_record(w, seq, 12, salt);
		assert_int_equal(journal_scan(b, (size_t)(w - b), keep, &g, &sc), w - b);
		assert_int_equal(g.n, 3);
		for (int i = 0; i < 3; i++)
			assert_batch(g.b[i], (uint64_t)i + 1, 12);
		assert_int_equal(sc.r.holes, 0);
		assert_null(sc.r.tail_why);
		got_free(&g);
		free(b);
	}
}

/* A pre-zeroed journal file's size in these tests. */
#define SEGMENT (64 * 1024)

/* A journal of n batches in SEGMENT-byte files, in a new directory (returned); its file in path. */
static char *zeroed_journal_with(int n, char *path, size_t len)
{
	char *d = tmpdir();

	write_batches(d, n, SEGMENT);
	first_file(d, path, len);
	return d;
}

/* Sends what the code logs (stderr) to a file from now on; the saved stderr. */
static int capture_begin(int *lfd)
{
	char log[] = "/tmp/vakt-test-journal-log-XXXXXX";
	int saved;

	*lfd = mkstemp(log);
	assert_true(*lfd >= 0);
	unlink(log);
	fflush(stderr);
	saved = dup(2);
	dup2(*lfd, 2);
	return saved;
}

/* What was logged since capture_begin() into text; stderr back. */
static void capture_end(int lfd, int saved, char *text, size_t textlen)
{
	ssize_t got;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	got = pread(lfd, text, textlen - 1, 0);
	close(lfd);
	assert_true(got >= 0);
	text[got] = '\0';
}

/* Replays the journal under d into g as replay() does; what it logged in text. */
static void replay_logged(const char *d, struct got *g, struct journal_replay_stats *st, char *text,
			  size_t textlen)
{
	int lfd, saved = capture_begin(&lfd);

	replay(d, g, st);
	capture_end(lfd, saved, text, textlen);
}

/* Writes n bytes of c at off of path. */
static void fill_bytes(const char *path, long off, int c, size_t n)
{
	uint8_t b[64];
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0 && n <= sizeof(b));
	memset(b, c, n);
	assert_int_equal(pwrite(fd, b, n, off), (ssize_t)n);
	close(fd);
}

static void test_a_zeroed_tail_is_the_clean_end(void **state)
{
	char path[512], text[4096], *d = zeroed_journal_with(3, path, sizeof(path));
	char plain_path[512], *plain = journal_with(3, plain_path, sizeof(plain_path));
	struct journal_replay_stats st;
	struct got g = {0};
	long rec = (file_size(plain_path) - BANNER) / 3;

	/* made at its full size: the records, then zeros */
	assert_int_equal(file_size(path), SEGMENT);
	for (int pass = 0; pass < 2; pass++) {
		replay_logged(d, &g, &st, text, sizeof(text));
		assert_int_equal(g.n, 3);
		for (int i = 0; i < 3; i++)
			assert_batch(g.b[i], (uint64_t)i + 1, 5);
		assert_int_equal(st.records, 3);
		/* the zeros are not counted; the second pass also reads the first's empty file */
		assert_int_equal(st.files, 1 + pass);
		assert_int_equal(st.bytes, BANNER + 3 * rec + pass * BANNER);
		assert_int_equal(st.cut_bytes, 0);
		assert_int_equal(st.skipped_bytes, 0);
		assert_string_equal(text, "");
		got_free(&g);
		assert_int_equal(file_size(path), SEGMENT);
	}
	journal_gone(plain);
	journal_gone(d);
}

/*
 * Writes n bytes of c into a zero-tailed journal of 3 batches, at off from
 * the end of its records (from the end of the file with from_end), then
 * checks that a start replays the first `left` batches, cuts the file after
 * them and logs `why`.
 */
static void damage_before_zeros_is_cut(int from_end, long off, int c, size_t n, int left,
				       const char *why)
{
	char path[512], text[4096], plain_path[512], kept[64],
	    *d = zeroed_journal_with(3, path, sizeof(path));
	char *plain = journal_with(3, plain_path, sizeof(plain_path));
	struct journal_replay_stats st;
	struct got g = {0};
	long rec = (file_size(plain_path) - BANNER) / 3;

	fill_bytes(path, (from_end ? SEGMENT : BANNER + 3 * rec) + off, c, n);
	replay_logged(d, &g, &st, text, sizeof(text));
	assert_int_equal(g.n, left);
	assert_int_equal(g.b[left - 1]->seq, left);
	assert_int_equal(st.cut_bytes, SEGMENT - BANNER - left * rec);
	assert_non_null(strstr(text, why));
	snprintf(kept, sizeof(kept), "%d records (seq 1..%d) replayed", left, left);
	assert_non_null(strstr(text, kept));
	got_free(&g);
	assert_int_equal(file_size(path), BANNER + left * rec);
	journal_gone(plain);
	journal_gone(d);
}

static void test_a_torn_record_before_zeros_is_cut(void **state)
{
	/* the last record's last 3 bytes never reached the disk: zeros stay there */
	damage_before_zeros_is_cut(0, -3, 0, 3, 2, "checksum mismatch: cutting");
}

static void test_garbage_after_the_records_is_cut(void **state)
{
	/* not zeros: damage that a zeroed tail must not hide */
	damage_before_zeros_is_cut(1, -100, 0x5a, 7, 3, "bad record header: cutting");
}

static void test_a_grown_file_replays_as_before(void **state)
{
	char path[512], text[4096], *d = journal_with(3, path, sizeof(path));
	struct journal_replay_stats st;
	struct got g = {0};
	long size = file_size(path);

	/* files of an earlier collector (and when none could be made ahead) end at their last
	 * record */
	assert_int_equal((size - BANNER) % 3, 0);
	replay_logged(d, &g, &st, text, sizeof(text));
	assert_int_equal(g.n, 3);
	assert_batch(g.b[2], 3, 5);
	assert_int_equal(st.bytes, size);
	assert_int_equal(st.cut_bytes, 0);
	assert_string_equal(text, "");
	got_free(&g);
	assert_int_equal(file_size(path), size);
	journal_gone(d);
}

/*
 * Rotation takes the file made ahead; the one after it is made as large as
 * twice what the last one got (at least a megabyte, at most the segment),
 * and a file being made when the collector stopped is not left behind.
 */
static void test_rotation_takes_the_file_made_ahead(void **state)
{
	char *d = tmpdir(), why[256], path[512], next[512];
	struct journal *j = journal_open(d, 4 << 20, why, sizeof(why));
	struct sample_batch *b = batch(1, 2);
	int rc, calls = 0;

	assert_non_null(j);
	snprintf(next, sizeof(next), "%s/journal.next", d);
	first_file(d, path, sizeof(path));
	assert_int_equal(file_size(path), 4 << 20);
	journal_append(j, b);
	assert_int_equal(journal_commit(j, why, sizeof(why)), 0);
	/* none made ahead yet: the next file grows */
	assert_int_equal(journal_rotate(j, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/journal.0000000002", d);
	assert_int_equal(file_size(path), BANNER);
	/*
	 * Twice a few records, so a megabyte: the banner in one call, the
	 * zeros (a megabyte a call) in the next.
	 */
	while ((rc = journal_prepare(j, why, sizeof(why))) == 0 && calls < 100)
		calls++;
	assert_int_equal(rc, 1);
	assert_int_equal(calls, 1);
	assert_int_equal(file_size(next), 1 << 20);
	journal_append(j, b);
	assert_int_equal(journal_commit(j, why, sizeof(why)), 0);
	assert_int_equal(journal_rotate(j, why, sizeof(why)), 0);
	assert_int_equal(access(next, F_OK), -1);
	snprintf(path, sizeof(path), "%s/journal.0000000003", d);
	assert_int_equal(file_size(path), 1 << 20);
	/* started, not finished: gone with the journal */
	assert_int_equal(journal_prepare(j, why, sizeof(why)), 0);
	assert_int_equal(access(next, F_OK), 0);
	journal_free(j);
	assert_int_equal(access(next, F_OK), -1);
	sample_batch_free(b);
	rm_rf(d);
	free(d);
}

/*
 * No room for a file made ahead (a file size limit stands for a full disk
 * here): it is said, the journal's file grows as it is written, a commit
 * that finds no room fails whole, and once there is room the next file is
 * made ahead again.
 */
static void test_no_room_for_a_file_ahead(void **state)
{
	char *d = tmpdir(), why[256], path[512], text[4096];
	struct sample_batch *b1 = batch(1, 5), *b2 = batch(2, 5);
	struct journal_replay_stats st;
	struct got g = {0};
	struct rlimit old, lim;
	struct journal *j;
	int lfd, saved, rc, calls = 0;
	long size;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	saved = capture_begin(&lfd);
	j = journal_open(d, SEGMENT, why, sizeof(why));
	capture_end(lfd, saved, text, sizeof(text));
	assert_non_null(j);
	assert_non_null(strstr(text, "journal: cannot make a file ahead: "));
	assert_non_null(
	    strstr(text, "/journal.next:16: File too large; the file written now grows"));
	first_file(d, path, sizeof(path));
	assert_int_equal(file_size(path), BANNER);
	journal_append(j, b1);
	assert_int_equal(journal_commit(j, why, sizeof(why)), 0);
	size = file_size(path);
	while (journal_pending(j) < 8192)
		journal_append(j, b2);
	assert_int_equal(journal_commit(j, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "cannot write: File too large"));
	assert_int_equal(file_size(path), size); /* what failed is not in the file */
	assert_int_equal(journal_prepare(j, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "/journal.next:16: File too large"));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	while ((rc = journal_prepare(j, why, sizeof(why))) == 0 && calls < 100)
		calls++;
	assert_int_equal(rc, 1);
	assert_int_equal(journal_rotate(j, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/journal.0000000002", d);
	assert_int_equal(file_size(path), SEGMENT);
	journal_free(j);
	/* only the batch committed is replayed, and nothing is cut */
	replay_logged(d, &g, &st, text, sizeof(text));
	assert_int_equal(g.n, 1);
	assert_batch(g.b[0], 1, 5);
	assert_int_equal(st.cut_bytes, 0);
	assert_string_equal(text, "");
	got_free(&g);
	sample_batch_free(b1);
	sample_batch_free(b2);
	rm_rf(d);
	free(d);
}

static void test_checkpoint_removes_finished_files_only(void **state)
{
	char *d = tmpdir(), why[256], path[512];
	struct journal *j = journal_open(d, 0, why, sizeof(why));
	struct sample_batch *b = batch(1, 2);
	uint64_t first;

	assert_non_null(j);
	first = journal_current(j);
	journal_append(j, b);
	assert_int_equal(journal_commit(j, why, sizeof(why)), 0);
	assert_int_equal(journal_rotate(j, why, sizeof(why)), 0);
	assert_true(journal_current(j) == first + 1);
	assert_true(journal_oldest(j) == first);
	journal_remove_before(j, journal_current(j));
	assert_true(journal_oldest(j) == journal_current(j));
	snprintf(path, sizeof(path), "%s/journal.%010llu", d, (unsigned long long)first);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/journal.%010llu", d,
		 (unsigned long long)journal_current(j));
	assert_int_equal(access(path, F_OK), 0);
	sample_batch_free(b);
	journal_free(j);
	rm_rf(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32_is_ieee),
	    cmocka_unit_test(test_batches_read_back_as_appended),
	    cmocka_unit_test(test_torn_tail_is_cut_and_the_rest_kept),
	    cmocka_unit_test(test_corrupt_record_costs_only_itself),
	    cmocka_unit_test(test_holes_and_a_corrupt_tail),
	    cmocka_unit_test(test_a_damaged_banner_loses_no_record),
	    cmocka_unit_test(test_checkpoint_removes_finished_files_only),
	    cmocka_unit_test(test_a_record_an_agent_laid_out_is_not_replayed),
	    cmocka_unit_test(test_files_of_versions_1_and_2_are_replayed),
	    cmocka_unit_test(test_a_zeroed_tail_is_the_clean_end),
	    cmocka_unit_test(test_a_torn_record_before_zeros_is_cut),
	    cmocka_unit_test(test_garbage_after_the_records_is_cut),
	    cmocka_unit_test(test_a_grown_file_replays_as_before),
	    cmocka_unit_test(test_rotation_takes_the_file_made_ahead),
	    cmocka_unit_test(test_no_room_for_a_file_ahead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
