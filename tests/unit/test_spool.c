/*
 * test_spool.c - the agent's disk spool on a real directory: batches come
 * back from disk in order after a reopen, acknowledged segments are deleted
 * (the open one once it rolls over) and seq numbers continue, a full spool drops its OLDEST batches (and says
 * which), a torn or corrupt tail is cut at start-up while a damaged record
 * in the middle costs only itself, and a
 * spool_dir that cannot be used leaves the agent with memory only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "spool.h"
#include "timeutil.h"
#include "xmalloc.h"

struct fx {
	struct event_base *base;
	struct event *tick;
	char dir[64];
	struct spool *s;
	struct spool_conf conf;
	unsigned readies;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

static void ready_cb(void *arg)
{
	((struct fx *)arg)->readies++;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct timeval tv = {0, 10000};

	f->base = event_base_new();
	f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(f->tick, &tv);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vakt-test-spool-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->conf.dir = f->dir;
	f->conf.max_bytes = 1 << 20;
	f->conf.fsync_s = 1;
	f->conf.mem_bytes = 1 << 20;
	f->conf.mem_batches = 1000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	DIR *d;
	struct dirent *de;
	char path[512];

	spool_free(f->s);
	d = opendir(f->dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(f->dir);
	event_free(f->tick);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void run_for(struct fx *f, uint64_t ms);

/* Opens the spool again, as a restart does, and lets start-up read it all. */
static void reopen(struct fx *f)
{
	spool_free(f->s);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	run_for(f, 100);
}

/* A frame as the uplink builds it: a 4-byte length, then `len - 4` bytes. */
static uint8_t *mkframe(uint64_t seq, size_t len)
{
	uint8_t *p = xmalloc(len);

	p[0] = (uint8_t)((len - 4) >> 24);
	p[1] = (uint8_t)((len - 4) >> 16);
	p[2] = (uint8_t)((len - 4) >> 8);
	p[3] = (uint8_t)(len - 4);
	for (size_t i = 4; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i);
	return p;
}

static int frame_ok(const uint8_t *p, size_t len, uint64_t seq)
{
	for (size_t i = 4; i < len; i++)
		if (p[i] != (uint8_t)(seq * 31 + i))
			return 0;
	return 1;
}

/* Appends seq first..last, each of `len` bytes with `seq` samples. */
static void append_range(struct fx *f, uint64_t first, uint64_t last, size_t len)
{
	for (uint64_t q = first; q <= last; q++) {
		assert_int_equal(spool_next_seq(f->s), q);
		spool_append(f->s, q, mkframe(q, len), len, (uint32_t)q, 1);
	}
}

/*
 * Sends until `want` batches went out or 5 s pass; records their seqs and
 * checks each frame's bytes. Returns how many were sent.
 */
static size_t send_all(struct fx *f, uint64_t *seqs, size_t want, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	uint64_t end = mono_now_ms() + 5000;
	size_t n = 0;

	while (n < want && mono_now_ms() < end) {
		uint64_t seq;

		while (n < want && spool_send(f->s, out, &seq, NULL, NULL)) {
			uint8_t *p = xmalloc(len);

			assert_int_equal(evbuffer_get_length(out), len);
			evbuffer_remove(out, p, len);
			assert_true(frame_ok(p, len, seq));
			free(p);
			seqs[n++] = seq;
		}
		if (n < want)
			event_base_loop(f->base, EVLOOP_ONCE);
	}
	evbuffer_free(out);
	return n;
}

/* Runs the loop for `ms`: completions from the writer arrive. */
static void run_for(struct fx *f, uint64_t ms)
{
	uint64_t end = mono_now_ms() + ms;

	while (mono_now_ms() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
}

static size_t count_segments(struct fx *f, char *first, size_t firstsz)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".seg") == 0) {
			n++;
			if (first != NULL && l < firstsz &&
			    (n == 1 || strcmp(de->d_name, first) < 0))
				memcpy(first, de->d_name, l + 1);
		}
	}
	closedir(d);
	return n;
}

/* Runs the loop until `n` segments are left or 5 s pass (the writer's fsyncs are slow under load). */
static size_t wait_segments(struct fx *f, size_t n, char *first, size_t firstsz)
{
	uint64_t end = mono_now_ms() + 5000;
	size_t got;

	while ((got = count_segments(f, first, firstsz)) != n && mono_now_ms() < end)
		run_for(f, 20);
	return got;
}

static void test_crc32c_matches_the_castagnoli_check_value(void **state)
{
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xE3069283U);
	/* in pieces as in one go */
	assert_int_equal(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5), 0xE3069283U);
}

/*
 * Both ways (the CPU's instruction where it has one, the tables) against
 * RFC 3720's examples, whole and cut anywhere, and against each other.
 */
static void test_crc32c_matches_rfc3720_in_any_pieces(void **state)
{
	uint32_t (*crc[2])(uint32_t, const void *, size_t) = {spool_crc32c, spool_crc32c_portable};
	uint8_t zero[32] = {0}, ones[32], inc[32], big[1001];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(crc[k](0, "123456789", 9), 0xE3069283U);
		assert_int_equal(crc[k](0, zero, 32), 0x8A9136AAU);
		assert_int_equal(crc[k](0, ones, 32), 0x62A8AB43U);
		assert_int_equal(crc[k](0, inc, 32), 0x46DD794EU);
		for (size_t cut = 0; cut <= 32; cut++)
			assert_int_equal(crc[k](crc[k](0, inc, cut), inc + cut, 32 - cut),
					 0x46DD794EU);
	}
	for (size_t off = 0; off < 9; off++)
		assert_int_equal(spool_crc32c(5, big + off, sizeof(big) - off),
				 spool_crc32c_portable(5, big + off, sizeof(big) - off));
}

static void test_spool_replays_in_order_after_restart(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8];
	struct spool_stats st;
	uint64_t stream;

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	assert_true(spool_on_disk(f->s));
	stream = spool_stream(f->s);
	assert_true(stream != 0);
	append_range(f, 1, 5, 300);
	/* sent only once written */
	assert_int_equal(send_all(f, seqs, 5, 300), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(seqs[i], i + 1);
	assert_int_equal(count_segments(f, NULL, 0), 1);
	reopen(f);
	/* the same stream, seq goes on, every batch comes back from disk in order */
	assert_int_equal(spool_stream(f->s), stream);
	assert_int_equal(spool_next_seq(f->s), 6);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 5);
	assert_int_equal(send_all(f, seqs, 5, 300), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(seqs[i], i + 1);
	/* a reconnect sends them all again */
	spool_rewind(f->s);
	assert_int_equal(send_all(f, seqs, 5, 300), 5);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[4], 5);
}

static void test_spool_older_segments_are_read_while_the_agent_runs(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[64], seq = 0;
	struct evbuffer *out = evbuffer_new();
	struct spool_stats st;
	size_t n, segs;

	f->conf.max_bytes = 1 << 20; /* segments of 128 KiB */
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 40, 10000);
	run_for(f, 200);
	spool_free(f->s);
	segs = count_segments(f, NULL, 0);
	assert_true(segs >= 3);
	/* start-up reads only the newest segment before it returns */
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	spool_get_stats(f->s, &st);
	assert_true(st.batches > 0);
	assert_true(st.batches < 40);
	assert_int_equal(spool_next_seq(f->s), 41);
	/* nothing goes out before the older batches are read: they go first */
	assert_int_equal(spool_send(f->s, out, &seq, NULL, NULL), 0);
	/* the agent runs meanwhile: a HelloAck acknowledges 1..3, new batches come */
	assert_int_equal(spool_ack(f->s, 3), 0);
	append_range(f, 41, 42, 10000);
	n = send_all(f, seqs, 39, 10000);
	assert_int_equal(n, 39);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], 4 + i);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 39);
	evbuffer_free(out);
}

static void test_spool_ack_deletes_segments_and_seq_continues(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[64];
	struct spool_stats st;

	f->conf.max_bytes = 1 << 20; /* segments of 128 KiB */
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 40, 10000);
	assert_int_equal(send_all(f, seqs, 40, 10000), 40);
	assert_true(count_segments(f, NULL, 0) >= 3);
	/* half acknowledged: the segments wholly below go, the rest stays */
	assert_int_equal(spool_ack(f->s, 20), 20);
	run_for(f, 200);
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_true(st.batches >= 20);
	assert_true(st.batches < 40);
	assert_int_equal(spool_next_seq(f->s), 41);
	/* all acknowledged: no segment left, yet seq goes on from the state file */
	assert_int_equal(spool_ack(f->s, 40), st.batches);
	assert_int_equal(wait_segments(f, 0, NULL, 0), 0);
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 0);
	assert_int_equal(spool_next_seq(f->s), 41);
}

/*
 * A live agent with a quick collector: each batch acknowledged soon after
 * it is sent. They all go into the one open segment (not a file created,
 * synced and deleted per batch); none comes back after a restart.
 */
static void test_spool_open_segment_outlives_its_acks(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[1];
	char first[32] = "";
	struct spool_stats st;

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	for (uint64_t q = 1; q <= 10; q++) {
		append_range(f, q, q, 300);
		assert_int_equal(send_all(f, seqs, 1, 300), 1);
		assert_int_equal(seqs[0], q);
		assert_int_equal(spool_ack(f->s, q), 1);
		run_for(f, 20);
	}
	assert_int_equal(count_segments(f, first, sizeof(first)), 1);
	assert_string_equal(first, "0000000000000001.seg");
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 0);
	assert_int_equal(spool_next_seq(f->s), 11);
	/* the next start's first append opens a segment; the old one then goes */
	append_range(f, 11, 11, 300);
	assert_int_equal(send_all(f, seqs, 1, 300), 1);
	assert_int_equal(spool_ack(f->s, 11), 1);
	assert_int_equal(wait_segments(f, 1, first, sizeof(first)), 1);
	assert_string_equal(first, "000000000000000b.seg");
}

/*
 * Runs the loop until the writer has dropped batches and its counts have not
 * moved for 200 ms, or 5 s pass (a fixed 300 ms was too short under load).
 */
static void settle_dropping(struct fx *f, struct spool_stats *st)
{
	uint64_t end = mono_now_ms() + 5000, still = 0;
	struct spool_stats prev;

	spool_get_stats(f->s, st);
	while (mono_now_ms() < end && still < 200) {
		prev = *st;
		run_for(f, 20);
		spool_get_stats(f->s, st);
		if (st->batches_dropped > 0 && memcmp(&prev, st, sizeof(prev)) == 0)
			still += 20;
		else
			still = 0;
	}
}

static void test_spool_full_drops_the_oldest_batches(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[64];
	struct spool_stats st;
	uint64_t dropped_samples = 0;
	size_t n;

	f->conf.max_bytes = 64 << 10; /* segments of 16 KiB: 3 records of 5000 bytes each */
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 30, 5000);
	settle_dropping(f, &st);
	assert_true(st.disk_bytes <= f->conf.max_bytes);
	assert_true(st.batches_dropped > 0);
	assert_int_equal(st.batches + st.batches_dropped, 30);
	/* which went: exactly the oldest, 1..k; k+1..30 arrive in order */
	n = send_all(f, seqs, 30 - st.batches_dropped, 5000);
	assert_int_equal(n, 30 - st.batches_dropped);
	assert_int_equal(seqs[0], st.batches_dropped + 1);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(seqs[i], seqs[i - 1] + 1);
	assert_int_equal(seqs[n - 1], 30);
	/* each batch i held i samples: the count names the same batches */
	for (uint64_t q = 1; q <= st.batches_dropped; q++)
		dropped_samples += q;
	assert_int_equal(st.samples_dropped, dropped_samples);
	assert_int_equal(st.results_dropped, st.batches_dropped);
	/* what survives a restart is the same newest part */
	reopen(f);
	n = send_all(f, seqs, 30 - st.batches_dropped, 5000);
	assert_int_equal(seqs[0], st.batches_dropped + 1);
	assert_int_equal(seqs[n - 1], 30);
}

/* Path of the oldest segment file. */
static void first_segment(struct fx *f, char *path, size_t sz)
{
	char name[32];

	assert_true(count_segments(f, name, sizeof(name)) >= 1);
	snprintf(path, sz, "%s/%s", f->dir, name);
}

/* A spool that wrote and sent batches 1..n of 200 bytes, then stopped. */
static void spool_written(struct fx *f, uint64_t n)
{
	uint64_t seqs[16];

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, n, 200);
	assert_int_equal(send_all(f, seqs, n, 200), n);
	spool_free(f->s);
	f->s = NULL;
}

/* The size of the oldest segment file. */
static off_t first_segment_size(struct fx *f)
{
	char path[128];
	struct stat sb;

	first_segment(f, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void test_spool_cuts_a_torn_tail_at_start(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8];
	struct spool_stats st;
	char path[128];

	spool_written(f, 5);
	assert_int_equal(first_segment_size(f), SPOOL_HEADER_SIZE + 5 * (SPOOL_RECORD_SIZE + 200));
	/* the last record loses its last 3 bytes, as after a power loss */
	first_segment(f, path, sizeof(path));
	assert_int_equal(truncate(path, SPOOL_HEADER_SIZE + 5 * (SPOOL_RECORD_SIZE + 200) - 3), 0);
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 4);
	assert_int_equal(first_segment_size(f), SPOOL_HEADER_SIZE + 4 * (SPOOL_RECORD_SIZE + 200));
	/* new batches never reuse the seq of the one that was cut */
	assert_true(spool_next_seq(f->s) > 5);
	assert_int_equal(send_all(f, seqs, 4, 200), 4);
	assert_int_equal(seqs[3], 4);
}

/* Flips one bit of the first segment at `at`. */
static void flip_bit(struct fx *f, off_t at)
{
	char path[128];
	uint8_t b;
	int fd;

	first_segment(f, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

/* Offset of record i (from 0) of 200-byte frames in a segment. */
static off_t rec_at(int i)
{
	return SPOOL_HEADER_SIZE + (off_t)i * (SPOOL_RECORD_SIZE + 200);
}

static void test_spool_corrupt_record_costs_only_itself(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8];
	struct spool_stats st;

	spool_written(f, 5);
	/* one bit flips inside the frame of record 3 */
	flip_bit(f, rec_at(2) + SPOOL_RECORD_SIZE + 50);
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 4);
	/* a hole in the middle is not cut: the records after it are good */
	assert_int_equal(first_segment_size(f), rec_at(5));
	/* read back from disk past the hole, in order */
	assert_int_equal(send_all(f, seqs, 4, 200), 4);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[1], 2);
	assert_int_equal(seqs[2], 4);
	assert_int_equal(seqs[3], 5);
	/* nothing after the last good batch was lost: seqs go on from it */
	assert_int_equal(spool_next_seq(f->s), 6);
	/* appending goes on in a new segment */
	spool_append(f->s, spool_next_seq(f->s), mkframe(spool_next_seq(f->s), 200), 200, 1, 0);
	assert_int_equal(send_all(f, seqs, 1, 200), 1);
	assert_int_equal(count_segments(f, NULL, 0), 2);
}

static void test_spool_holes_and_a_corrupt_tail(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8];
	struct spool_stats st;

	spool_written(f, 6);
	/* record 1's magic, record 3's length and record 6's frame are hit */
	flip_bit(f, rec_at(0));
	flip_bit(f, rec_at(2) + 13);
	flip_bit(f, rec_at(5) + SPOOL_RECORD_SIZE + 199);
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 3);
	/* the corrupt last record is a tail: cut */
	assert_int_equal(first_segment_size(f), rec_at(5));
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	assert_int_equal(seqs[0], 2);
	assert_int_equal(seqs[1], 4);
	assert_int_equal(seqs[2], 5);
	/* batch 6 may have reached a collector: its seq is not reused */
	assert_true(spool_next_seq(f->s) > 6 + 1000);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Batches 1..10, and inside the frame of batch 3 (bytes its checks chose)
 * a record of batch 100 that checks out on its own; `hit_magic`: batch 3's
 * record magic is hit too, so its length cannot be trusted. Batches 1, 2
 * and 4..10 are read back, in order, and nothing is cut.
 */
static void record_inside_costs_no_later_batch(struct fx *f, int hit_magic)
{
	uint8_t rec[SPOOL_RECORD_SIZE + 40], *frame = mkframe(100, 40);
	uint64_t seqs[16], want[] = {1, 2, 4, 5, 6, 7, 8, 9, 10};
	struct spool_stats st;
	char path[128];
	uint32_t crc;
	int fd;

	spool_written(f, 10);
	memset(rec, 0, sizeof(rec));
	memcpy(rec, "VKSR", 4);
	rec[4] = 1; /* the record version */
	put_le(rec + 12, 40, 4);
	put_le(rec + 16, 100, 8);
	put_le(rec + 24, 1, 4);
	memcpy(rec + SPOOL_RECORD_SIZE, frame, 40);
	crc = spool_crc32c(0, rec + 12, SPOOL_RECORD_SIZE - 12);
	put_le(rec + 8, spool_crc32c(crc, frame, 40), 4);
	free(frame);
	first_segment(f, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, rec, sizeof(rec), rec_at(2) + SPOOL_RECORD_SIZE + 16),
			 (ssize_t)sizeof(rec));
	close(fd);
	if (hit_magic)
		flip_bit(f, rec_at(2));
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 9);
	assert_int_equal(first_segment_size(f), rec_at(10));
	assert_int_equal(send_all(f, seqs, 9, 200), 9);
	for (int i = 0; i < 9; i++)
		assert_int_equal(seqs[i], want[i]);
	assert_int_equal(spool_next_seq(f->s), 11);
}

static void test_spool_record_inside_a_bad_one_is_skipped_whole(void **state)
{
	record_inside_costs_no_later_batch(*state, 0);
}

static void test_spool_record_inside_a_damaged_header_costs_no_later_batch(void **state)
{
	record_inside_costs_no_later_batch(*state, 1);
}

/* A record written twice is skipped, and the log says that no batch is lost. */
static void test_spool_a_repeated_record_loses_nothing(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8192];
	uint64_t seqs[8];
	struct spool_stats st;
	char path[128], log[] = "/tmp/vakt-test-spool-log-XXXXXX", text[4096];
	ssize_t n, got;
	int fd, lfd, saved;

	spool_written(f, 4);
	first_segment(f, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	n = pread(fd, buf, sizeof(buf), 0);
	assert_int_equal(n, rec_at(4));
	/* record 2 again right after it, then records 3 and 4 */
	memmove(buf + rec_at(2) + (rec_at(2) - rec_at(1)), buf + rec_at(2),
		(size_t)(n - rec_at(2)));
	n += rec_at(2) - rec_at(1);
	assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
	close(fd);
	lfd = mkstemp(log);
	assert_true(lfd >= 0);
	saved = dup(2);
	dup2(lfd, 2);
	reopen(f);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	got = pread(lfd, text, sizeof(text) - 1, 0);
	close(lfd);
	unlink(log);
	assert_true(got > 0);
	text[got] = '\0';
	assert_non_null(strstr(text,
			       "record repeats the seq before it; skipped (a copy of the "
			       "record before it: no batch is lost), 4 records (batches 1..4) "
			       "kept"));
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 4);
	assert_int_equal(send_all(f, seqs, 4, 200), 4);
	assert_int_equal(seqs[2], 3);
	assert_int_equal(spool_next_seq(f->s), 5);
}

/*
 * A copy of the newest segment under a higher name (a restore, a hand that
 * renamed it) holds the batches of a segment older by name: each goes out
 * once, in order.
 */
static void test_spool_segment_named_past_its_batches_sends_each_once(void **state)
{
	struct fx *f = *state;
	char name[32], from[128], to[128], cmd[300];
	uint64_t seqs[64], newest = 0;
	size_t n;
	DIR *d;
	struct dirent *de;

	f->conf.max_bytes = 1 << 20; /* segments of 128 KiB */
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 40, 10000);
	run_for(f, 200);
	spool_free(f->s);
	f->s = NULL;
	assert_true(count_segments(f, NULL, 0) >= 3);
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t v;

		if (strlen(de->d_name) == 20 && sscanf(de->d_name, "%16" SCNx64, &v) == 1 &&
		    v > newest)
			newest = v;
	}
	closedir(d);
	snprintf(from, sizeof(from), "%s/%016" PRIx64 ".seg", f->dir, newest);
	snprintf(name, sizeof(name), "%016" PRIx64 ".seg", newest + 1000);
	snprintf(to, sizeof(to), "%s/%s", f->dir, name);
	snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
	assert_int_equal(system(cmd), 0);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	n = send_all(f, seqs, 64, 10000);
	assert_int_equal(n, 40);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], 1 + i);
}

static void test_spool_damaged_header_loses_no_batch(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8];
	struct spool_stats st;

	spool_written(f, 4);
	flip_bit(f, 20); /* the header's stream */
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 4);
	assert_int_equal(send_all(f, seqs, 4, 200), 4);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[3], 4);
	assert_int_equal(spool_next_seq(f->s), 5);
	/* written again: it reads whole even without the spool's stream */
	{
		uint8_t buf[2048];
		char path[128];
		const char *why;
		int fd;
		ssize_t n;

		first_segment(f, path, sizeof(path));
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		assert_int_equal(n, rec_at(4));
		assert_int_equal(
		    spool_scan_segment(buf, (size_t)n, 0, 0, 0, NULL, NULL, NULL, &why, NULL),
		    rec_at(4));
		assert_null(why);
	}
}

static void test_spool_a_garbage_segment_is_removed_not_fatal(void **state)
{
	struct fx *f = *state;
	char path[128];
	struct spool_stats st;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/0000000000000007.seg", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not a spool segment at all, but long enough to hold a header", fp);
	fclose(fp);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	assert_true(spool_on_disk(f->s));
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 0);
	assert_int_equal(count_segments(f, NULL, 0), 0);
}

static void test_spool_unusable_dir_keeps_batches_in_memory(void **state)
{
	struct fx *f = *state;
	char file[128], dir[160];
	uint64_t seqs[4];
	FILE *fp;

	/* a directory below a regular file cannot exist, whoever runs the test */
	snprintf(file, sizeof(file), "%s/plain-file", f->dir);
	fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(dir, sizeof(dir), "%s/spool", file);
	f->conf.dir = dir;
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	assert_false(spool_on_disk(f->s));
	assert_int_equal(spool_stream(f->s), 0);
	append_range(f, 1, 3, 100);
	assert_int_equal(send_all(f, seqs, 3, 100), 3);
	assert_int_equal(seqs[2], 3);
	unlink(file);
}

static void test_spool_write_failure_keeps_batches_in_memory(void **state)
{
	struct fx *f = *state;
	struct rlimit orig, small;
	uint64_t seqs[4];
	struct spool_stats st;

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	/* files may grow to 40 bytes: a segment header fits, a record does not */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &orig), 0);
	small = orig;
	small.rlim_cur = 40;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	append_range(f, 1, 1, 200);
	run_for(f, 300);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &orig), 0);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.memory_only, 1);
	/* the disk works again: batch 2 goes into the segment opened for batch 1 */
	append_range(f, 2, 2, 200);
	assert_int_equal(send_all(f, seqs, 2, 200), 2);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[1], 2);
	assert_int_equal(count_segments(f, NULL, 0), 1);
	/* what was in memory only is gone after a restart; what was written is not */
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(send_all(f, seqs, 1, 200), 1);
	assert_int_equal(seqs[0], 2);
	signal(SIGXFSZ, SIG_DFL);
}

/*
 * A segment whose only append failed (a full disk) holds its header and no
 * record. When the next start's first batch has the seq it was named by,
 * deleting the empty one once that batch is acknowledged must not delete
 * the file that holds the batch after it, which is not.
 */
static void test_spool_empty_segment_left_by_a_full_disk_costs_no_later_batch(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[4];
	struct spool_stats st;
	uint8_t h[32] = "VKSPOOL";
	char path[128];
	FILE *fp;

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 3, 200);
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	assert_int_equal(spool_ack(f->s, 3), 3);
	run_for(f, 100);
	/* the header of a segment for batch 4, as a failed append leaves it */
	h[8] = 1;
	for (int i = 0; i < 8; i++) {
		h[16 + i] = (uint8_t)(spool_stream(f->s) >> (8 * i));
		h[24 + i] = (uint8_t)((uint64_t)4 >> (8 * i));
	}
	uint32_t crc = spool_crc32c(0, h + 16, 16);
	for (int i = 0; i < 4; i++)
		h[12 + i] = (uint8_t)(crc >> (8 * i));
	spool_free(f->s);
	snprintf(path, sizeof(path), "%s/0000000000000004.seg", f->dir);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(h, 1, sizeof(h), fp), sizeof(h));
	fclose(fp);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	run_for(f, 100);
	assert_int_equal(spool_next_seq(f->s), 4);
	append_range(f, 4, 5, 200);
	assert_int_equal(send_all(f, seqs, 2, 200), 2);
	assert_int_equal(spool_ack(f->s, 4), 1);
	run_for(f, 300);
	/* the unacknowledged batch is still on disk for the next start */
	reopen(f);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(send_all(f, seqs + 2, 1, 200), 1);
	assert_int_equal(seqs[2], 5);
}

/* The contents of file `name` in the spool (at most size - 1 bytes, NUL-terminated). */
static void read_spool_file(struct fx *f, const char *name, char *buf, size_t size)
{
	char path[128];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_non_null(fp = fopen(path, "rb"));
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

static void write_spool_file(struct fx *f, const char *name, const char *buf)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(buf, 1, strlen(buf), fp), strlen(buf));
	fclose(fp);
}

/*
 * The power went: batches 4 and 5 were written, sent and taken by the
 * collector, but never synced here; the disk came back without them, and
 * without the acknowledgement. The next batches must not be numbered 4
 * and 5: the collector would take them for the ones it holds and drop
 * them. Likewise after a stop with a batch kept in memory only.
 */
static void test_spool_after_a_crash_no_seq_is_used_again(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8], next;
	char path[128], at_start[64];
	struct stat sb;
	struct rlimit orig, small;

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	read_spool_file(f, "next", at_start, sizeof(at_start));
	append_range(f, 1, 3, 200);
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	run_for(f, 100);
	snprintf(path, sizeof(path), "%s/0000000000000001.seg", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	append_range(f, 4, 5, 200);
	assert_int_equal(send_all(f, seqs, 2, 200), 2);
	run_for(f, 100);
	spool_free(f->s);
	/* what a power loss leaves: the segment before 4 and 5, the files as at start */
	assert_int_equal(truncate(path, sb.st_size), 0);
	write_spool_file(f, "next", at_start);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	run_for(f, 100);
	next = spool_next_seq(f->s);
	assert_true(next > 5);
	/* a clean stop goes on from there, though no batch shows the skip */
	reopen(f);
	assert_int_equal(spool_next_seq(f->s), next);
	/* a batch kept in memory only (its segment's header fits, the record does not) */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &orig), 0);
	small = orig;
	small.rlim_cur = 40;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	append_range(f, next, next, 200);
	run_for(f, 300);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &orig), 0);
	signal(SIGXFSZ, SIG_DFL);
	/* 1..3 go first: never acknowledged */
	assert_int_equal(send_all(f, seqs, 4, 200), 4);
	assert_int_equal(seqs[3], next);
	/* stopped before its acknowledgement: the collector may hold it */
	reopen(f);
	assert_true(spool_next_seq(f->s) > next + 1);
	/* acknowledged, it is no longer a risk: a clean stop goes on from there */
	next = spool_next_seq(f->s);
	append_range(f, next, next, 200);
	assert_int_equal(send_all(f, seqs, 4, 200), 4);
	assert_int_equal(seqs[3], next);
	assert_int_equal(spool_ack(f->s, next), 4);
	run_for(f, 100);
	reopen(f);
	assert_int_equal(spool_next_seq(f->s), next + 1);
}

/* A run that spooled and sent batches 1..3 (none acknowledged), then stopped cleanly. */
static void three_sent_and_stopped(struct fx *f)
{
	uint64_t seqs[3];

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 3, 200);
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	run_for(f, 100);
	spool_free(f->s);
	f->s = NULL;
}

/*
 * A `next` file that says a seq near 2^64 (damaged, or edited) is not
 * believed: seqs went on from it before, and the batch after 2^64 - 1 was
 * numbered 0, below every batch the collector held, and its acknowledgement
 * was refused as one of a batch never sent. It is taken as a stop that
 * was not clean: the seqs skip as after a crash, from what the disk holds.
 */
static void test_spool_a_next_file_near_2_64_is_not_believed(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8], next;

	three_sent_and_stopped(f);
	write_spool_file(f, "next", "18446744073709551615 clean  \n");
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	run_for(f, 100);
	next = spool_next_seq(f->s);
	assert_true(next > 3);
	assert_true(next < (UINT64_C(1) << 32));
	append_range(f, next, next + 1, 200);
	assert_int_equal(send_all(f, seqs, 5, 200), 5);
	assert_int_equal(seqs[4], next + 1);
	assert_int_equal(spool_ack(f->s, next + 1), 5);
}

/*
 * A collector (its state database damaged, or not a collector at all) says
 * in HelloAck that it holds a seq near 2^64 of this stream. The skip past it
 * wrapped round: new batches took seqs from 65536 on, at or below what that
 * collector says it holds, so it would have dropped every one as a copy, at
 * every connection. No agent sends 2^63 batches: the claim is not believed,
 * and seqs go on where they were.
 */
static void test_spool_a_collector_holding_a_seq_near_2_64_is_not_believed(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[4];
	struct spool_stats st;

	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 3, 200);
	run_for(f, 100);
	assert_int_equal(spool_skip_past(f->s, UINT64_MAX - 10), 0);
	assert_int_equal(spool_skip_past(f->s, UINT64_C(1) << 63), 0);
	assert_int_equal(spool_next_seq(f->s), 4);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches_copied, 0);
	/* what it holds still goes, in order */
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[2], 3);
	/* a plausible claim past the next seq still skips, and counts what waits */
	assert_int_equal(spool_skip_past(f->s, 1000), 1000 + 1 + 65536);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches_copied, 3);
}

/*
 * The three batches of three_sent_and_stopped() go, in order, with
 * `unreadable` segments counted; then the directory `dir`, which stood for
 * a segment that cannot be opened, is removed.
 */
static void three_go_then_rmdir(struct fx *f, uint64_t unreadable, const char *dir)
{
	uint64_t seqs[4];
	struct spool_stats st;

	spool_get_stats(f->s, &st);
	assert_int_equal(st.segments_unreadable, unreadable);
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[2], 3);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * The newest segment, of batches from 131072 on (seqs skipped there before),
 * cannot be opened (a directory here, EISDIR; on a machine a permission or
 * an I/O error), and `next` is lost. Start-up went on from the segments it
 * could read: new batches took seqs from 65540 on, up to those of the batches
 * in it, which a collector may hold, and a segment of its name made later
 * would have overwritten it. It is set aside, counted, and seqs go past it.
 */
static void test_spool_unreadable_newest_segment_is_set_aside_and_skipped(void **state)
{
	struct fx *f = *state;
	char path[160], aside[192];
	struct stat sb;

	three_sent_and_stopped(f);
	snprintf(path, sizeof(path), "%s/0000000000020000.seg", f->dir);
	assert_int_equal(mkdir(path, 0750), 0);
	snprintf(aside, sizeof(aside), "%s/next", f->dir);
	assert_int_equal(unlink(aside), 0);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	run_for(f, 100);
	assert_true(spool_next_seq(f->s) >= 0x20000 + 65536);
	snprintf(aside, sizeof(aside), "%s.unreadable", path);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(stat(aside, &sb), 0);
	/* the batches of the segment that could be read still go */
	three_go_then_rmdir(f, 1, aside);
}

/*
 * A file named like a segment of a seq near 2^64 that cannot be opened (a
 * directory here; a stray file without read permission on a machine): the
 * skip past an unreadable segment's name wrapped round, and new batches
 * took small seqs, which a collector holding the stream would drop as
 * copies. No stream reaches 2^63: such a name is no segment of the agent's,
 * logged and left alone, and seqs go on where they were.
 */
static void test_spool_a_segment_name_near_2_64_is_left_alone(void **state)
{
	struct fx *f = *state;
	char path[160];
	struct stat sb;

	three_sent_and_stopped(f);
	snprintf(path, sizeof(path), "%s/ffffffffffffff00.seg", f->dir);
	assert_int_equal(mkdir(path, 0750), 0);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	run_for(f, 100);
	/* after a clean stop at 3 */
	assert_int_equal(spool_next_seq(f->s), 4);
	assert_int_equal(stat(path, &sb), 0);
	three_go_then_rmdir(f, 0, path);
}

/*
 * The owner check (a spool_dir of another site or agent name) counts the
 * segments start-up would read: a file named for a seq of 2^63 or more,
 * which start-up leaves alone, made the check refuse a spool_dir holding
 * nothing of another agent's.
 */
static void test_spool_owner_check_counts_no_segment_start_up_leaves_alone(void **state)
{
	struct fx *f = *state;
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/8000000000000000.seg", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spool_has_segments(f->dir), 0);
	/* the seq below it is a segment's name */
	snprintf(path, sizeof(path), "%s/7fffffffffffffff.seg", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spool_has_segments(f->dir), 1);
}

/*
 * Batches 1..3 are on disk and sent; then the disk is full and the next
 * four are kept in memory only, where queue_batches holds two: 4 and 5 go,
 * never sent. What waits to be sent is 6 and 7, and 1..3 are in flight:
 * counting the dropped 4 and 5 as waiting made the uplink see one batch in
 * flight, and none after one more drop, so that its ack timeout and its
 * failback's wait for acks took a collector holding 1..3 for one that held none.
 */
static void test_spool_dropped_batches_never_wait_to_be_sent(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[8];
	struct spool_stats st;
	struct rlimit orig, full;

	f->conf.mem_batches = 2;
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 3, 200);
	assert_int_equal(send_all(f, seqs, 3, 200), 3);
	run_for(f, 100);
	assert_int_equal(spool_unsent(f->s), 0);
	/* the segment can grow no more: its 3 records and header are all it holds */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &orig), 0);
	full = orig;
	full.rlim_cur = SPOOL_HEADER_SIZE + 3 * (SPOOL_RECORD_SIZE + 200);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &full), 0);
	append_range(f, 4, 7, 200);
	run_for(f, 300);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &orig), 0);
	signal(SIGXFSZ, SIG_DFL);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches_dropped, 2);
	assert_int_equal(st.batches, 5);
	assert_int_equal(spool_unsent(f->s), 2);
	/* 1..3 acknowledged: 6 and 7 are what goes next */
	assert_int_equal(spool_ack(f->s, 3), 3);
	assert_int_equal(spool_unsent(f->s), 2);
	assert_int_equal(send_all(f, seqs, 2, 200), 2);
	assert_int_equal(seqs[0], 6);
	assert_int_equal(seqs[1], 7);
	assert_int_equal(spool_unsent(f->s), 0);
	/* on a new connection both go again */
	spool_rewind(f->s);
	assert_int_equal(spool_unsent(f->s), 2);
}

static void test_spool_dir_of_another_agent_is_not_shared(void **state)
{
	struct fx *f = *state;
	long pid = -1;

	assert_int_equal(spool_dir_in_use(f->dir, &pid), 0);
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	assert_true(spool_on_disk(f->s));
	/* a second agent on it learns who holds it, and gets no spool at all */
	assert_int_equal(spool_dir_in_use(f->dir, &pid), 1);
	assert_int_equal(pid, (long)getpid());
	assert_null(spool_open(f->base, &f->conf, ready_cb, f));
	/* the first one is untouched */
	append_range(f, 1, 2, 100);
	assert_int_equal(spool_dir_in_use(f->dir, &pid), 1);
	spool_free(f->s);
	f->s = NULL;
	assert_int_equal(spool_dir_in_use(f->dir, &pid), 0);
	assert_int_equal(spool_has_segments(f->dir), 1);
}

static void test_spool_long_outage_reads_old_batches_back_from_disk(void **state)
{
	struct fx *f = *state;
	uint64_t seqs[400];
	struct spool_stats st;

	/* a window of 64 KiB in memory, 400 batches of 2000 bytes on disk */
	f->conf.mem_bytes = 64 << 10;
	f->conf.max_bytes = 16 << 20;
	f->s = spool_open(f->base, &f->conf, ready_cb, f);
	append_range(f, 1, 400, 2000);
	run_for(f, 500);
	spool_get_stats(f->s, &st);
	assert_int_equal(st.batches, 400);
	assert_true(st.mem_bytes < 100 << 10);
	assert_int_equal(send_all(f, seqs, 400, 2000), 400);
	for (int i = 0; i < 400; i++)
		assert_int_equal(seqs[i], i + 1);
	spool_get_stats(f->s, &st);
	assert_true(st.mem_bytes < 100 << 10);
	assert_int_equal(st.batches_dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_matches_the_castagnoli_check_value),
	    cmocka_unit_test(test_crc32c_matches_rfc3720_in_any_pieces),
	    cmocka_unit_test_setup_teardown(test_spool_replays_in_order_after_restart, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_ack_deletes_segments_and_seq_continues,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_open_segment_outlives_its_acks,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_full_drops_the_oldest_batches, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_cuts_a_torn_tail_at_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_corrupt_record_costs_only_itself, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_holes_and_a_corrupt_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_record_inside_a_bad_one_is_skipped_whole,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_spool_record_inside_a_damaged_header_costs_no_later_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_a_repeated_record_loses_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_spool_segment_named_past_its_batches_sends_each_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_damaged_header_loses_no_batch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_a_garbage_segment_is_removed_not_fatal,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_unusable_dir_keeps_batches_in_memory, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_write_failure_keeps_batches_in_memory, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_spool_empty_segment_left_by_a_full_disk_costs_no_later_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_after_a_crash_no_seq_is_used_again, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_a_next_file_near_2_64_is_not_believed,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_spool_a_collector_holding_a_seq_near_2_64_is_not_believed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_spool_unreadable_newest_segment_is_set_aside_and_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_a_segment_name_near_2_64_is_left_alone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_spool_owner_check_counts_no_segment_start_up_leaves_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_dropped_batches_never_wait_to_be_sent,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_dir_of_another_agent_is_not_shared, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_older_segments_are_read_while_the_agent_runs,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_long_outage_reads_old_batches_back_from_disk,
					    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
