/*
 * test_recscan.c - reading records back past damage, on a small format of
 * its own: "RC", a length byte, that many payload bytes, and a byte that
 * is the payload's sum. A damaged record in the middle costs only itself,
 * several holes are counted, a torn or corrupt tail ends the good part, a
 * magic inside damaged bytes does not fool it, nor does a whole record
 * inside a damaged one, and the log text says where. The first payload
 * byte is a record's number: it must grow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "recscan.h"

static const uint8_t magic[2] = {'R', 'C'};

static long check(const uint8_t *p, const uint8_t *prev, size_t avail, void *arg, const char **why)
{
	uint8_t sum = 0;
	size_t n;

	(void)arg;
	if (avail < 3) {
		*why = "torn header";
		return 0;
	}
	if (memcmp(p, magic, 2) != 0) {
		*why = "bad magic";
		return -1;
	}
	n = p[2];
	if (avail < 4 + n) {
		*why = "torn record";
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[3 + i]);
	if (sum != p[3 + n]) {
		*why = "bad sum";
		return -1;
	}
	if (n > 0 && prev != NULL && p[3] <= prev[3]) {
		*why = "number does not grow";
		return -1;
	}
	return (long)(4 + n);
}

/* The size a header with the right magic claims, when the buffer holds it. */
static size_t claims(const uint8_t *p, size_t avail, void *arg)
{
	(void)arg;
	if (avail < 3 || memcmp(p, magic, 2) != 0 || avail < 4 + (size_t)p[2])
		return 0;
	return 4 + (size_t)p[2];
}

struct seen {
	size_t n, offs[32];
	uint8_t first[32]; /* each record's first payload byte: its number */
};

static void take(const uint8_t *p, size_t size, size_t off, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 32);
	assert_true(size >= 4);
	s->offs[s->n] = off;
	s->first[s->n++] = p[3];
}

static const struct recscan_ops ops = {magic, sizeof(magic), check, take, claims};

/* n records numbered 1..n, record i with i + 2 payload bytes; a 4-byte banner first. */
static size_t build(uint8_t *b, int n, size_t *offs)
{
	size_t off = 4;

	memcpy(b, "FILE", 4);
	for (int i = 1; i <= n; i++) {
		uint8_t sum = 0, len = (uint8_t)(i + 2);

		offs[i - 1] = off;
		b[off] = 'R';
		b[off + 1] = 'C';
		b[off + 2] = len;
		for (int k = 0; k < len; k++) {
			b[off + 3 + k] = k == 0 ? (uint8_t)i : (uint8_t)(0x40 + k);
			sum = (uint8_t)(sum + b[off + 3 + k]);
		}
		b[off + 3 + len] = sum;
		off += 4 + len;
	}
	return off;
}

static void test_clean_file_reads_whole(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 6, offs);
	struct seen s = {0};
	struct recscan_result r;
	char text[128];

	recscan(b, len, 4, &ops, &s, &r);
	assert_int_equal(s.n, 6);
	assert_int_equal(r.records, 6);
	assert_int_equal(r.end, len);
	assert_null(r.tail_why);
	assert_int_equal(r.holes, 0);
	assert_string_equal(recscan_holes_text(&r, text, sizeof(text)), "");
}

/* r's first hole is [from, to), and recscan_holes_text says so, then `more`. */
static void assert_first_hole(const struct recscan_result *r, size_t from, size_t to,
			      const char *why, const char *more)
{
	char want[200], got[200];

	assert_int_equal(r->hole_from, from);
	assert_int_equal(r->hole_to, to);
	assert_string_equal(r->hole_why, why);
	snprintf(want, sizeof(want), "offsets %zu..%zu (%zu bytes): %s%s", from, to, to - from, why,
		 more);
	assert_string_equal(recscan_holes_text(r, got, sizeof(got)), want);
}

static void test_a_hole_in_the_middle_costs_only_its_record(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 6, offs);
	struct seen s = {0};
	struct recscan_result r;

	b[offs[2] + 4] ^= 0x01; /* record 3's payload */
	recscan(b, len, 4, &ops, &s, &r);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.first[1], 2);
	assert_int_equal(s.first[2], 4);
	assert_int_equal(s.offs[2], offs[3]);
	assert_int_equal(r.end, len);
	assert_null(r.tail_why);
	assert_int_equal(r.holes, 1);
	assert_int_equal(r.hole_bytes, offs[3] - offs[2]);
	assert_first_hole(&r, offs[2], offs[3], "bad sum", "");
}

static void test_a_length_that_runs_past_the_end_in_the_middle_is_a_hole(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 6, offs);
	struct seen s = {0};
	struct recscan_result r;

	b[offs[1] + 2] = 250; /* record 2 says it runs past the end */
	recscan(b, len, 4, &ops, &s, &r);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.first[1], 3);
	assert_int_equal(r.holes, 1);
	assert_string_equal(r.hole_why, "torn record");
	assert_null(r.tail_why);
}

static void test_several_holes_and_damage_at_the_start(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 8, offs);
	struct seen s = {0};
	struct recscan_result r;
	char more[80];

	b[offs[0]] = 'X';        /* record 1's magic */
	b[offs[3] + 5] ^= 0x20;  /* record 4's payload */
	b[offs[4] + 3 + 1] ^= 1; /* and record 5's: one stretch with 4 */
	recscan(b, len, 4, &ops, &s, &r);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.first[0], 2);
	assert_int_equal(s.first[2], 6);
	assert_int_equal(r.holes, 2);
	assert_int_equal(r.hole_bytes, (offs[1] - offs[0]) + (offs[5] - offs[3]));
	/* every byte is in a record or a hole */
	assert_int_equal(r.end, len);
	snprintf(more, sizeof(more), "; 1 more damaged stretches, %zu bytes in all", r.hole_bytes);
	assert_first_hole(&r, offs[0], offs[1], "bad magic", more);
}

static void test_a_torn_tail_ends_the_good_part(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 5, offs);
	struct seen s = {0};
	struct recscan_result r;

	recscan(b, len - 2, 4, &ops, &s, &r);
	assert_int_equal(s.n, 4);
	assert_int_equal(r.end, offs[4]);
	assert_string_equal(r.tail_why, "torn record");
	assert_int_equal(r.holes, 0);
}

/* n records were taken, and the good part ends at `end` with a tail for `why`. */
static void assert_tail(const struct seen *s, const struct recscan_result *r, size_t n, size_t end,
			const char *why)
{
	assert_int_equal(s->n, n);
	assert_int_equal(r->end, end);
	assert_string_equal(r->tail_why, why);
}

static void test_a_corrupt_tail_after_a_hole(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 5, offs);
	struct seen s = {0};
	struct recscan_result r;

	b[offs[1] + 3] ^= 0x08; /* record 2 */
	b[offs[4] + 3] ^= 0x08; /* record 5, the last */
	recscan(b, len, 4, &ops, &s, &r);
	assert_tail(&s, &r, 3, offs[4], "bad sum");
	assert_int_equal(r.holes, 1);
}

static void test_a_magic_inside_damage_is_not_taken(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 4, offs);
	struct seen s = {0};
	struct recscan_result r;

	/* record 2's payload holds "RC" and a length, but no good sum: not a record */
	b[offs[1]] = 'Z';
	b[offs[1] + 4] = 'R';
	b[offs[1] + 5] = 'C';
	recscan(b, len, 4, &ops, &s, &r);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.first[1], 3);
	assert_int_equal(r.hole_to, offs[2]);
}

static void test_nothing_good_at_all(void **state)
{
	uint8_t b[64];
	struct seen s = {0};
	struct recscan_result r;

	memset(b, 'R', sizeof(b));
	recscan(b, sizeof(b), 4, &ops, &s, &r);
	assert_int_equal(s.n, 0);
	assert_int_equal(r.end, 4);
	assert_non_null(r.tail_why);
	recscan(b, 4, 4, &ops, &s, &r);
	assert_int_equal(r.end, 4);
	assert_null(r.tail_why);
}

static void test_a_flood_of_false_record_starts_is_bounded(void **state)
{
	static uint8_t b[64 * 1024];
	size_t offs[4], len = build(b, 2, offs), k;
	struct seen s = {0};
	struct recscan_result r;

	b[offs[1] + 3] ^= 1; /* record 2 is damaged */
	/* then "RC" again and again, each a record start that does not check out */
	for (k = len; k + 2 <= sizeof(b) - 16; k += 2) {
		b[k] = 'R';
		b[k + 1] = 'C';
	}
	len = build(b + k, 1, offs) + k; /* a good record at the very end */
	memcpy(b + k, "RC", 2);          /* (build wrote a banner there first) */
	recscan(b, len, 4, &ops, &s, &r);
	/* checking every start against the rest would read ~1 GB: it gives up */
	assert_int_equal(s.n, 1);
	assert_non_null(r.tail_why);
	assert_non_null(strstr(r.tail_why, "search budget"));
	assert_int_equal(r.holes, 0);
}

/* Record number `num` at b + off, its payload num then body[0..n); returns its end. */
static size_t put_rec(uint8_t *b, size_t off, uint8_t num, const uint8_t *body, size_t n)
{
	uint8_t sum = num;

	b[off] = 'R';
	b[off + 1] = 'C';
	b[off + 2] = (uint8_t)(1 + n);
	b[off + 3] = num;
	memcpy(b + off + 4, body, n);
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + body[i]);
	b[off + 4 + n] = sum;
	return off + 5 + n;
}

/*
 * Records 1..5 where record 2's payload holds a whole record numbered 100
 * (a sender's bytes), `pad` payload bytes after it; record 2's own sum is
 * wrong. offs[i] is record i + 1's offset; returns the length.
 */
static size_t with_record_inside(uint8_t *b, size_t *offs, size_t pad)
{
	uint8_t inner[16] = {0}, body[64] = {0};
	size_t off = 4, n;

	memcpy(b, "FILE", 4);
	n = put_rec(inner, 0, 100, (const uint8_t *)"xyz", 3);
	memcpy(body, "ab", 2);
	memcpy(body + 2, inner, n);
	for (int i = 1; i <= 5; i++) {
		offs[i - 1] = off;
		off = i == 2 ? put_rec(b, off, 2, body, 2 + n + pad)
			     : put_rec(b, off, (uint8_t)i, (const uint8_t *)"pq", 2);
	}
	b[offs[2] - 1] ^= 0x01; /* record 2's sum */
	return off;
}

static void assert_took_1_3_4_5(const struct seen *s, const struct recscan_result *r,
				const size_t *offs, size_t len)
{
	assert_int_equal(s->n, 4);
	assert_int_equal(s->first[0], 1);
	assert_int_equal(s->first[1], 3);
	assert_int_equal(s->first[2], 4);
	assert_int_equal(s->first[3], 5);
	assert_int_equal(r->end, len);
	assert_null(r->tail_why);
	assert_int_equal(r->holes, 1);
	assert_int_equal(r->hole_from, offs[1]);
	assert_int_equal(r->hole_to, offs[2]);
}

static void test_a_record_inside_a_bad_one_is_skipped_at_its_claimed_end(void **state)
{
	uint8_t b[256];
	size_t offs[5], len = with_record_inside(b, offs, 3);
	struct seen s = {0};
	struct recscan_result r;

	recscan(b, len, 4, &ops, &s, &r);
	assert_took_1_3_4_5(&s, &r, offs, len);
}

static void test_a_record_inside_damage_that_breaks_the_order_is_passed_over(void **state)
{
	for (size_t pad = 0; pad <= 3; pad += 3) {
		uint8_t b[256];
		size_t offs[5], len = with_record_inside(b, offs, pad);
		struct seen s = {0};
		struct recscan_result r;

		/* record 2's magic is hit: its length cannot be trusted, it is searched */
		b[offs[1]] = 'X';
		recscan(b, len, 4, &ops, &s, &r);
		/* record 100 ends inside record 2 (pad 3) or right where it does (pad 0) */
		assert_took_1_3_4_5(&s, &r, offs, len);
	}
}

static void test_a_record_inside_a_bad_last_one_is_not_taken(void **state)
{
	uint8_t b[256];
	size_t offs[5];
	struct seen s = {0};
	struct recscan_result r;

	with_record_inside(b, offs, 3); /* cut after record 2: it is the last */
	recscan(b, offs[2], 4, &ops, &s, &r);
	assert_tail(&s, &r, 1, offs[1], "bad sum");
}

static void test_a_good_record_before_another_bad_one_is_kept(void **state)
{
	uint8_t b[512];
	size_t offs[16], len = build(b, 6, offs);
	struct seen s = {0};
	struct recscan_result r;

	b[offs[1]] = 'X';      /* record 2's magic: searched past */
	b[offs[2] + 3] ^= 0x1; /* and record 3's sum: record 2 is not followed by a good one */
	recscan(b, len, 4, &ops, &s, &r);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.first[1], 4);
	assert_int_equal(r.holes, 1);
	assert_int_equal(r.hole_to, offs[3]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_file_reads_whole),
	    cmocka_unit_test(test_a_hole_in_the_middle_costs_only_its_record),
	    cmocka_unit_test(test_a_length_that_runs_past_the_end_in_the_middle_is_a_hole),
	    cmocka_unit_test(test_several_holes_and_damage_at_the_start),
	    cmocka_unit_test(test_a_torn_tail_ends_the_good_part),
	    cmocka_unit_test(test_a_corrupt_tail_after_a_hole),
	    cmocka_unit_test(test_a_magic_inside_damage_is_not_taken),
	    cmocka_unit_test(test_nothing_good_at_all),
	    cmocka_unit_test(test_a_flood_of_false_record_starts_is_bounded),
	    cmocka_unit_test(test_a_record_inside_a_bad_one_is_skipped_at_its_claimed_end),
	    cmocka_unit_test(test_a_record_inside_damage_that_breaks_the_order_is_passed_over),
	    cmocka_unit_test(test_a_record_inside_a_bad_last_one_is_not_taken),
	    cmocka_unit_test(test_a_good_record_before_another_bad_one_is_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
