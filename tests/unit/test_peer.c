/*
 * test_peer.c - the per-address table behind the collector's session limits
 * and peer log lines: lines beyond the bursts are counted, not written, and
 * the table stays bounded while remembering addresses that have sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "log.h"
#include "peer.h"

static void test_one_address_gets_its_burst_per_class(void **state)
{
	struct event_base *base = event_base_new();
	struct peers *t = peers_new(base, 16, PEER_LOG_BURST, 0);
	struct peer *p = peers_get(t, "192.0.2.1");

	for (int i = 0; i < 100; i++)
		peer_log(t, p, PEER_BAD_FRAME, 0, "session 192.0.2.1:%d: bad", i);
	assert_int_equal(peers_suppressed(t), 100 - PEER_LOG_BURST);
	/* another class has its own burst */
	for (int i = 0; i < PEER_LOG_BURST; i++)
		peer_log(t, p, PEER_HELLO, 0, "session 192.0.2.1:%d: refused hello", i);
	assert_int_equal(peers_suppressed(t), 100 - PEER_LOG_BURST);
	peers_free(t);
	event_base_free(base);
}

static void test_many_addresses_share_a_global_burst(void **state)
{
	struct event_base *base = event_base_new();
	struct peers *t = peers_new(base, 64, PEER_LOG_BURST, 0);
	char addr[32];

	for (int a = 0; a < 20; a++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", a);
		for (int i = 0; i < PEER_LOG_BURST; i++)
			peer_log(t, peers_get(t, addr), PEER_SAMPLE, 0, "%s: bad sample", addr);
	}
	assert_int_equal(peers_suppressed(t),
			 20 * PEER_LOG_BURST - PEER_LOG_BURST * PEER_LOG_GLOBAL_TIMES);
	peers_free(t);
	event_base_free(base);
}

static void test_table_is_bounded_and_keeps_busy_addresses(void **state)
{
	struct event_base *base = event_base_new();
	struct peers *t = peers_new(base, 16, PEER_LOG_BURST, 0);
	struct peer *busy = peers_get(t, "198.51.100.1");
	char addr[32];

	busy->nsessions = 1;
	for (int a = 0; a < 1000; a++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", a);
		assert_non_null(peers_get(t, addr));
	}
	/* the busy address kept its entry (and its count) through 1000 others */
	assert_ptr_equal(peers_get(t, "198.51.100.1"), busy);
	assert_int_equal(busy->nsessions, 1);
	busy->nsessions = 0;
	peers_free(t);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_address_gets_its_burst_per_class),
	    cmocka_unit_test(test_many_addresses_share_a_global_burst),
	    cmocka_unit_test(test_table_is_bounded_and_keeps_busy_addresses),
	};

	log_init("test_peer", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
